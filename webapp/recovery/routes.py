"""Forgot password, reset by link, and "Secure your account" from a notice.

Every page is a card of its own without JavaScript and its partial for htmx. Tokens travel
only in the path of the emailed link; the pages holding them are never cached.
"""

import time

from flask import after_this_request, current_app, render_template, request, session
from flask_babel import gettext
from flask_login import current_user, logout_user

from .. import audit, links
from ..activity.display import device_name
from ..db import atomic_write
from ..delivery import DeliveryError, send_email
from ..extensions import client_ip, db
from ..forms import EmptyForm
from ..models import User, utcnow
from ..profile.forms import normalise_email
from ..security import passwords
from ..web import card_or_fragment, done, notify, public_url
from . import bp, effects
from .forms import ForgotForm, ResetForm


def _forgot_page(status=200, **context):
    return card_or_fragment("partials/recovery/forgot.html", status,
                            page_title=gettext("Forgot password"), labelled_by="forgot-title",
                            **context)


def _gone():
    """One answer for every link that can't be used: unknown, tampered, used, expired."""
    request.no_store = True
    return card_or_fragment("partials/recovery/gone.html", 404,
                            page_title=gettext("This link no longer works"),
                            labelled_by="gone-title")


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot():
    """"Forgot password?": the same answer, in about the same time, for every address.

    :raise 429: too many links asked for this address or from this client (LINK_SENDS_*).
    """
    form = ForgotForm()
    if not form.validate_on_submit():
        return _forgot_page(422 if request.method == "POST" else 200, form=form)
    try:
        address = normalise_email(form.email.data)
    except ValueError as exc:
        form.email.errors = [str(exc)]
        return _forgot_page(422, form=form)
    started = time.monotonic()
    # Claimed before anything is looked up, for unknown addresses too: a limit says nothing.
    links.claim_send(address, client_ip())
    user = User.by_email(address)
    audit.record("password.reset_requested", subject=user, actor=user,
                 outcome="sent" if user else "unknown")
    if user is not None:
        _send_after_answer(user.id)
    # The answer does the same work for every address; a floor evens out the rest.
    floor = current_app.config["LINK_REQUEST_MIN_MS"] / 1000
    time.sleep(max(0.0, floor - (time.monotonic() - started)))
    return _forgot_page(sent=True, form=ForgotForm(formdata=None))


def _send_after_answer(user_id: int) -> None:
    """The link and its email, once the answer has left: the SMTP round trip (up to
    MAIL_TIMEOUT) must not show in the time of the answer.

    The WSGI server calls the response's close hooks after writing it; the work runs in a
    request context rebuilt from this request's environment (host, language, client).
    """
    app = current_app._get_current_object()
    environ = {k: v for k, v in request.environ.items() if not k.startswith(("wsgi.input",
                                                                              "werkzeug."))}

    def send():
        try:
            with app.request_context(environ), db.connection_context():
                user = User.get_or_none(User.id == user_id)
                if user is not None:
                    _send_reset(user)
        except Exception:  # nothing can answer any more: log it
            app.logger.exception("password reset link not sent")

    @after_this_request
    def _later(response):
        response.call_on_close(send)
        return response


def _send_reset(user: User) -> None:
    token = links.issue(links.RESET_PASSWORD, user=user)
    # Not a notice (it is a secret, like a code): sent now, never kept in the delivery table.
    data = dict(user=user, url=public_url("recovery.reset", token=token),
                minutes=max(1, links.lifetime(links.RESET_PASSWORD) // 60))
    try:
        send_email(current_app.config, user.email, gettext("Reset your Aesthetix CRM password"),
                   render_template("email/password_reset.txt", **data),
                   render_template("email/password_reset.html", **data))
    except DeliveryError:  # the answer stays the same; the log says why
        current_app.logger.warning("password reset email not delivered")


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset(token):
    """Choose a new password (the rules of Change password); then every session signs out and
    the person signs in again, second step included.

    :raise 404: the link is unknown, used, expired, or the password changed since it was sent.
    """
    request.no_store = True
    link = links.peek(token, links.RESET_PASSWORD)
    if link is None:
        return _gone()
    user = User.get_by_id(link.user_id)
    form = ResetForm()

    def page(status=200):
        return card_or_fragment("partials/recovery/reset.html", status,
                                page_title=gettext("Choose a new password"),
                                labelled_by="reset-title", form=form, token=token, user=user)

    def error(field, message):
        getattr(form, field).errors = [message]
        return page(422)

    if not form.validate_on_submit():
        return page(422 if request.method == "POST" else 200)
    new = form.new_password.data
    if new != form.confirm_password.data:
        return error("confirm_password", gettext("The new passwords don't match."))
    problems = passwords.new_password_errors(
        new, user_inputs=(user.email, user.email.split("@")[0], user.name), translate=gettext)
    if problems:
        return error("new_password", problems[0])
    new_hash = passwords.hash_password(new, passwords.Argon2Params.from_config(current_app.config))
    try:
        with atomic_write():
            effects.reset_password(token, user, new_hash, utcnow())
    except effects.Gone:
        return _gone()
    _sign_out_this_browser(user)
    notify(user, gettext("Your password was reset"), "email/password_reset_done.txt",
           change={"kind": effects.PASSWORD_RESET})
    # Never signed in here: the sign-in asks for the second step as always.
    return done(gettext("Your password was changed. Sign in with your new password."),
                "auth.login")


def _sign_out_this_browser(user: User) -> None:
    """If this browser was signed in to the account, its session row is already revoked:
    drop the cookie's state too. Signed in as someone else, it stays so."""
    if current_user.is_authenticated and current_user.id != user.id:
        return
    if current_user.is_authenticated:
        logout_user()
    session.clear()


@bp.route("/secure/<token>", methods=["GET", "POST"])
def secure(token):
    """"Not you? Secure your account": what happened, and one button that signs out every
    session, undoes the change where it can, and leads to choosing a new password.

    :raise 404: the link is unknown, used or expired.
    """
    request.no_store = True
    link = links.peek(token, links.SECURE_ACCOUNT)
    if link is None:
        return _gone()
    form = EmptyForm()
    if not form.validate_on_submit():
        change = link.data
        return card_or_fragment(
            "partials/recovery/secure.html", 422 if request.method == "POST" else 200,
            page_title=gettext("Secure your account"), labelled_by="secure-title", form=form,
            token=token, description=effects.describe(change, device_name(change.get("agent"))),
            ip=change.get("ip"), undo=effects.will_undo(change))
    try:
        with atomic_write():
            user, undone = effects.secure(token, utcnow())
            reset_token = links.issue(links.RESET_PASSWORD, user=user)
    except effects.Gone:
        return _gone()
    _sign_out_this_browser(user)
    message = gettext("Your account is secured: every device was signed out.")
    if undone:
        message += " " + gettext("The change was undone.")
    return done(message + " " + gettext("Now choose a new password."), "recovery.reset",
                token=reset_token)
