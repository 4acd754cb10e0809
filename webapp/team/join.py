"""Accepting an invitation: "Join <organisation>" at /join/<token>, for people with no
account yet (so no sign-in is needed, unlike every other team route)."""

from flask import Blueprint, current_app, request
from flask_babel import gettext
from flask_login import current_user

from .. import audit
from ..auth.session import end_session
from ..models import utcnow
from ..security import channels as ch
from ..security import passwords
from ..web import card_or_fragment, done, page_or_fragment
from . import invitations
from .forms import JoinForm

bp = Blueprint("join", __name__)


def _refused(exc: invitations.Refused, *, used: bool):
    """One page for every link that can't be used: which reason is for the log only."""
    if used:  # a POST: someone tried to use it
        invitation = exc.invitation
        audit.record("invitation.refused", outcome="denied", actor=None,
                     organization=invitation.organization_id if invitation else None,
                     invitation=invitation.id if invitation else None,
                     email=ch.mask_email(invitation.email) if invitation else None,
                     reason=exc.reason)
    return card_or_fragment("partials/team/join_refused.html", 404,
                            page_title=gettext("This invitation link can't be used"),
                            labelled_by="join-title")


def _page(form, invitation, organization, status=200):
    return page_or_fragment("team/join.html", "partials/team/join.html", status, form=form,
                            invitation=invitation, organization=organization.name,
                            token=request.view_args["token"])


@bp.route("/join/<token>", methods=["GET", "POST"])
def show(token):
    """"Join <organisation>": name and password; the link verifies the invited address.

    :raise 404: the link is unknown, used, expired, revoked or replaced by a newer one.
    :raise 409: an account with the invited address exists by now.
    """
    now = utcnow()
    try:
        invitation, organization = invitations.peek(token, now)
    except invitations.Refused as exc:
        return _refused(exc, used=request.method == "POST")
    form = JoinForm()
    if request.method == "GET":
        return _page(JoinForm(formdata=None), invitation, organization)
    if not form.validate_on_submit():
        return _page(form, invitation, organization, 422)
    name = form.name.data.strip()
    new = form.new_password.data
    # The rules of Change password, with the invitee's own words refused.
    if new != form.confirm_password.data:
        form.confirm_password.errors = [gettext("The passwords don't match.")]
        return _page(form, invitation, organization, 422)
    problems = passwords.new_password_errors(
        new, user_inputs=(invitation.email, invitation.email.split("@")[0], name),
        translate=gettext)
    if problems:
        form.new_password.errors = [problems[0]]
        return _page(form, invitation, organization, 422)
    # Hashed before the transaction: the write lock is never held for the slow hash.
    password_hash = passwords.hash_password(
        new, passwords.Argon2Params.from_config(current_app.config))
    try:
        invitations.accept(token, name=name, password_hash=password_hash, now=utcnow())
    except invitations.Refused as exc:
        return _refused(exc, used=True)
    except invitations.AddressTaken:
        form.new_password.errors = [gettext(
            "This address already has an Aesthetix CRM account, so it can't join with this "
            "invitation. Ask for an invitation to another address.")]
        return _page(form, invitation, organization, 409)
    if current_user.is_authenticated:
        end_session(current_user)  # this browser is the new member's now
    return done(gettext("Welcome to %(organization)s. Sign in with your email and new "
                        "password; we'll send a code to your email as a second step.",
                        organization=organization.name), "auth.login")
