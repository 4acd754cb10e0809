"""Settings > My Profile: personal data, password, two-factor."""

import datetime as dt

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from markupsafe import Markup

from .. import audit
from ..auth import remember
from ..auth.session import rotate_sessions, sign_out_other_sessions
from ..db import atomic_write
from ..forms import EmptyForm
from ..hotpath import LazyForm
from ..models import Membership, User, UserSession, utcnow
from ..passkeys.effects import section_html as passkeys_section
from ..prebuilt import Prebuilt
from ..security import N_, backup_codes, passwords
from ..throttle import reserve
from ..verify.responses import begin_change, refreshes, start_modal, with_section
from ..web import (
    done,
    is_htmx,
    notify,
    own_seat,
    page_or_fragment,
    refuse_while_impersonating,
    tell,
    trigger,
)
from . import bp
from .forms import PasswordForm, ProfileForm


@bp.before_request
@login_required
def _signed_in():
    """Every profile route needs a signed-in user."""


def may_edit_own_profile(user) -> bool:
    membership = (own_seat() if user.id == current_user.id
                  else Membership.first_of(user.id).first())
    return membership is None or membership.can_edit_own_profile


def _context(user=None, **kw):
    user = user or current_user._get_current_object()
    ctx = {
        "user": user,
        # Display-only forms are built when a template reads them (a fragment renders one).
        "profile_form": kw.pop("profile_form", None) or LazyForm(lambda: ProfileForm(
            formdata=None, name=user.name, email=user.email, phone=user.phone or "")),
        "password_form": kw.pop("password_form", None) or LazyForm(
            lambda: PasswordForm(formdata=None)),
        "form": LazyForm(EmptyForm),
        "can_edit": may_edit_own_profile(user),
        "backup_left": backup_codes.unused(user) if user.totp_enabled else 0,
        # Called by the page only, so fragments don't pay for the query.
        "sessions": lambda: active_sessions(user),
        "passkeys_section": lambda: Markup(passkeys_section(user)),  # noqa: S704  # nosec B704
        "passkey_script": True,
        "remembered": lambda: remember.listed(user),
        "this_browser": lambda: remember.current_row_ids(user),
    }
    ctx.update(kw)
    return ctx


@bp.get("", endpoint="show")
@bp.get("/personal", endpoint="personal")
def show():
    """My Profile page; for htmx the Personal Data section alone."""
    return page_or_fragment("profile/show.html", "partials/profile/personal.html", **_context())


@refreshes("profile.show", "profileChanged")
def refreshed_personal() -> str:
    """Personal Data for an out-of-band swap, from the user's row as the change left it."""
    return render_template("partials/profile/personal.html", oob=True,
                           **_context(User.get_by_id(current_user.id)))


def change_opened(response, save_name, back: str):
    """The verification (or why not) for a new phone or email, with what the form left behind.

    A new name is saved with it only when the verification opened: a refusal (no channel,
    daily limit) writes nothing. A saved name says so. The section under the modal comes back
    as saved (out of band): after Cancel, Esc or Close the form no longer shows a number that
    was never saved; a verified change refreshes it again.
    """
    if save_name is not None and response.status_code < 400:
        save_name()
        tell(response, gettext("Name saved."))
    return with_section(response, "profileChanged", back)


def _section_errors(form):
    return page_or_fragment("profile/show.html", "partials/profile/personal.html", 422,
                            **_context(profile_form=form))


@bp.post("")
def update():
    """Save the name; a new phone or email starts the step-up verification instead."""
    refuse_while_impersonating("change_profile")
    user = current_user._get_current_object()
    if not may_edit_own_profile(user):
        abort(403, description=gettext("Your profile can only be changed by your account owner."))
    form = ProfileForm()
    if not form.validate_on_submit():
        return _section_errors(form)
    new_email, new_phone = form.email.normalised, form.phone.normalised
    email_changed, phone_changed = new_email != user.email, new_phone != user.phone
    if email_changed and phone_changed:
        form.phone.errors = [gettext("Change your email and your phone one at a time.")]
        return _section_errors(form)
    name = (form.name.data or "").strip()

    def save_name():
        User.update(name=name).where(User.id == user.id).execute()
        user.name = name

    back = url_for("profile.show")
    if phone_changed or email_changed:
        # Whether the address is registered is never said here (no account oracle): a
        # clash is refused when the verified change is applied (verify/effects.py).
        purpose, payload = (("change_phone", {"phone": new_phone}) if phone_changed
                            else ("change_email", {"email": new_email}))
        response = begin_change(user, user, purpose, payload, back=back)
        return change_opened(response, save_name if name != user.name else None, back)
    if name != user.name:
        save_name()
    if not is_htmx():
        flash(gettext("Profile saved."), "success")
        return redirect(back, 303)
    response = page_or_fragment("profile/show.html", "partials/profile/personal.html",
                                **_context())
    return trigger(response, toast={"message": gettext("Profile saved."), "level": "success"})


def _verify_own(purpose: str, payload: dict):
    return start_modal(current_user._get_current_object(), current_user._get_current_object(),
                       purpose, payload, back=url_for("profile.show"),
                       no_channel_title=N_("Nothing to verify"))


@bp.post("/verify-email")
def verify_email():
    """Send a code to the account's own email address to prove it."""
    refuse_while_impersonating("verify_email")
    return _verify_own("verify_email", {"email": current_user.email})


@bp.post("/verify-phone")
def verify_phone():
    """Send a code to the account's own phone to prove it."""
    refuse_while_impersonating("verify_phone")
    if not current_user.phone:
        abort(400, description=gettext("Add a phone number first."))
    return _verify_own("verify_phone", {"phone": current_user.phone})


def _active_sessions_query(user_id: int, now):
    return (UserSession.select()
            .where((UserSession.user == user_id)
                   & UserSession.revoked_at.is_null()
                   & (UserSession.expires_at > now))
            .order_by(UserSession.id.desc())
            .limit(20))


_ACTIVE_SESSIONS = Prebuilt(_active_sessions_query, (int, dt.datetime), models=(UserSession,))


def active_sessions(user) -> list:
    """The user's live sessions, newest first (the page's Signed-in devices)."""
    return _ACTIVE_SESSIONS.all(user.id, utcnow())


@bp.post("/sessions/sign-out-others")
def sign_out_others():
    """Sign out every other browser signed in to this account."""
    refuse_while_impersonating("sign_out_devices")
    user = current_user._get_current_object()
    count = sign_out_other_sessions(user)
    audit.record("sessions.revoked", subject=user, count=count)
    message = (gettext("Signed out %(count)s other device(s).", count=count) if count
               else gettext("No other devices to sign out."))
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("profile.show"), 303)
    response = page_or_fragment("profile/show.html", "partials/profile/sessions.html",
                                **_context())
    return trigger(response, toast={"message": message, "level": "success"})


def _sessions_answer(message: str):
    """The Signed-in devices section again, with the message (a toast, or a flash and 303)."""
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("profile.show", _anchor="sessions"), 303)
    response = page_or_fragment("profile/show.html", "partials/profile/sessions.html",
                                **_context())
    return trigger(response, toast={"message": message, "level": "success"})


@bp.post("/remembered/forget")
def forget_browser():
    """Forget one remembered browser (field `id`): its next sign-in asks for a code again.

    :raise 400: no valid id, or an invalid CSRF token.
    :raise 403: while signed in as another person.
    :raise 409: not one of this person's remembered browsers (any more).
    """
    refuse_while_impersonating("forget_browsers")
    form = EmptyForm()
    raw = request.form.getlist("id")
    if not form.validate_on_submit() or len(raw) != 1 or not raw[0].isdigit() or len(raw[0]) > 18:
        abort(400, description=gettext("Choose a browser to forget."))
    if not remember.forget(current_user._get_current_object(), int(raw[0])):
        abort(409, description=gettext("That browser is no longer remembered."))
    return _sessions_answer(gettext("Browser forgotten. Its next sign-in asks for a code."))


@bp.post("/remembered/forget-all")
def forget_all_browsers():
    """Forget every remembered browser of this account.

    :raise 403: while signed in as another person.
    """
    refuse_while_impersonating("forget_browsers")
    if not EmptyForm().validate_on_submit():
        abort(400, description=gettext("Reload the page and try again."))
    count = remember.forget_all(current_user._get_current_object(), "forget_all")
    message = (gettext("Forgot %(count)s browser(s). Each asks for a code at its next sign-in.",
                       count=count) if count else gettext("No remembered browsers to forget."))
    return _sessions_answer(message)


def _user_key() -> str:
    return f"password-change:{current_user.id}"


@bp.post("/password")
def change_password():
    """Change password: current, new, confirm. Other sessions are signed out.

    :raise 429: too many wrong current passwords (PASSWORD_CHANGE_FAILURES).
    """
    refuse_while_impersonating("change_password")
    user = current_user._get_current_object()
    form = PasswordForm()

    def errors(field, message):
        getattr(form, field).errors = [message]
        return page_or_fragment("profile/show.html", "partials/profile/password.html", 422,
                                **_context(password_form=form))

    if not form.validate_on_submit():
        return page_or_fragment("profile/show.html", "partials/profile/password.html", 422,
                                **_context(password_form=form))
    # Reserve, then check: parallel guesses compare no more passwords than the limit.
    reservation = reserve((current_app.config["PASSWORD_CHANGE_FAILURES"], _user_key()))
    params = passwords.Argon2Params.from_config(current_app.config)
    current, new = form.current_password.data, form.new_password.data
    ok, _ = passwords.verify_password(user.password_hash, current, params)
    if not ok:
        audit.record("password.change_failed", subject=user, outcome="failed")
        return errors("current_password", gettext("That isn't your current password."))
    reservation.give_back()  # only wrong current passwords count
    if new != form.confirm_password.data:
        return errors("confirm_password", gettext("The new passwords don't match."))
    problems = passwords.new_password_errors(
        new, user_inputs=(user.email, user.email.split("@")[0], user.name), translate=gettext)
    if problems:
        return errors("new_password", problems[0])
    if passwords.normalise(new) == passwords.normalise(current):
        return errors("new_password",
                      gettext("Choose a password different from your current one."))
    with atomic_write():
        User.update(password_hash=passwords.hash_password(new, params)).where(
            User.id == user.id).execute()
        audit.record("password.changed", subject=user)
        notify(user, gettext("Your password was changed"), "email/password_changed.txt",
               change={"kind": "password"})
    rotate_sessions(user)
    # The session and its CSRF token were just replaced, so every other form on the page
    # carries a stale token and "Signed-in devices" lists revoked sessions: load the whole
    # page again (HX-Redirect for htmx, 303 otherwise), the message travels as a flash.
    return done(gettext("Password updated. Other devices have been signed out."),
                "profile.show")
