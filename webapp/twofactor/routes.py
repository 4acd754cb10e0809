"""Settings > My Profile > Two-factor authentication: authenticator app and backup codes.

Adding an authenticator is a step-up action: "Choose how to verify" with the account's
trusted channels comes first, and the QR code exists only after it (or within this
session's "recently verified" window).
"""

import click
from flask import redirect, render_template, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user, login_required

from .. import audit
from ..auth import remember
from ..auth.session import sign_out_other_sessions
from ..db import atomic_write
from ..extensions import db
from ..forms import EmptyForm
from ..models import PendingTotp, User, utcnow
from ..security import N_, backup_codes, crypto, stepup, totp
from ..verify import engine
from ..verify.responses import message_modal, refreshes, start_modal, to_modal
from ..web import (
    card_or_fragment,
    fragment,
    is_htmx,
    notify,
    notify_phone,
    refuse_while_impersonating,
)
from . import bp
from .effects import (
    backup_key,
    cipher,
    pending_for,
    setup_response,
    show_codes,
    start_pending,
)
from .forms import SetupCodeForm


@bp.before_request
@login_required
def _signed_in():
    """Every two-factor route needs a signed-in user."""


def section_context(user: User) -> dict:
    return {"user": user, "form": EmptyForm(),
            "backup_left": backup_codes.unused(user) if user.totp_enabled else 0}


@refreshes("profile.show", "twofactorChanged")
def refreshed_section() -> str:
    """The Two-factor section for an out-of-band swap, from the user's row as it is now."""
    return render_template("partials/profile/twofactor.html", oob=True,
                           **section_context(User.get_by_id(current_user.id)))


@bp.get("")
def section():
    """The Two-factor section of My Profile alone (for htmx; otherwise the profile)."""
    if not is_htmx():
        return redirect(url_for("profile.show", _anchor="two-factor"))
    return fragment("partials/profile/twofactor.html",
                    **section_context(current_user._get_current_object()))


def _setup_user():
    """(the signed-in user, None) when they may add an app, else (user, the answer why not).

    :raise 403: while signed in as another person.
    """
    refuse_while_impersonating("setup_totp")
    user = current_user._get_current_object()
    return user, _cannot_start(user)


def _cannot_start(user: User):
    """Why this account may not add an app now (an answer), or None."""
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


@bp.get("/setup")
def setup():
    """The setup opened after the step-up (QR, key, code form), or the way to start it.

    Never writes: the secret is made by the verified step-up (or `begin` while recently
    verified).

    :raise 403: while signed in as another person.
    """
    user, refused = _setup_user()
    if refused:
        return refused
    pending = pending_for(user, utcnow())
    if pending is None:
        return card_or_fragment("partials/twofactor/start.html",
                                page_title=gettext("Set up an authenticator app"),
                                labelled_by="totp-setup-title", user=user, form=EmptyForm())
    return setup_response(user, pending)


@bp.post("/setup/start")
def begin():
    """"Setup": verify it's you with a trusted channel, then the QR code.

    Inside this session's "recently verified" window the QR code comes at once.

    :raise 403: while signed in as another person.
    """
    user, refused = _setup_user()
    if refused:
        return refused
    if engine.recently_verified():
        pending = start_pending(user, utcnow())
        if not is_htmx():
            return redirect(url_for("twofactor.setup"), 303)
        return setup_response(user, pending, first=True)
    return start_modal(user, user, "enable_totp", {}, back=url_for("profile.show"))


class _Raced(Exception):
    """Another request finished this setup first."""


@bp.post("/setup")
def confirm():
    """Check the first code; on success turn the app on and show the backup codes once.

    :raise 403: while signed in as another person.
    """
    # The code form answers in place (a wrong code, then the backup codes); a refusal
    # replaces the modal instead (to_modal).
    user, refused = _setup_user()
    if refused:
        return to_modal(refused)
    now = utcnow()
    form = SetupCodeForm()
    pending = pending_for(user, now)
    if pending is None:
        # Only a verified step-up makes a secret: without one (or after it expired), back
        # to the start.
        if not engine.recently_verified():
            return to_modal(message_modal(
                N_("Start the setup again"),
                gettext("This setup expired or was started elsewhere. Choose Setup again and "
                        "verify it's you."), 409, back=url_for("twofactor.setup")))
        pending = start_pending(user, now)
        return setup_response(user, pending, form, status=409,
                              error=gettext("This setup expired or was restarted elsewhere. "
                                            "Add the new key below to your app (remove the old "
                                            "entry), then enter its code."))
    if not form.validate_on_submit():
        return setup_response(user, pending, form, status=422,
                              error=gettext("Enter the 6-digit code from your app."))
    secret = crypto.decrypt(cipher(), pending.secret)
    code = totp.normalise(form.code.data)
    step = None

    def compare() -> bool:
        nonlocal step
        step = totp.matching_step(secret, code, now) if code and secret else None
        return step is not None

    try:
        ok = stepup.checked(user, "totp", compare, now=now, policy=engine.policy(),
                            on_lock=engine.on_lock)
    except stepup.Locked as exc:
        return setup_response(user, pending, form, status=429, error=exc.text(gettext, ngettext))
    if not ok:
        audit.record("challenge.failed", subject=user, outcome="failed", channel="totp",
                     purpose="enable_totp", reason="wrong_code")
        message = (gettext("Enter the 6 digits your app shows, like 123 456.") if code is None
                   else gettext("That code isn't right. Check that your phone sets its time "
                                "automatically, then enter the code your app shows now."))
        return setup_response(user, pending, form, status=422, error=message)
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
            stepup.close_others(user.id, now)
            remember.forget_all(user, "factor")  # a new factor: remembered browsers ask again
            audit.record("totp.enabled", subject=user, channel="totp")
            # A new way to sign in is told to every channel the account trusts; the notices
            # commit with the change (the delivery table).
            notify(user, gettext("Authenticator app added to your Aesthetix CRM account"),
                   "email/totp_enabled.txt", change={"kind": "totp_added"})
            notify_phone(user, gettext("Aesthetix CRM: an authenticator app was added to your "
                                       "account. Not you? Change your password now."))
    except _Raced:
        return to_modal(message_modal(N_("Authenticator app already on"),
                                      gettext("This setup was already finished."), 409,
                                      back=url_for("profile.show")))
    user.totp_secret, user.totp_enabled_at, user.totp_last_step = pending.secret, now, step
    sign_out_other_sessions(user)  # a new factor: other browsers sign in again with it
    return show_codes(codes, title=gettext("Save your backup codes"),
                      intro=gettext("Authenticator app is on. Next time you sign in, choose "
                                    "“Use Authenticator App”."))


def _step_up(purpose: str):
    user = current_user._get_current_object()
    if not user.totp_enabled:
        return message_modal(N_("Authenticator app is off"),
                             gettext("There is no authenticator app on this account."), 409,
                             back=url_for("profile.show"))
    return start_modal(user, user, purpose, {}, back=url_for("profile.show"),
                       no_channel_title=N_("No way to verify"))


@bp.post("/backup-codes")
def regenerate():
    """Replace every backup code, after verifying it's you.

    :raise 403: while signed in as another person.
    """
    refuse_while_impersonating("regenerate_backup_codes")
    return _step_up("regenerate_backup_codes")


@bp.post("/remove")
def remove():
    """Turn the authenticator app off, after verifying it's you.

    :raise 403: while signed in as another person.
    """
    refuse_while_impersonating("remove_totp")
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
