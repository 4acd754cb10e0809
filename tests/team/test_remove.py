"""Remove from team: who may, what it ends, what stays (no JavaScript and htmx)."""

import threading

import pytest
from conftest import HTMX, PASSWORD, csrf, outbox, post, signin, user

from webapp.cli import create_user
from webapp.extensions import db
from webapp.models import AuditEvent, Membership, UserSession


def remove(client, email, *, htmx=False, token_from="/settings/team"):
    return post(client, f"/settings/team/{user(email).id}/remove", {}, htmx=htmx,
                token_from=token_from)


def seat(email):
    with db.connection_context():
        return Membership.get(Membership.user == user(email).id)


def live_sessions(email):
    with db.connection_context():
        return (UserSession.select()
                .where((UserSession.user == user(email).id) & UserSession.revoked_at.is_null())
                .count())


def test_remove_without_javascript(app, owner_client, dbconn):
    mia = user("member@example.com")
    page = owner_client.get(f"/settings/team/{mia.id}").get_data(as_text=True)
    assert 'data-action="remove"' in page
    confirm = owner_client.get(f"/settings/team/{mia.id}/remove").get_data(as_text=True)
    assert "Remove Mia Member from Aesthetix Demo?" in confirm and "<h1" in confirm
    # Mia is signed in on two browsers.
    first, second = app.test_client(), app.test_client()
    signin(first)
    signin(second)
    assert live_sessions("member@example.com") == 2
    r = remove(owner_client, "member@example.com")
    assert r.status_code == 303 and r.headers["Location"] == "/settings/team"
    listing = owner_client.get("/settings/team").get_data(as_text=True)
    assert "was removed from the team" in listing and "member@example.com" not in listing
    assert seat("member@example.com").removed_at is not None
    assert live_sessions("member@example.com") == 0
    # Her browsers are signed out and told why.
    r = first.get("/settings/profile")
    assert r.status_code == 303 and r.headers["Location"].startswith("/login")
    assert 'data-signed-out="removed"' in first.get("/login").get_data(as_text=True)
    # The right password gets a clear refusal; the wrong one the usual answer.
    fresh = app.test_client()
    r = fresh.post("/login", data={"email": "member@example.com", "password": PASSWORD,
                                   "csrf_token": csrf(fresh)})
    assert r.status_code == 403 and "You were removed from your team" in r.get_data(as_text=True)
    assert "pending_login" not in fresh.get_cookie("session").value if fresh.get_cookie(
        "session") else True
    r = fresh.post("/login", data={"email": "member@example.com", "password": "wrong" * 4,
                                   "csrf_token": csrf(fresh)})
    assert r.status_code == 422 and "removed" not in r.get_data(as_text=True)
    # History stays: the removal, and her earlier sign-ins, in the team's Activity.
    notice = outbox("email", "member@example.com")[-1]
    assert "You were removed from Aesthetix Demo" in notice.subject
    row = AuditEvent.get(AuditEvent.event == "member.removed")
    assert (row.actor_id, row.subject_id) == (user("owner@example.com").id, mia.id)
    assert row.data["sessions_revoked"] == 2 and row.organization_id is not None
    log = owner_client.get("/settings/activity").get_data(as_text=True)
    assert 'data-event="member.removed"' in log and "Removed from the team" in log
    refused = AuditEvent.select().where((AuditEvent.event == "login.failed")
                                        & (AuditEvent.subject == mia.id)).order_by(AuditEvent.id)
    assert refused[0].organization_id == row.organization_id  # filed under the team still
    csv = owner_client.get("/settings/activity/export.csv").get_data(as_text=True)
    assert "member.removed" in csv and "As Member, 2 devices signed out" in csv
    # The removed person's page is gone: 404, like someone outside the team.
    assert owner_client.get(f"/settings/team/{mia.id}").status_code == 404
    assert remove(owner_client, "member@example.com").status_code == 404


def test_remove_with_htmx(app, admin_client, dbconn):
    mia = user("member@example.com")
    r = admin_client.get(f"/settings/team/{mia.id}/remove", headers=HTMX)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<dialog" in body and 'hx-post="/settings/team/' in body
    r = remove(admin_client, "member@example.com", htmx=True)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/settings/team"
    assert seat("member@example.com").removed_at is not None


def test_a_code_waiting_when_removed_does_not_sign_in(app, owner_client, dbconn):
    """Password given before the removal, code entered after it: no session."""
    from conftest import last_code

    mia_browser = app.test_client()
    r = mia_browser.post("/login", data={"email": "member@example.com", "password": PASSWORD,
                                         "csrf_token": csrf(mia_browser)})
    url = r.headers["Location"]
    token = csrf(mia_browser, url)
    mia_browser.post(url + "/channel", data={"channel": "email", "csrf_token": token})
    code = last_code("member@example.com")
    assert remove(owner_client, "member@example.com").status_code == 303
    r = mia_browser.post(url + "/code", data={"code": code, "csrf_token": token})
    assert r.status_code >= 400
    assert live_sessions("member@example.com") == 0


@pytest.mark.parametrize("actor, target, status", [
    ("member@example.com", "casey@example.com", 403),   # members remove no one
    ("admin@example.com", "owner@example.com", 403),    # admins never remove owners
    ("admin@example.com", "admin2@example.com", 403),   # nor other admins
    ("owner@example.com", "owner@example.com", 403),    # nor anyone themselves
    ("owner@example.com", "stranger@elsewhere.example", 404),  # another organisation
])
def test_who_may_remove(app, dbconn, other_org, actor, target, status):
    with app.app_context(), db.connection_context():
        create_user("admin2@example.com", PASSWORD, name="Ada Two", org_name="Aesthetix Demo",
                    role="admin", email_verified=True)
    client = app.test_client()
    signin(client, actor)
    assert client.get(f"/settings/team/{user(target).id}/remove").status_code == status
    assert remove(client, target, token_from="/settings/profile").status_code == status
    assert seat(target).removed_at is None
    denied = AuditEvent.select().where((AuditEvent.event == "authz.denied")
                                       & (AuditEvent.outcome == "denied"))
    assert any(e.data.get("action") == "remove_member" for e in denied)


def test_admin_without_team_permission_removes_no_one(app, admin_client, dbconn):
    Membership.update(can_edit_team_profiles=False).where(
        Membership.user == user("admin@example.com").id).execute()
    assert remove(admin_client, "member@example.com").status_code == 403
    assert seat("member@example.com").removed_at is None


def test_owners_removing_each_other_at_once_leave_one(app, dbconn):
    """Two owners, each removing the other at the same moment: the team keeps an owner."""
    with app.app_context(), db.connection_context():
        create_user("owner2@example.com", PASSWORD, name="Otto Two", org_name="Aesthetix Demo",
                    role="owner", email_verified=True)
    a, b = app.test_client(), app.test_client()
    signin(a, "owner@example.com")
    signin(b, "owner2@example.com")
    tokens = {a: csrf(a, "/settings/team"), b: csrf(b, "/settings/team")}
    targets = {a: user("owner2@example.com").id, b: user("owner@example.com").id}
    barrier, results = threading.Barrier(2), {}

    def go(client):
        barrier.wait()
        results[client] = client.post(f"/settings/team/{targets[client]}/remove",
                                      data={"csrf_token": tokens[client]}).status_code

    threads = [threading.Thread(target=go, args=(c,)) for c in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.connection_context():
        owners = (Membership.select().where((Membership.role == "owner")
                                            & Membership.removed_at.is_null()).count())
    assert owners == 1
    # The loser was either refused (409: last owner) or already signed out (its session
    # was revoked by the winner first: sent to sign in).
    assert sorted(results.values())[0] == 303
    assert sorted(results.values())[1] in (303, 404, 409)
    assert AuditEvent.select().where(AuditEvent.event == "member.removed").count() == 1


def test_the_last_owner_is_refused_at_the_write(app, dbconn):
    """The write itself refuses the last owner, whatever the route decided."""
    from webapp.models import utcnow
    from webapp.team import effects

    target = Membership.get(Membership.user == user("owner@example.com").id)
    with app.test_request_context():
        with pytest.raises(effects.LastOwner):
            effects.remove_member(target, user("admin@example.com"), utcnow())
    assert seat("owner@example.com").removed_at is None


def test_removal_is_refused_during_login_as(app, owner_client, dbconn):
    post(owner_client, f"/settings/team/{user('member@example.com').id}/login-as", {},
         token_from="/settings/team")
    r = remove(owner_client, "casey@example.com", token_from="/settings/profile")
    assert r.status_code == 403
    assert seat("casey@example.com").removed_at is None
