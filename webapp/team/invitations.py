"""Team invitations: created, sent again, revoked, accepted. Domain functions, no request.

An invitation is a row (who invited whom, with which role, until when) and, for an address
that has no account yet, a single-use signed link (`webapp/links.py`, purpose
"invitation") that carries the invitation's id and the number of the send it came with.
Only the latest send's link is honoured: sending again or revoking makes every earlier
link useless, and accepting is one conditional UPDATE inside the transaction that consumes
the link and creates the account, so a link raced by any number of requests makes one
account.
"""

import datetime as dt

from peewee import IntegrityError

from .. import audit, links
from ..db import atomic_write
from ..models import Invitation, Membership, Organization, User
from ..security import channels as ch


class Refused(Exception):
    """The link can't be used (unknown, used, expired, revoked, replaced); `reason` says which
    for the log, never for the page."""

    def __init__(self, reason: str, invitation=None):
        super().__init__(reason)
        self.reason, self.invitation = reason, invitation


class AddressTaken(Exception):
    """An account with the invited address was created after the invitation was sent."""


def pending(organization_id) -> list:
    """The organisation's invitations neither accepted nor revoked (expired ones included)."""
    return list(Invitation.open_in(organization_id))


def open_for(organization_id, email: str, now):
    """A live invitation of this address to this organisation, if there is one."""
    return (Invitation.select()
            .where((Invitation.organization == organization_id) & (Invitation.email == email)
                   & Invitation.accepted_at.is_null() & Invitation.revoked_at.is_null()
                   & (Invitation.expires_at > now))
            .first())


def in_team(organization_id, email: str) -> bool:
    """The address belongs to a current member of this organisation (visible to the inviter)."""
    return (Membership.select()
            .join(User, on=(Membership.user == User.id))
            .where((Membership.organization == organization_id) & (User.email == email)
                   & Membership.removed_at.is_null())
            .exists())


def account_exists(email: str) -> bool:
    return User.select().where(User.email == email).exists()


def _link(invitation, now) -> str:
    return links.issue(links.INVITATION, now=now, seconds=_seconds(),
                       data={"invitation": invitation.id, "send": invitation.sends})


def _seconds() -> int:
    return links.lifetime(links.INVITATION)


def create(organization_id, inviter, email: str, role: str, now) -> tuple[object, str | None]:
    """A new invitation and its link's token; no link when the address already has an
    account (that address gets a different email, and the inviter the same answer)."""
    with atomic_write():
        invitation = Invitation.create(
            organization=organization_id, email=email, role=role, invited_by=inviter,
            sends=1, last_sent_at=now, created_at=now,
            expires_at=now + dt.timedelta(seconds=_seconds()))
        token = _link(invitation, now)
        if account_exists(email):
            # The same work either way (no timing tell); this token is never sent.
            token = None
        audit.record("invitation.sent", organization=organization_id, actor=inviter,
                     invitation=invitation.id, email=ch.mask_email(email), role=role)
    return invitation, token


def resend(invitation, inviter, now) -> tuple[object, str | None]:
    """Send again: a fresh link valid the full time; every earlier link stops working.

    :raise LookupError: the invitation was accepted or revoked meanwhile.
    """
    with atomic_write():
        updated = (Invitation.update(sends=Invitation.sends + 1, last_sent_at=now,
                                     expires_at=now + dt.timedelta(seconds=_seconds()))
                   .where((Invitation.id == invitation.id) & Invitation.accepted_at.is_null()
                          & Invitation.revoked_at.is_null())
                   .execute())
        if updated != 1:
            raise LookupError(invitation.id)
        invitation = Invitation.get_by_id(invitation.id)
        token = _link(invitation, now)
        if account_exists(invitation.email):
            token = None  # as in create(): never sent
        audit.record("invitation.resent", organization=invitation.organization_id,
                     actor=inviter, invitation=invitation.id,
                     email=ch.mask_email(invitation.email), role=invitation.role,
                     send=invitation.sends)
    return invitation, token


def revoke(invitation, inviter, now) -> None:
    """:raise LookupError: the invitation was accepted or revoked meanwhile."""
    with atomic_write():
        updated = (Invitation.update(revoked_at=now)
                   .where((Invitation.id == invitation.id) & Invitation.accepted_at.is_null()
                          & Invitation.revoked_at.is_null())
                   .execute())
        if updated != 1:
            raise LookupError(invitation.id)
        audit.record("invitation.revoked", organization=invitation.organization_id,
                     actor=inviter, invitation=invitation.id,
                     email=ch.mask_email(invitation.email), role=invitation.role)


def _usable(invitation, send, now) -> str | None:
    """Why a link's invitation can't be used now (None when it can)."""
    if invitation is None:
        return "unknown"
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.sends != send:
        return "replaced"
    if invitation.expires_at <= now:
        return "expired"
    return None


def _invitation_of(link):
    data = link.data
    invitation_id, send = data.get("invitation"), data.get("send")
    if not isinstance(invitation_id, int) or not isinstance(send, int):
        return None, None
    return Invitation.get_or_none(Invitation.id == invitation_id), send


def peek(token, now):
    """(invitation, organisation) the link would accept now; consumes nothing.

    :raise Refused: the link or its invitation can't be used.
    """
    link = links.peek(token, links.INVITATION, now=now)
    if link is None:
        raise Refused("link")
    invitation, send = _invitation_of(link)
    reason = _usable(invitation, send, now)
    if reason:
        raise Refused(reason, invitation)
    return invitation, Organization.get_by_id(invitation.organization_id)


def accept(token, *, name: str, password_hash: str, now):
    """Use the link once and create the account: verified email, the invited role.

    The link is consumed, the invitation marked accepted (a conditional UPDATE that must
    touch exactly one row) and the user and membership created in one transaction: all of
    it or none of it.

    :raise Refused: the link or its invitation can't be used (also: a parallel request won).
    :raise AddressTaken: an account with this address exists by now.
    """
    try:
        with atomic_write():
            link = links.consume(token, links.INVITATION, now=now)
            if link is None:
                raise Refused("link")
            invitation, send = _invitation_of(link)
            reason = _usable(invitation, send, now)
            if reason:
                raise Refused(reason, invitation)
            updated = (Invitation.update(accepted_at=now)
                       .where((Invitation.id == invitation.id)
                              & (Invitation.sends == send)
                              & Invitation.accepted_at.is_null()
                              & Invitation.revoked_at.is_null()
                              & (Invitation.expires_at > now))
                       .execute())
            if updated != 1:
                raise Refused("raced", invitation)
            # The link went to this address and was opened from it: the address is verified.
            user = User.create(email=invitation.email, name=name, password_hash=password_hash,
                               email_verified_at=now, created_at=now)
            Membership.create(user=user, organization=invitation.organization_id,
                              role=invitation.role, created_at=now,
                              can_edit_team_profiles=invitation.role == "owner")
            Invitation.update(user=user).where(Invitation.id == invitation.id).execute()
            audit.record("member.joined", subject=user, actor=user,
                         organization=invitation.organization_id, role=invitation.role,
                         invitation=invitation.id, invited_by=invitation.invited_by_id)
    except IntegrityError as exc:
        raise AddressTaken() from exc
    return user, invitation
