"""The authenticator app and backup codes in the step-up engine: code checks, the effects of
the verifications that add, replace or remove them, and the pages those effects show."""

import datetime as dt
import io
import re
from urllib.parse import quote

import segno
from flask import current_app, redirect, request, url_for
from flask_babel import gettext
from flask_login import current_user
from markupsafe import Markup

from .. import audit
from ..auth import remember
from ..auth.session import sign_out_other_sessions
from ..db import atomic_write
from ..models import PendingTotp, User, utcnow
from ..security import N_, backup_codes, crypto, stepup, totp, totp_store
from ..verify.responses import finish_in_page, to_modal, with_section
from ..web import card_or_fragment, fragment, is_htmx, notify, notify_phone
from .forms import SetupCodeForm

# --- keys ----------------------------------------------------------------------------------------


def load_keys(app) -> None:
    """Build the secret-encryption keys at startup, so bad or missing keys stop the app early."""
    config = app.config
    app.extensions["totp_cipher"] = crypto.cipher(
        config.get("TOTP_ENCRYPTION_KEYS", ""), config["SECRET_KEY"],
        production=config.get("ENV_NAME") == "production")


def cipher():
    return current_app.extensions["totp_cipher"]


def backup_key() -> bytes:
    return crypto.derive_key(current_app.config["SECRET_KEY"], crypto.BACKUP_INFO)


def user_secret(user: User) -> str | None:
    return crypto.decrypt(cipher(), user.totp_secret) if user.totp_secret else None


# --- the engine's checks ------------------------------------------------------------------------


def check_totp(user: User, raw_code, now) -> tuple[bool, str]:
    """The current code (±1 step), never one already used: (matched, "ok"/"wrong"/"used")."""
    ok, reason = totp_store.check(user, raw_code, now,
                                  user_secret(user) if user.totp_enabled else None)
    if reason == "replay":
        audit.record("totp.replay_refused", subject=user, actor=user, outcome="refused",
                     channel="totp")
        return False, "used"
    return ok, "ok" if ok else "wrong"


def check_backup(user: User, raw_code, now) -> tuple[bool, str]:
    """An unused backup code, consumed by this request only: (matched, "ok"/"wrong"/"used")."""
    key = backup_key()
    if not backup_codes.consume(user, key, raw_code, now):
        # Saying a code was used reveals nothing a guesser could use: only its holder knows it.
        return False, "used" if backup_codes.was_used(user, key, raw_code) else "wrong"
    left = backup_codes.unused(user)
    audit.record("backup_code.used", subject=user, actor=user, channel="backup", left=left)
    notify(user, gettext("A backup code was used on your Aesthetix CRM account"),
           "email/backup_code_used.txt", left=left, low=left <= backup_codes.LOW)
    return True, "ok"


CHECKS = {"totp": check_totp, "backup": check_backup}


# --- effects -------------------------------------------------------------------------------------


def apply_regenerate(c, subject: User, now) -> dict:
    if subject.totp_enabled_at is None:
        raise stepup.Conflict(N_("The authenticator app is off, so there are no backup codes "
                                 "to replace."))
    codes = backup_codes.replace_all(subject, backup_key(), now)
    stepup.close_others(subject.id, now, keep=c.id)
    remember.forget_all(subject, "factor")
    audit.record("backup_codes.regenerated", subject=subject, actor=c.actor_id, channel=c.channel)
    notify(subject, gettext("New backup codes for your Aesthetix CRM account"),
           "email/backup_codes_regenerated.txt",
           change={"kind": "backup_codes"})  # commits with the change
    return {"codes": codes}


def remove_factor(subject: User, now) -> tuple[bool, int]:
    """Turn the authenticator off, drop its backup codes and pending setups (one place).

    Returns (whether an app was on, how many backup codes were removed).
    """
    updated = (User.update(totp_secret=None, totp_enabled_at=None, totp_last_step=0)
               .where((User.id == subject.id) & User.totp_secret.is_null(False))
               .execute())
    removed = backup_codes.remove_all(subject)
    PendingTotp.delete().where(PendingTotp.user == subject.id).execute()
    stepup.close_others(subject.id, now)
    remember.forget_all(subject, "factor")  # remembered browsers sign in with a code again
    subject.totp_secret = subject.totp_enabled_at = None
    return updated == 1, removed


def apply_disable(c, subject: User, now) -> dict:
    if subject.totp_enabled_at is None or not remove_factor(subject, now)[0]:
        raise stepup.Conflict(N_("The authenticator app is already off."))
    audit.record("totp.disabled", subject=subject, actor=c.actor_id, channel=c.channel)
    # Both notices commit with the change (the delivery table).
    notify(subject, gettext("Authenticator app removed from your Aesthetix CRM account"),
           "email/totp_disabled.txt", change={"kind": "totp_removed"})
    notify_phone(subject, gettext("Aesthetix CRM: an authenticator app was removed from your "
                                  "account. Not you? Change your password now."))
    return {}


def apply_enable(c, subject: User, now) -> dict:
    """The step-up before adding an app: nothing changes yet; the setup page follows."""
    if subject.totp_enabled:
        raise stepup.Conflict(N_("An authenticator app is already set up."))
    return {}


def after_regenerate(v: stepup.Verified):
    sign_out_other_sessions(v.subject)
    return show_codes(v.result["codes"], title=gettext("Your new backup codes"),
                      intro=gettext("Your old backup codes no longer work."))


def after_disable(v: stepup.Verified):
    sign_out_other_sessions(v.subject)
    return finish_in_page(gettext("Authenticator app removed. Your backup codes no longer work."),
                          refresh="twofactorChanged", back=url_for("profile.show"))


def after_enable(v: stepup.Verified):
    """Verified: the QR code and setup key for this session, shown only now."""
    user = current_user._get_current_object()
    pending = start_pending(user, utcnow())
    if not is_htmx():
        return redirect(url_for("twofactor.setup"), 303)
    # The code form's wrong-code answers stay in the step; this one replaces the modal.
    return to_modal(setup_response(user, pending, first=True))


# --- pending setup and its pages ------------------------------------------------------------------


def setup_seconds() -> int:
    return current_app.config["TOTP_SETUP_SECONDS"]


def start_pending(user: User, now) -> PendingTotp:
    """A new secret for this browser's session; any earlier pending setup stops working."""
    with atomic_write():
        PendingTotp.delete().where(PendingTotp.user == user.id).execute()
        return PendingTotp.create(
            user=user.id, session=user.session_row.id,
            secret=crypto.encrypt(cipher(), totp.new_secret()),
            expires_at=now + dt.timedelta(seconds=setup_seconds()), created_at=now)


def pending_for(user: User, now) -> PendingTotp | None:
    """The setup this session started after its step-up, if it is still open."""
    return (PendingTotp.select()
            .where((PendingTotp.user == user.id)
                   & (PendingTotp.session == user.session_row.id)
                   & (PendingTotp.expires_at > now))
            .first())


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


def setup_response(user: User, pending: PendingTotp, form=None, *, error=None, status=200,
                   first=False):
    """The QR code, the setup key and the code form: the modal after the step-up, or the page."""
    request.no_store = True  # the page shows a secret
    secret = crypto.decrypt(cipher(), pending.secret)
    uri = totp.provisioning_uri(secret, user.email)
    context = {
        "user": user,
        "form": form or SetupCodeForm(formdata=None),
        "error": error,
        "qr": qr_svg(uri),
        "otpauth_uri": uri,  # the QR's content as a link, for setting up on this very phone
        "secret": totp.grouped(secret),
        "issuer": totp.ISSUER,
        "minutes": setup_seconds() // 60,
    }
    if first and is_htmx():
        return fragment("partials/twofactor/setup_modal.html", status, **context)
    return card_or_fragment("partials/twofactor/setup.html", status,
                            page_title=gettext("Set up an authenticator app"),
                            labelled_by="totp-setup-title", **context)


def codes_file(user: User, codes: list[str]) -> str:
    lines = [gettext("Aesthetix CRM backup codes for %(email)s", email=user.email),
             gettext("Each code works once. Store them somewhere safe."), ""]
    lines += [f"{n}. {code}" for n, code in enumerate(codes, start=1)]
    return "data:text/plain;charset=utf-8," + quote("\n".join(lines) + "\n")


def show_codes(codes: list[str], *, title: str, intro: str | None = None):
    """The codes, once: never cached, never stored in a form that could show them again.

    For htmx the Two-factor section of the profile comes along, swapped out of band.
    """
    request.no_store = True
    user = current_user._get_current_object()
    response = card_or_fragment("partials/twofactor/codes.html", page_title=title,
                                labelled_by="backup-codes-title", title=title, codes=codes,
                                intro=intro,
                                download=codes_file(user, codes))
    return with_section(response, "twofactorChanged", url_for("profile.show"))
