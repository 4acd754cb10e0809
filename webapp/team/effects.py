"""What an admin's actions on a member do: resetting two-factor (verified), removal."""

from flask import url_for
from flask_babel import gettext
from peewee import fn

from .. import audit
from ..auth.session import close_verifications
from ..db import atomic_write, is_sqlite
from ..models import Membership, Organization, Passkey, User, UserSession
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
    # A passkey on the lost phone would still sign in on its own (it is both steps).
    passkeys_removed = Passkey.delete().where(Passkey.user == member.id).execute()
    # Whoever is signed in as the member signs in again, under the new rules; that includes
    # "Login as" sessions into the member and any the member runs.
    signed_out = UserSession.revoke_all(member.id, now)
    audit.record("totp.disabled", subject=member, actor=subject, channel=c.channel,
                 reset_by_admin=True, backup_codes_removed=removed,
                 passkeys_removed=passkeys_removed, sessions_revoked=signed_out)
    notify(member, gettext("Two-factor authentication was reset on your account"),
           "team/email/two_factor_reset.txt", actor=c.actor,
           change={"kind": "two_factor_reset"})  # commits with the reset
    return {"member_id": member_id}


def after_reset_member_2fa(v: stepup.Verified):
    member = User.get_by_id(v.result["member_id"])
    return finish_in_page(gettext("Two-factor authentication reset for %(name)s: their "
                                  "authenticator app, backup codes and passkeys no longer "
                                  "work, and they were signed out everywhere.",
                                  name=member.display_name),
                          refresh="memberChanged",
                          back=url_for("team.member", user_id=member.id))


# --- "Remove from team" --------------------------------------------------------------------


class LastOwner(Exception):
    """The removal would leave the organisation without an owner."""


def remove_member(target, admin, now) -> int:
    """End a membership now: its rights, the person's sessions and waiting sign-ins.

    The row stays (with `removed_at`) so the person's history stays in the team's Activity.
    One conditional UPDATE, which also counts the owners left: two owners removing each other
    at once leave one. On PostgreSQL the organisation row is locked first, so the count is
    read after any removal racing this one has committed; SQLite serialises writers.
    Returns the number of sessions signed out.

    :raise LastOwner: the target is the organisation's last owner.
    :raise LookupError: the membership was already removed.
    """
    others = Membership.alias()
    owners_left = (others.select(fn.COUNT(others.id))
                   .where((others.organization == target.organization_id)
                          & (others.role == "owner") & others.removed_at.is_null()
                          & (others.id != target.id)))
    with atomic_write():
        if not is_sqlite():
            (Organization.select(Organization.id)
             .where(Organization.id == target.organization_id)
             .for_update()
             .execute())
        updated = (Membership.update(removed_at=now)
                   .where((Membership.id == target.id) & Membership.removed_at.is_null()
                          & ((Membership.role != "owner") | (owners_left >= 1)))
                   .execute())
        if updated != 1:
            if Membership.get_by_id(target.id).removed_at is not None:
                raise LookupError(target.id)
            raise LastOwner()
        member = target.user
        signed_out = UserSession.revoke_all(member.id, now, reason="removed")
        close_verifications(member, now, sign_ins=True)
        audit.record("member.removed", subject=member, actor=admin, role=target.role,
                     sessions_revoked=signed_out)
    return signed_out
