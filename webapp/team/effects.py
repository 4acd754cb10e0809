"""What an admin's actions do: resetting a member's two-factor (verified), removal,
invitations (owners and admins only after the inviter's own step-up)."""

from flask import current_app, render_template, url_for
from flask_babel import gettext
from peewee import fn

from .. import audit, links
from ..auth.session import close_verifications
from ..db import atomic_write, is_sqlite
from ..delivery import DeliveryError, send_email
from ..models import Invitation, Membership, Organization, Passkey, User, UserSession
from ..security import N_, stepup
from ..throttle import Throttled, reserve
from ..twofactor.effects import remove_factor
from ..verify.responses import finish_in_page
from ..web import client_info, html_template, notify, public_url
from . import authz, invitations


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


# --- role and permissions ------------------------------------------------------------------

RANK = {"member": 0, "admin": 1, "owner": 2}


def grants_more(old: dict, new: dict) -> bool:
    """Whether a change of role and permissions gives the person rights they didn't have:
    a higher role, or an admin's right to edit (and sign in as) team members."""
    return (RANK[new["role"]] > RANK[old["role"]]
            or (new["role"] == "admin" and new["can_edit_team_profiles"]
                and not old["can_edit_team_profiles"]))


def save_access(target, new: dict, actor, now) -> None:
    """Write the role and permissions; a "Login as" by or into the person ends with them."""
    old = {k: getattr(target, k) for k in new}
    with atomic_write():
        Membership.update(**new).where(Membership.id == target.id).execute()
        # A "Login as" never runs on rights that changed: whether this person is the
        # admin behind one or the member inside one, it ends now.
        ended = UserSession.revoke_impersonations(target.user_id, now)
        audit.record("membership.changed", subject=target.user, actor=actor,
                     old=old, new=new, impersonations_ended=ended)
    for k, v in new.items():
        setattr(target, k, v)


def apply_change_access(c, subject, now) -> dict:
    """A change that grants more rights, once the owner verified it's them; the owner's
    right to manage this person's access is checked again here (R2-7)."""
    member_id = int(c.data["member_id"])
    actor = Membership.first_of(subject.id).first()
    target = Membership.seat_in(actor.organization_id, member_id) if actor else None
    if not authz.may_manage_access(actor, target):
        raise stepup.Conflict(N_("You can no longer change this person's role."))
    new = {"role": c.data["role"],
           "can_edit_team_profiles": bool(c.data["can_edit_team_profiles"]),
           "can_edit_own_profile": bool(c.data["can_edit_own_profile"])}
    save_access(target, new, subject, now)
    return {"member_id": member_id}


def after_change_access(v: stepup.Verified):
    return finish_in_page(gettext("Access updated."), refresh="accessChanged",
                          back=url_for("team.member", user_id=v.result["member_id"]))


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


# --- invitations ---------------------------------------------------------------------------


def send_invitation(invitation, token, organization: str, inviter) -> None:
    """The invitation email: the link, or (for an address that has an account) why none."""
    if token:
        template = "team/email/invitation.txt"
        subject = gettext("%(name)s invited you to join %(organization)s on Aesthetix CRM",
                          name=inviter.display_name, organization=organization)
    else:
        template = "team/email/invitation_address_in_use.txt"
        subject = gettext("An invitation to %(organization)s on Aesthetix CRM",
                          organization=organization)
    # The link is a secret, like a code: sent now, never kept in the delivery table; its
    # address from PUBLIC_URL, not from the request's Host header.
    url = public_url("join.show", token=token) if token else None
    data = dict(url=url, organization=organization, inviter=inviter, invitation=invitation,
                days=current_app.config["LINK_INVITATION_SECONDS"] // 86400)
    try:
        send_email(current_app.config, invitation.email, subject,
                   render_template(template, **data),
                   render_template(html_template(template), **data))
    except DeliveryError:  # the answer stays the same; Resend tries again
        current_app.logger.warning("invitation email not delivered")


def claim_invitation_send(organization_id: int, email: str):
    """Slots of the link limits (address, IP) and the organisation's daily invitations.

    :raise Throttled: a limit is used up; nothing is sent.
    """
    ip, _ = client_info()
    reservation = links.claim_send(email, ip)
    try:
        reserve((current_app.config["INVITATIONS_PER_ORGANIZATION"], "invitations",
                 f"org:{organization_id}"))
    except Throttled:
        reservation.give_back()
        raise
    return reservation


THROTTLED = N_("Too many invitations were sent. Try again in %(minutes)s minute(s). "
               "Nothing was sent.")


def throttled_text(exc: Throttled) -> str:
    return gettext(THROTTLED, minutes=exc.retry_minutes)


class InvitationsLimited(stepup.Conflict):
    status, reason = 429, "invitations_limited"


def apply_invite_privileged(c, subject, now) -> dict:
    """An owner or admin invitation, once the inviter verified it's them.

    Runs inside the consuming transaction and checks again what the form checked: the
    inviter may still give that role, the address is not in the team and has no open
    invitation by now. The link's token goes to the after-hook in memory, never stored.
    """
    email, role = c.data["email"], c.data["role"]
    actor = Membership.first_of(subject.id).first()
    if not (authz.may_invite(actor) and role in authz.roles_to_invite(actor)):
        raise stepup.Conflict(N_("You can no longer invite people with this role."))
    organization_id = actor.organization_id
    if invitations.in_team(organization_id, email):
        raise stepup.Conflict(N_("%(email)s is already in your team."), {"email": email})
    if invitations.open_for(organization_id, email, now):
        raise stepup.Conflict(N_("%(email)s already has a pending invitation: use Resend on "
                                 "the Team page."), {"email": email})
    try:
        claim_invitation_send(organization_id, email)
    except Throttled as exc:
        raise InvitationsLimited(THROTTLED, {"minutes": exc.retry_minutes}) from exc
    invitation, token = invitations.create(organization_id, subject, email, role, now)
    return {"invitation_id": invitation.id, "token": token}


def after_invite_privileged(v: stepup.Verified):
    invitation = Invitation.get_by_id(v.result["invitation_id"])
    organization = Organization.get_by_id(invitation.organization_id)
    send_invitation(invitation, v.result["token"], organization.name, v.subject)
    return finish_in_page(gettext("Invitation sent to %(email)s.", email=invitation.email),
                          refresh="invitationsChanged", back=url_for("team.index"))
