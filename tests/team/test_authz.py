"""The pure permission decisions, without a client."""

import pytest

from webapp.team import authz
from webapp.team.authz import Seat

ORG, OTHER = 1, 2
OWNER = Seat(1, ORG, "owner", True)
OWNER2 = Seat(2, ORG, "owner", True)
ADMIN = Seat(3, ORG, "admin", True)
ADMIN_NO_PERM = Seat(4, ORG, "admin", False)
MEMBER = Seat(5, ORG, "member")
MEMBER2 = Seat(6, ORG, "member")
STRANGER = Seat(7, OTHER, "member")
STRANGE_ADMIN = Seat(8, OTHER, "admin", True)


@pytest.mark.parametrize("actor, target, view, edit, impersonate, manage", [
    (OWNER, MEMBER, True, True, True, True),
    (OWNER, ADMIN, True, True, True, True),
    (OWNER, OWNER2, True, True, False, True),      # owners may edit owners, never "Login as"
    (OWNER, OWNER, True, False, False, False),     # not on oneself
    (ADMIN, MEMBER, True, True, True, False),
    (ADMIN, ADMIN_NO_PERM, True, True, True, False),
    (ADMIN, OWNER, True, False, False, False),     # admins never act on owners
    (ADMIN, ADMIN, True, False, False, False),
    (ADMIN_NO_PERM, MEMBER, True, False, False, False),
    (MEMBER, MEMBER2, False, False, False, False),
    (MEMBER, MEMBER, False, False, False, False),
    (ADMIN, STRANGER, False, False, False, False),
    (STRANGE_ADMIN, MEMBER, False, False, False, False),
    (None, MEMBER, False, False, False, False),
    (ADMIN, None, False, False, False, False),
])
def test_decisions(actor, target, view, edit, impersonate, manage):
    assert authz.may_view(actor, target) is view
    assert authz.may_edit(actor, target) is edit
    assert authz.may_impersonate(actor, target) is impersonate
    assert authz.may_manage_access(actor, target) is manage


@pytest.mark.parametrize("actor, target, expected", [
    (MEMBER, MEMBER2, 403),
    (ADMIN, STRANGER, 404),
    (ADMIN, OWNER, 403),
    (ADMIN, None, 404),
    (OWNER, MEMBER, 200),
    (OWNER, ADMIN, 200),
    (STRANGE_ADMIN, ADMIN, 404),
])
def test_status_for_editing(actor, target, expected):
    assert authz.status(authz.may_edit, actor, target) == expected


def test_team_and_org_activity_are_for_owners_and_admins():
    assert authz.may_view_team(OWNER) and authz.may_view_team(ADMIN_NO_PERM)
    assert not authz.may_view_team(MEMBER) and not authz.may_view_team(None)
    assert authz.may_view_org_activity(ADMIN) and not authz.may_view_org_activity(MEMBER)
