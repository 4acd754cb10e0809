"""Authenticator app setup, backup codes, and their hooks into the step-up engine."""

import datetime as dt
import io
import re
from urllib.parse import quote

import click
import segno
from flask import current_app, redirect, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from markupsafe import Markup

from .. import audit
from ..auth.session import sign_out_other_sessions
from ..db import atomic_write
from ..extensions import db
from ..forms import EmptyForm
from ..models import PendingTotp, User, utcnow
from ..profile.routes import refuse_while_impersonating
from ..security import N_, backup_codes, crypto, stepup, totp
from ..verify.engine import AFTER, APPLIERS, CODE_CHECKS, on_lock, policy
from ..verify.routes import finish_in_page, message_modal, open_modal
from ..web import fragment, is_htmx, notify, page_or_fragment, trigger
from . import bp
from .forms import SetupCodeForm

PENDING_SECONDS = 15 * 60


# --- keys ----------------------------------------------------------------------------------------


@bp.record_once
def _load_keys(state):
    """Build the secret-encryption keys at startup, so bad or missing keys stop the app early."""
    config = state.app.config
    state.app.extensions["totp_cipher"] = crypto.cipher(
        config.get("TOTP_ENCRYPTION_KEYS", ""), config["SECRET_KEY"],
        production=config.get("ENV_NAME") == "production")


def cipher():
    return current_app.extensions["totp_cipher"]


def backup_key() -> bytes:
    return crypto.derive_key(current_app.config["SECRET_KEY"], crypto.BACKUP_INFO)


def user_secret(user: User) -> str | None:
    return crypto.decrypt(cipher(), user.totp_secret) if user.totp_secret else None


# --- the engine's checks and effects -----------------------------------------------------------


def check_totp(user: User, raw_code, now) -> bool:
    """CODE_CHECKS['totp']: the current code (±1 step), never one already used."""
    ok, reason = totp.check(user, raw_code, now, user_secret(user) if user.totp_enabled else None)
    if reason == "replay":
        audit.record("totp.replay_refused", subject=user, actor=user, outcome="refused",
                     channel="totp")
    return ok


def check_backup(user: User, raw_code, now) -> bool:
    """CODE_CHECKS['backup']: an unused backup code, consumed by this request only."""
    if not backup_codes.consume(user, backup_key(), raw_code, now):
        return False
    left = backup_codes.unused(user)
    audit.record("backup_code.used", subject=user, actor=user, channel="backup", left=left)
    notify(user, "A backup code was used on your Aesthetix CRM account",
           "email/backup_code_used.txt", left=left, low=left <= backup_codes.LOW)
    return True


def _apply_regenerate(c, subject: User, now) -> dict:
    if subject.totp_enabled_at is None:
        raise stepup.Conflict(N_("The authenticator app is off, so there are no backup codes "
                                 "to replace."))
    codes = backup_codes.replace_all(subject, backup_key(), now)
    audit.record("backup_codes.regenerated", subject=subject, actor=c.actor_id, channel=c.channel)
    return {"codes": codes}


def _apply_disable(c, subject: User, now) -> dict:
    updated = (User.update(totp_secret=None, totp_enabled_at=None, totp_last_step=0)
               .where((User.id == subject.id) & User.totp_enabled_at.is_null(False))
               .execute())
    if updated != 1:
        raise stepup.Conflict(N_("The authenticator app is already off."))
    backup_codes.remove_all(subject)
    PendingTotp.delete().where(PendingTotp.user == subject.id).execute()
    audit.record("totp.disabled", subject=subject, actor=c.actor_id, channel=c.channel)
    subject.totp_secret = subject.totp_enabled_at = None
    return {}


def _after_regenerate(v: stepup.Verified):
    sign_out_other_sessions(v.subject)
    notify(v.subject, gettext("New backup codes for your Aesthetix CRM account"),
           "email/backup_codes_regenerated.txt")
    return show_codes(v.result["codes"], title=gettext("Your new backup codes"),
                      intro=gettext("Your old backup codes no longer work."))


def _after_disable(v: stepup.Verified):
    sign_out_other_sessions(v.subject)
    notify(v.subject, gettext("Authenticator app removed from your Aesthetix CRM account"),
           "email/totp_disabled.txt")
    return finish_in_page(gettext("Authenticator app removed. Your backup codes no longer work."),
                          refresh="twofactorChanged", back=url_for("profile.show"))


CODE_CHECKS.update({"totp": check_totp, "backup": check_backup})
APPLIERS.update({"regenerate_backup_codes": _apply_regenerate, "disable_totp": _apply_disable})
AFTER.update({"regenerate_backup_codes": _after_regenerate, "disable_totp": _after_disable})


# --- rendering ----------------------------------------------------------------------------------


def qr_svg(uri: str) -> Markup:
    """The otpauth URI as an inline SVG (#totp-qr) with a title; attributes only, no style."""
    qr = segno.make(uri, error="m")
    out = io.BytesIO()
    qr.save(out, kind="svg", xmldecl=False, svgns=True, svgid="totp-qr", svgclass="qr",
            scale=5, border=4, dark="#000", light="#fff", nl=False,
            title=gettext("QR code to add Aesthetix CRM to your authenticator app"))
    svg = out.getvalue().decode()
    svg = re.sub(r'\sstyle="[^"]*"', "", svg)  # the CSP allows no inline style
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704 - segno's output  # nosec B704


def codes_file(user: User, codes: list[str]) -> str:
    lines = [gettext("Aesthetix CRM backup codes for %(email)s", email=user.email),
             gettext("Each code works once. Store them somewhere safe."), ""]
    lines += [f"{n}. {code}" for n, code in enumerate(codes, start=1)]
    return "data:text/plain;charset=utf-8," + quote("\n".join(lines) + "\n")


def show_codes(codes: list[str], *, title: str, intro: str | None = None):
    """The codes, once: never cached, never stored in a form that could show them again."""
    request.no_store = True
    user = current_user._get_current_object()
    response = page_or_fragment("twofactor/codes.html", "partials/twofactor/codes.html",
                                codes=codes, title=title, intro=intro,
                                download=codes_file(user, codes))
    return trigger(response, twofactorChanged=True)


def section_context(user: User) -> dict:
    return {"user": user, "form": EmptyForm(),
            "backup_left": backup_codes.unused(user) if user.totp_enabled else 0}


def _setup_response(user: User, pending: PendingTotp, form, *, error=None, status=200,
                    first=False):
    secret = crypto.decrypt(cipher(), pending.secret)
    context = {
        "user": user,
        "form": form,
        "error": error,
        "qr": qr_svg(totp.provisioning_uri(secret, user.email)),
        "secret": totp.grouped(secret),
        "issuer": totp.ISSUER,
        "minutes": PENDING_SECONDS // 60,
    }
    if first and is_htmx():
        response = fragment("partials/twofactor/setup_modal.html", status, **context)
        response.headers["HX-Retarget"] = "#modal"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return page_or_fragment("twofactor/setup.html", "partials/twofactor/setup.html", status,
                            **context)


# --- routes --------------------------------------------------------------------------------------


@bp.before_request
@login_required
def _signed_in():
    """Every two-factor route needs a signed-in user."""


@bp.get("")
def section():
    """The Two-factor section of My Profile alone (refreshed after a change)."""
    if not is_htmx():
        return redirect(url_for("profile.show", _anchor="two-factor"))
    return fragment("partials/profile/twofactor.html",
                    **section_context(current_user._get_current_object()))


def _setup_user():
    """(the signed-in user, None) when they may set up the app, else (user, the answer why not).

    :raise 403: while signed in as another person.
    """
    refuse_while_impersonating("set up an authenticator app")
    request.no_store = True  # the page shows a secret
    user = current_user._get_current_object()
    return user, _cannot_start(user)


def _cannot_start(user: User):
    back = url_for("profile.show")
    if user.totp_enabled:
        return message_modal(N_("Authenticator app already on"),
                             gettext("An authenticator app is already set up. To move to a new "
                                     "phone, remove it first, then set it up again."),
                             409, back=back)
    if not user.email_verified:
        return message_modal(N_("Verify your email first"),
                             gettext("Verify your email address before you set up an "
                                     "authenticator app, so we can tell you about changes to "
                                     "your sign-in."), 409,
                             back=back)
    return None


def _start_pending(user: User, now) -> PendingTotp:
    """A new secret for this browser's session; any earlier pending setup stops working."""
    with atomic_write():
        PendingTotp.delete().where(PendingTotp.user == user.id).execute()
        return PendingTotp.create(
            user=user.id, session=user.session_row.id,
            secret=crypto.encrypt(cipher(), totp.new_secret()),
            expires_at=now + dt.timedelta(seconds=PENDING_SECONDS), created_at=now)


@bp.get("/setup")
def setup():
    """QR code, setup key and the code form; each visit starts with a new secret.

    :raise 403: while signed in as another person.
    """
    user, refused = _setup_user()
    if refused:
        return refused
    pending = _start_pending(user, utcnow())
    return _setup_response(user, pending, SetupCodeForm(formdata=None), first=True)


class _Raced(Exception):
    """Another request finished this setup first."""


@bp.post("/setup")
def confirm():
    """Check the first code; on success turn the app on and show the backup codes once.

    :raise 403: while signed in as another person.
    """
    user, refused = _setup_user()
    if refused:
        return refused
    now = utcnow()
    form = SetupCodeForm()
    pending = (PendingTotp.select()
               .where((PendingTotp.user == user.id)
                      & (PendingTotp.session == user.session_row.id)
                      & (PendingTotp.expires_at > now))
               .first())
    if pending is None:
        pending = _start_pending(user, now)
        return _setup_response(user, pending, form, status=409,
                               error=gettext("This setup expired or was restarted elsewhere. "
                                             "Add the new key below to your app (remove the old "
                                             "entry), then enter its code."))
    if not form.validate_on_submit():
        return _setup_response(user, pending, form, status=422,
                               error=gettext("Enter the 6-digit code from your app."))
    pol = policy()
    until = stepup.method_locked_until(user, "totp", now)
    if until:
        return _setup_response(user, pending, form, status=429,
                               error=stepup._lock_message(until, now, gettext))
    secret = crypto.decrypt(cipher(), pending.secret)
    code = totp.normalise(form.code.data)
    step = totp.matching_step(secret, code, now) if code and secret else None
    if step is None:
        audit.record("challenge.failed", subject=user, outcome="failed", channel="totp",
                     purpose="enable_totp", reason="wrong_code")
        _, just_locked = stepup.record_failure(user, "totp", now=now, policy=pol)
        if just_locked:
            on_lock(user, "totp")
            until = now + dt.timedelta(seconds=pol.user_lock)
            return _setup_response(user, pending, form, status=429,
                                   error=stepup._lock_message(until, now, gettext))
        message = (gettext("Enter the 6 digits your app shows, like 123 456.") if code is None
                   else gettext("That code isn't right. Check that your phone sets its time "
                                "automatically, then enter the code your app shows now."))
        return _setup_response(user, pending, form, status=422, error=message)
    try:
        with atomic_write():
            # The confirming code counts as used: it can't sign in later in the same step.
            enabled = (User.update(totp_secret=pending.secret, totp_enabled_at=now,
                                   totp_last_step=step)
                       .where((User.id == user.id) & User.totp_enabled_at.is_null())
                       .execute())
            claimed = PendingTotp.delete().where(PendingTotp.id == pending.id).execute()
            if enabled != 1 or claimed != 1:
                raise _Raced
            codes = backup_codes.replace_all(user, backup_key(), now)
            audit.record("totp.enabled", subject=user, channel="totp")
    except _Raced:
        return message_modal(N_("Authenticator app already on"),
                             gettext("This setup was already finished."), 409,
                             back=url_for("profile.show"))
    user.totp_secret, user.totp_enabled_at, user.totp_last_step = pending.secret, now, step
    sign_out_other_sessions(user)  # a new factor: other browsers sign in again with it
    notify(user, gettext("Authenticator app added to your Aesthetix CRM account"),
           "email/totp_enabled.txt")
    return show_codes(codes, title=gettext("Save your backup codes"),
                      intro=gettext("Authenticator app is on. Next time you sign in, choose "
                                    "“Use Authenticator App”."))


def _step_up(purpose: str):
    user = current_user._get_current_object()
    back = url_for("profile.show")
    if not user.totp_enabled:
        return message_modal(N_("Authenticator app is off"),
                             gettext("There is no authenticator app on this account."), 409,
                             back=back)
    try:
        c = stepup.start(user, user, purpose, {}, now=utcnow(), policy=policy())
    except stepup.NoChannel as exc:
        return message_modal(N_("No way to verify"), exc.text(gettext), 409, back=back)
    audit.record("challenge.started", subject=user, purpose=purpose)
    return open_modal(c)


@bp.post("/backup-codes")
def regenerate():
    """Replace every backup code, after verifying it's you.

    :raise 403: while signed in as another person.
    """
    refuse_while_impersonating("create new backup codes")
    return _step_up("regenerate_backup_codes")


@bp.post("/remove")
def remove():
    """Turn the authenticator app off, after verifying it's you.

    :raise 403: while signed in as another person.
    """
    refuse_while_impersonating("remove the authenticator app")
    return _step_up("disable_totp")


# --- key rotation ---------------------------------------------------------------------------------


@bp.cli.command("rotate-keys")
def rotate_keys():
    """Re-encrypt every stored authenticator secret with the first TOTP_ENCRYPTION_KEYS key."""
    box = cipher()
    count = 0
    with db.connection_context(), atomic_write():
        for row in User.select(User.id, User.totp_secret).where(User.totp_secret.is_null(False)):
            User.update(totp_secret=crypto.rotate(box, row.totp_secret)).where(
                User.id == row.id).execute()
            count += 1
        for row in PendingTotp.select(PendingTotp.id, PendingTotp.secret):
            PendingTotp.update(secret=crypto.rotate(box, row.secret)).where(
                PendingTotp.id == row.id).execute()
    click.echo(f"Re-encrypted {count} authenticator secret(s) with the newest key.")
