"""Who may do what to whom in a team. Pure decisions over two memberships, no request.

Every function takes the actor's membership and the target's membership (either may be
None). A target outside the actor's organisation is "not found" (404, no hint it exists);
inside it, a refused action is "forbidden" (403).
"""

from dataclasses import dataclass

OK, FORBIDDEN, NOT_FOUND = 200, 403, 404
MANAGERS = ("owner", "admin")
# Roles whose grant lasts beyond the session that gives it: inviting someone with one takes
# the inviter's own step-up (or a "recently verified" session).
PRIVILEGED = frozenset(MANAGERS)


@dataclass(frozen=True)
class Seat:
    """The few facts about a membership a decision needs (a Membership row also fits)."""

    user_id: int
    organization_id: int
    role: str = "member"
    can_edit_team_profiles: bool = False
    can_edit_own_profile: bool = True


def same_org(actor, target) -> bool:
    return (actor is not None and target is not None
            and actor.organization_id == target.organization_id)


def is_self(actor, target) -> bool:
    return actor.user_id == target.user_id


def may_view_team(actor) -> bool:
    """The team list and member pages are for owners and admins."""
    return actor is not None and actor.role in MANAGERS


def may_view_org_activity(actor) -> bool:
    return actor is not None and actor.role in MANAGERS


def may_view(actor, target) -> bool:
    """A member's page: owners and admins of the same organisation (owners' pages read-only)."""
    return same_org(actor, target) and may_view_team(actor)


def may_edit(actor, target) -> bool:
    """Change another person's profile or reset their two-factor authentication."""
    if not may_view(actor, target) or is_self(actor, target):
        return False
    if actor.role == "owner":
        return True
    # Admins need the permission, and never act on owners.
    return bool(actor.can_edit_team_profiles) and target.role != "owner"


def may_impersonate(actor, target) -> bool:
    """"Login as": like editing, but never as an owner (not even by another owner)."""
    return may_edit(actor, target) and target.role != "owner"


def may_manage_access(actor, target) -> bool:
    """Roles and permissions: owners only, and not their own (no self-demotion lockout)."""
    return same_org(actor, target) and actor.role == "owner" and not is_self(actor, target)


def status(decision, actor, target) -> int:
    """The HTTP answer for a decision: 404 outside the organisation, 403 when refused."""
    if not same_org(actor, target):
        return NOT_FOUND
    return OK if decision(actor, target) else FORBIDDEN


def may_invite(actor) -> bool:
    """Invitations: owners, and admins who can edit team profiles."""
    return actor is not None and (actor.role == "owner" or (
        actor.role == "admin" and bool(actor.can_edit_team_profiles)))


def roles_to_invite(actor) -> tuple[str, ...]:
    """The roles the actor may give an invitee: admins never invite owners."""
    if not may_invite(actor):
        return ()
    return ("owner", "admin", "member") if actor.role == "owner" else ("admin", "member")


def may_handle_invitation(actor, role: str) -> bool:
    """Resend or revoke a pending invitation: whoever could have sent one for that role."""
    return role in roles_to_invite(actor)


def may_remove(actor, target) -> bool:
    """"Remove from team": owners remove anyone but themselves; admins who can edit team
    profiles remove members only.

    The last owner is protected where the removal is written (it counts the owners left).
    """
    if not same_org(actor, target) or is_self(actor, target):
        return False
    if actor.role == "owner":
        return True
    return (actor.role == "admin" and bool(actor.can_edit_team_profiles)
            and target.role == "member")


def may_manage_rules(actor) -> bool:
    """The organisation's security rules (Settings > Team > Security rules): owners only."""
    return actor is not None and actor.role == "owner"
