"""Effects of the verifications an admin passes for a member (resetting two-factor)."""

from flask import url_for
from flask_babel import gettext

from .. import audit
from ..models import Membership, User, UserSession
from ..security import N_, stepup
from ..twofactor.effects import remove_factor
from ..verify.responses import finish_in_page
from ..web import notify
from . import authz


def apply_reset_member_2fa(c, subject, now) -> dict:
    """Runs inside the consuming transaction; the permission is checked again here."""
    member_id = int(c.data["member_id"])
    actor = Membership.first_of(subject.id).first()
    target = Membership.seat_in(actor.organization_id, member_id) if actor else None
    if not authz.may_edit(actor, target):
        raise stepup.Conflict(
            N_("You can no longer reset this person's two-factor authentication."))
    member = target.user
    _, removed = remove_factor(member, now)
    # Whoever is signed in as the member signs in again, under the new rules; that includes
    # "Login as" sessions into the member and any the member runs.
    signed_out = UserSession.revoke_all(member.id, now)
    audit.record("totp.disabled", subject=member, actor=subject, channel=c.channel,
                 reset_by_admin=True, backup_codes_removed=removed, sessions_revoked=signed_out)
    notify(member, gettext("Two-factor authentication was reset on your account"),
           "team/email/two_factor_reset.txt", actor=c.actor,
           change={"kind": "two_factor_reset"})  # commits with the reset
    return {"member_id": member_id}


def after_reset_member_2fa(v: stepup.Verified):
    member = User.get_by_id(v.result["member_id"])
    return finish_in_page(gettext("Two-factor authentication reset for %(name)s: their "
                                  "authenticator app and backup codes no longer work, and "
                                  "they were signed out everywhere.",
                                  name=member.display_name),
                          refresh="memberChanged",
                          back=url_for("team.member", user_id=member.id))
