"""Authorization on every team route, by path, form fields and hx-vals; nothing changes."""


import pytest
from conftest import HTMX, csrf, user, without_csrf_tokens

from webapp.extensions import db
from webapp.models import AuditEvent, Challenge, Membership, OutboxMessage, User, UserSession

ACTIONS = {
    "view": ("get", "/settings/team/{id}", {}),
    "personal": ("get", "/settings/team/{id}/personal", {}),
    "update": ("post", "/settings/team/{id}", {"name": "Hacked", "phone": "+12025550177"}),
    "access": ("post", "/settings/team/{id}/access",
               {"role": "owner", "can_edit_team_profiles": "y", "can_edit_own_profile": "y"}),
    "reset_2fa": ("post", "/settings/team/{id}/reset-2fa", {}),
    "login_as": ("post", "/settings/team/{id}/login-as", {}),
}
EDITS = ("update", "access", "reset_2fa", "login_as")


def snapshot():
    """Everything a team action could change."""
    with db.connection_context():
        return (
            [(u.id, u.name, u.email, u.phone, u.totp_secret)
             for u in User.select().order_by(User.id)],
            [(m.id, m.role, m.can_edit_team_profiles, m.can_edit_own_profile)
             for m in Membership.select().order_by(Membership.id)],
            Challenge.select().count(),
            OutboxMessage.select().count(),
            UserSession.select().where(UserSession.impersonator.is_null(False)).count(),
            AuditEvent.select().where(AuditEvent.event.in_(
                ["phone.changed", "name.changed", "membership.changed",
                 "impersonation.started", "totp.disabled"])).count(),
        )


def act(client, action, target_id, htmx=False, extra=None):
    method, path, data = ACTIONS[action]
    url = path.format(id=target_id)
    headers = HTMX if htmx else {}
    if method == "get":
        return client.get(url, headers=headers)
    data = dict(data, **(extra or {}))
    data["csrf_token"] = csrf(client, "/settings/profile")
    return client.post(url, data=data, headers=headers)


@pytest.fixture
def clients(app):
    from conftest import signin

    made = {}
    for name in ("owner", "admin", "member"):
        c = app.test_client()
        signin(c, f"{name}@example.com")
        made[name] = c
    return made


def _ids(other_org):
    return {
        "owner": user("owner@example.com").id,
        "admin": user("admin@example.com").id,
        "member": user("member@example.com").id,
        "casey": user("casey@example.com").id,
        "stranger": other_org.id,
        "missing": 999_999,
    }


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("actor, target, actions, status", [
    ("member", "casey", list(ACTIONS), 403),        # member -> other member
    ("member", "member", list(ACTIONS), 403),       # members use My Profile
    ("member", "stranger", list(ACTIONS), 404),
    ("admin", "stranger", list(ACTIONS), 404),      # admin -> other organisation
    ("admin", "missing", list(ACTIONS), 404),       # admin -> non-existent id
    ("admin", "owner", list(EDITS), 403),           # admin -> owner
    ("admin", "admin", list(EDITS), 403),           # admin -> self
    ("owner", "owner", list(EDITS), 403),           # owner -> self
    ("admin", "member", ["access"], 403),           # roles are for owners
])
def test_refused_and_nothing_changed(clients, other_org, actor, target, actions, status, htmx):
    ids = _ids(other_org)
    for action in actions:
        before = snapshot()
        r = act(clients[actor], action, ids[target], htmx=htmx)
        assert r.status_code == status, (action, r.status_code)
        assert snapshot() == before, action
        body = r.get_data(as_text=True)
        assert "Hacked" not in body and "stranger@elsewhere" not in body


def test_not_found_gives_no_hint(clients, other_org):
    ids = _ids(other_org)
    missing = act(clients["admin"], "view", ids["missing"]).get_data(as_text=True)
    stranger = act(clients["admin"], "view", ids["stranger"]).get_data(as_text=True)
    # The pages' CSRF tokens carry the second they were signed in; nothing else may differ.
    assert "csrf" in missing
    assert without_csrf_tokens(missing) == without_csrf_tokens(stranger)


def test_denials_are_audited(clients, other_org, dbconn):
    act(clients["admin"], "update", _ids(other_org)["stranger"])
    row = AuditEvent.get(AuditEvent.event == "authz.denied")
    assert row.actor_id == user("admin@example.com").id and row.outcome == "denied"
    assert row.data["status"] == 404 and row.data["action"] == "edit_member"


@pytest.mark.parametrize("field", ["user_id", "member_id", "id", "subject"])
def test_body_and_hx_vals_cannot_redirect_an_action(clients, field):
    """The path names the target; smuggled ids in the body (or hx-vals) are ignored."""
    owner_id, member_id = user("owner@example.com").id, user("member@example.com").id
    # Allowed path, smuggled owner id: only the member's name changes.
    r = act(clients["admin"], "update", member_id, htmx=True,
            extra={field: owner_id, "phone": "+12025550103", "name": "Renamed"})
    assert r.status_code == 200
    assert user("member@example.com").name == "Renamed"
    assert user("owner@example.com").name == "Olivia Owner"
    # Refused path, smuggled allowed id (as hx-vals would send it): still refused.
    before = snapshot()
    r = act(clients["admin"], "update", owner_id, htmx=True, extra={field: member_id})
    assert r.status_code == 403 and snapshot() == before
    r = act(clients["admin"], "login_as", owner_id, htmx=True, extra={field: member_id})
    assert r.status_code == 403 and snapshot() == before


def test_admin_without_permission_cannot_edit(clients):
    with db.connection_context():
        Membership.update(can_edit_team_profiles=False).where(
            Membership.user == user("admin@example.com").id).execute()
    member_id = user("member@example.com").id
    assert act(clients["admin"], "view", member_id).status_code == 200
    for action in EDITS:
        before = snapshot()
        assert act(clients["admin"], action, member_id).status_code == 403
        assert snapshot() == before


def test_owner_may_act_on_anyone_in_the_org(clients):
    for name in ("admin", "member", "casey"):
        target = user(f"{name}@example.com").id
        assert act(clients["owner"], "view", target).status_code == 200
        r = act(clients["owner"], "update", target,
                extra={"name": f"{name} renamed", "phone": user(f"{name}@example.com").phone})
        assert r.status_code == 303
        assert user(f"{name}@example.com").name == f"{name} renamed"


def test_owner_manages_roles_and_permissions(clients, dbconn):
    admin_id = user("admin@example.com").id
    r = act(clients["owner"], "access", admin_id,
            extra={"role": "admin", "can_edit_team_profiles": "", "can_edit_own_profile": "y"})
    assert r.status_code == 303
    m = Membership.get(Membership.user == admin_id)
    assert (m.role, m.can_edit_team_profiles) == ("admin", False)
    # The withdrawn permission takes effect at once.
    assert act(clients["admin"], "update", user("member@example.com").id).status_code == 403
    member_id = user("member@example.com").id
    r = act(clients["owner"], "access", member_id, htmx=True,
            extra={"role": "member", "can_edit_team_profiles": "y", "can_edit_own_profile": ""})
    assert r.status_code == 200 and "Access updated" in r.headers["HX-Trigger"]
    m = Membership.get(Membership.user == member_id)
    assert (m.can_edit_team_profiles, m.can_edit_own_profile) == (False, False)
    row = AuditEvent.get(AuditEvent.event == "membership.changed", AuditEvent.subject == member_id)
    assert row.actor_id == user("owner@example.com").id


def test_bad_role_is_refused(clients, dbconn):
    before = snapshot()
    r = act(clients["owner"], "access", user("member@example.com").id,
            extra={"role": "superuser"})
    assert r.status_code == 422 and snapshot() == before
