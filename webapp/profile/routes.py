"""Settings > My Profile: personal data, password, two-factor."""

from flask import abort, current_app, flash, redirect, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from .. import audit
from ..db import atomic_write
from ..forms import EmptyForm
from ..models import Membership, User, UserSession, utcnow
from ..security import N_, passwords
from ..security.stepup import unused_backup_codes
from ..verify.routes import begin_change, open_modal, policy
from ..web import is_htmx, is_impersonating, notify, page_or_fragment, trigger
from . import bp
from .forms import PasswordForm, ProfileForm


@bp.before_request
@login_required
def _signed_in():
    """Every profile route needs a signed-in user."""


# The refusal for each action `what` names (the audit keeps `what` itself, in English).
IMPERSONATION_REFUSALS = {
    "change this profile": N_("While signed in as another person you can't change this "
                              "profile. Return to your account first."),
    "verify this email": N_("While signed in as another person you can't verify this email. "
                            "Return to your account first."),
    "verify this phone": N_("While signed in as another person you can't verify this phone. "
                            "Return to your account first."),
    "sign out this person's devices": N_("While signed in as another person you can't sign "
                                         "out this person's devices. Return to your account "
                                         "first."),
    "change the password": N_("While signed in as another person you can't change the "
                              "password. Return to your account first."),
    "use the team pages": N_("While signed in as another person you can't use the team "
                             "pages. Return to your account first."),
    "set up an authenticator app": N_("While signed in as another person you can't set up an "
                                      "authenticator app. Return to your account first."),
    "create new backup codes": N_("While signed in as another person you can't create new "
                                  "backup codes. Return to your account first."),
    "remove the authenticator app": N_("While signed in as another person you can't remove "
                                       "the authenticator app. Return to your account first."),
}


def refuse_while_impersonating(what: str):
    """:raise 403: the session is an admin's "Login as"."""
    if is_impersonating():
        audit.record("impersonation.denied", subject=current_user, outcome="denied", action=what)
        message = IMPERSONATION_REFUSALS.get(what, N_(
            "While signed in as another person you can't do that. Return to your account first."))
        abort(403, description=gettext(message))


def may_edit_own_profile(user) -> bool:
    membership = Membership.get_or_none(Membership.user == user)
    return membership is None or membership.can_edit_own_profile


def _context(**kw):
    user = current_user._get_current_object()
    ctx = {
        "user": user,
        "profile_form": kw.pop("profile_form", None) or ProfileForm(
            formdata=None, name=user.name, email=user.email, phone=user.phone or ""),
        "password_form": kw.pop("password_form", None) or PasswordForm(formdata=None),
        "form": EmptyForm(),
        "can_edit": may_edit_own_profile(user),
        "backup_left": unused_backup_codes(user) if user.totp_enabled else 0,
        # Called by the page only, so fragments don't pay for the query.
        "sessions": lambda: active_sessions(user),
    }
    ctx.update(kw)
    return ctx


@bp.get("")
def show():
    """My Profile page."""
    return page_or_fragment("profile/show.html", "partials/profile/personal.html", **_context())


@bp.get("/personal")
def personal():
    """The Personal Data section alone (refreshed after a verified change)."""
    return page_or_fragment("profile/show.html", "partials/profile/personal.html", **_context())


def _section_errors(form):
    return page_or_fragment("profile/show.html", "partials/profile/personal.html", 422,
                            **_context(profile_form=form))


@bp.post("")
def update():
    """Save the name; a new phone or email starts the step-up verification instead."""
    refuse_while_impersonating("change this profile")
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
    if name != user.name:
        User.update(name=name).where(User.id == user.id).execute()
        user.name = name
    back = url_for("profile.show")
    if phone_changed:
        return begin_change(user, user, "change_phone", {"phone": new_phone}, back=back)
    if email_changed:
        if User.select().where((User.email == new_email) & (User.id != user.id)).exists():
            form.email.errors = [gettext("That email address can't be used. Choose another one.")]
            return _section_errors(form)
        return begin_change(user, user, "change_email", {"email": new_email}, back=back)
    if not is_htmx():
        flash(gettext("Profile saved."), "success")
        return redirect(back, 303)
    response = page_or_fragment("profile/show.html", "partials/profile/personal.html",
                                **_context())
    return trigger(response, toast={"message": gettext("Profile saved."), "level": "success"})


def _verify_own(purpose: str, payload: dict):
    from ..security import stepup

    try:
        c = stepup.start(current_user, current_user, purpose, payload, now=utcnow(),
                         policy=policy())
    except stepup.NoChannel as exc:
        from ..verify.routes import message_modal

        return message_modal(N_("Nothing to verify"), exc.text(gettext), 409,
                             back=url_for("profile.show"))
    audit.record("challenge.started", subject=current_user, purpose=purpose)
    return open_modal(c)


@bp.post("/verify-email")
def verify_email():
    """Send a code to the account's own email address to prove it."""
    refuse_while_impersonating("verify this email")
    return _verify_own("verify_email", {"email": current_user.email})


@bp.post("/verify-phone")
def verify_phone():
    """Send a code to the account's own phone to prove it."""
    refuse_while_impersonating("verify this phone")
    if not current_user.phone:
        abort(400, description=gettext("Add a phone number first."))
    return _verify_own("verify_phone", {"phone": current_user.phone})


def active_sessions(user) -> list:
    return list(UserSession.select()
                .where((UserSession.user == user.id)
                       & UserSession.revoked_at.is_null()
                       & (UserSession.expires_at > utcnow()))
                .order_by(UserSession.id.desc())
                .limit(20))


@bp.post("/sessions/sign-out-others")
def sign_out_others():
    """Sign out every other browser signed in to this account."""
    refuse_while_impersonating("sign out this person's devices")
    from ..auth.session import sign_out_other_sessions

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


def _user_key() -> str:
    return f"password-change:{current_user.id}"


@bp.post("/password")
def change_password():
    """Change password: current, new, confirm. Other sessions are signed out.

    :raise 429: too many wrong current passwords (PASSWORD_CHANGE_FAILURES).
    """
    refuse_while_impersonating("change the password")
    user = current_user._get_current_object()
    form = PasswordForm()

    def errors(field, message):
        getattr(form, field).errors = [message]
        return page_or_fragment("profile/show.html", "partials/profile/password.html", 422,
                                **_context(password_form=form))

    if not form.validate_on_submit():
        return page_or_fragment("profile/show.html", "partials/profile/password.html", 422,
                                **_context(password_form=form))
    from ..throttle import reserve

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
    from ..auth.session import rotate_sessions

    with atomic_write():
        User.update(password_hash=passwords.hash_password(new, params)).where(
            User.id == user.id).execute()
        audit.record("password.changed", subject=user)
    rotate_sessions(user)
    notify(user, gettext("Your password was changed"), "email/password_changed.txt")
    message = gettext("Password updated. Other devices have been signed out.")
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("profile.show"), 303)
    response = page_or_fragment("profile/show.html", "partials/profile/password.html",
                                **_context())
    return trigger(response, toast={"message": message, "level": "success"})
