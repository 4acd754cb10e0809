"""Team invitations: invite, list, resend, revoke, join, and every way a link is refused."""

import re
import threading

import pytest
from conftest import HTMX, PASSWORD, csrf, last_code, outbox, post, signin, user, verify_by_email

from webapp import config
from webapp.cli import create_user
from webapp.extensions import db
from webapp.models import AuditEvent, Invitation, Link, Membership, User

NEW_PASSWORD = "violet tractor harbour 42"
JOIN_RE = re.compile(r"https?://[^/\s]+(/join/[\w-]+)")


def invite(client, email="new.person@example.com", role="member", *, htmx=False):
    return post(client, "/settings/team", {"email": email, "role": role}, htmx=htmx,
                token_from="/settings/team")


def invite_verified(client, email, role, *, inviter="owner@example.com"):
    """Invite an owner or admin: the inviter verifies it's them with an email code first."""
    r = invite(client, email, role)
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/"), r.status_code
    return verify_by_email(client, r.headers["Location"].rsplit("/", 1)[1], inviter)


def join_path(to="new.person@example.com") -> str:
    mail = outbox("email", to)[-1]
    match = JOIN_RE.search(mail.body)
    assert match, mail.body
    return match.group(1)


def join(client, path, name="Nina New", password=NEW_PASSWORD, confirm=None, htmx=False):
    token = csrf(client, "/login")  # a refused link's page has no form
    return client.post(path, data={"name": name, "new_password": password,
                                   "confirm_password": confirm or password,
                                   "csrf_token": token}, headers=HTMX if htmx else {})


def invitation(email="new.person@example.com"):
    with db.connection_context():
        return Invitation.select().where(Invitation.email == email).order_by(
            Invitation.id.desc()).first()


def test_invite_join_and_sign_in_without_javascript(app, owner_client, client, dbconn):
    page = owner_client.get("/settings/team").get_data(as_text=True)
    assert 'data-action="invite"' in page and "No pending invitations." in page
    form = owner_client.get("/settings/team/invite").get_data(as_text=True)
    assert "<h1" in form and 'name="email"' in form and 'value="owner"' in form
    days = config.DEFAULTS["LINK_INVITATION_SECONDS"] // 86400
    assert f"valid for {days} days" in form
    r = invite_verified(owner_client, "New.Person@Example.com", "admin")
    assert r.status_code == 303 and r.headers["Location"] == "/settings/team"
    page = owner_client.get("/settings/team").get_data(as_text=True)
    assert "Invitation sent to new.person@example.com." in page
    assert 'data-email="new.person@example.com"' in page and 'data-role="admin"' in page
    mail = outbox("email", "new.person@example.com")[-1]
    assert "Olivia Owner invited you to join Aesthetix Demo" in mail.subject
    assert f"for {days} days" in mail.body
    path = join_path()
    # Only the link's digest is stored.
    assert not Link.select().where(Link.token_hash.contains(path.rsplit("/", 1)[1])).exists()
    page = client.get(path)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Join Aesthetix Demo" in body
    assert "new.person@example.com" in body
    # The rules of Change password.
    r = join(client, path, password="password1")
    assert r.status_code == 422 and "Use at least" in r.get_data(as_text=True)
    r = join(client, path, password="passwordpassword1")
    assert r.status_code == 422 and "too easy to guess" in r.get_data(as_text=True)
    r = join(client, path, password="new.person@example.com")
    assert r.status_code == 422 and "Don&#39;t use your name" in r.get_data(as_text=True)
    r = join(client, path, confirm=NEW_PASSWORD + "x")
    assert r.status_code == 422 and "don&#39;t match" in r.get_data(as_text=True)
    r = join(client, path, name="Nina\u202eNew")
    assert r.status_code == 422
    assert User.by_email("new.person@example.com") is None  # nothing half-applied
    r = join(client, path)
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    assert "Welcome to Aesthetix Demo" in client.get("/login").get_data(as_text=True)
    nina = User.by_email("new.person@example.com")
    assert nina.name == "Nina New" and nina.email_verified
    seat = Membership.get(Membership.user == nina.id)
    assert seat.role == "admin" and not seat.can_edit_team_profiles
    assert invitation().accepted_at is not None and invitation().user_id == nina.id
    # Sign in as usual: password, then the email code.
    signin(client, "new.person@example.com", NEW_PASSWORD)
    assert client.get("/settings/profile").status_code == 200
    # The used link is refused now, and the pending list no longer shows it.
    other = app.test_client()
    r = other.get(path)
    assert r.status_code == 404 and "can&#39;t be used" in r.get_data(as_text=True)
    page = owner_client.get("/settings/team").get_data(as_text=True)
    assert "data-invitation=" not in page and "new.person@example.com" in page
    # Activity: sent and joined, in words, and in the CSV.
    log = owner_client.get("/settings/activity").get_data(as_text=True)
    assert 'data-event="invitation.sent"' in log and 'data-event="member.joined"' in log
    assert "n***@example.com as Admin" in log
    csv = owner_client.get("/settings/activity/export.csv").get_data(as_text=True)
    assert "invitation.sent" in csv and "member.joined" in csv
    assert "new.person@example.com" in csv  # the joined member is the subject


def test_invite_with_htmx(app, admin_client, dbconn):
    r = admin_client.get("/settings/team/invite", headers=HTMX)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<dialog" in body
    # Admins can't invite owners: not offered, and refused when posted.
    assert 'value="owner"' not in body and 'value="admin"' in body
    r = invite(admin_client, "bad", htmx=True)
    assert r.status_code == 422 and "valid email" in r.get_data(as_text=True)
    assert "<dialog" not in r.get_data(as_text=True)  # the form alone, in place
    r = invite(admin_client, "x@example.com", "owner", htmx=True)
    assert r.status_code == 422 and invitation("x@example.com") is None
    r = invite(admin_client, htmx=True)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and 'hx-swap-oob="true"' in body
    assert 'data-email="new.person@example.com"' in body
    events = r.headers["HX-Trigger"]
    assert "closeModal" in events and "Invitation sent to new.person@example.com." in events
    # Joining with htmx: errors in place, success an HX-Redirect to sign in.
    browser = app.test_client()
    path = join_path()
    r = join(browser, path, password="short", htmx=True)
    assert r.status_code == 422 and 'id="join"' in r.get_data(as_text=True)
    r = join(browser, path, htmx=True)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/login"


def test_resend_voids_the_earlier_link(app, owner_client, client, dbconn):
    invite(owner_client)
    first = join_path()
    inv = invitation()
    r = post(owner_client, f"/settings/team/invitations/{inv.id}/resend", {},
             token_from="/settings/team")
    assert r.status_code == 303
    second = join_path()
    assert second != first and invitation().sends == 2
    assert client.get(first).status_code == 404
    assert join(client, first).status_code == 404
    assert User.by_email("new.person@example.com") is None
    refused = AuditEvent.get(AuditEvent.event == "invitation.refused")
    assert refused.data["reason"] == "replaced" and refused.organization_id is not None
    assert join(client, second).status_code == 303
    r = post(owner_client, f"/settings/team/invitations/{inv.id}/resend", {},
             token_from="/settings/team")
    assert r.status_code == 404  # accepted: nothing to resend


def test_revoke(app, owner_client, client, dbconn):
    invite(owner_client)
    path = join_path()
    inv = invitation()
    r = post(owner_client, f"/settings/team/invitations/{inv.id}/revoke", {}, htmx=True,
             token_from="/settings/team")
    assert r.status_code == 200 and "No pending invitations." in r.get_data(as_text=True)
    assert invitation().revoked_at is not None
    assert client.get(path).status_code == 404
    assert join(client, path).status_code == 404
    assert User.by_email("new.person@example.com") is None
    log = owner_client.get("/settings/activity").get_data(as_text=True)
    assert 'data-event="invitation.revoked"' in log


def test_expired_link(app, owner_client, client, clock, dbconn):
    invite(owner_client)
    path = join_path()
    clock.advance(config.DEFAULTS["LINK_INVITATION_SECONDS"] - 60)
    assert client.get(path).status_code == 200
    clock.advance(120)
    assert client.get(path).status_code == 404
    assert join(client, path).status_code == 404
    owner_client = app.test_client()  # a week later: the owner's session ended long ago
    signin(owner_client, "owner@example.com")
    assert 'data-expired' in owner_client.get("/settings/team").get_data(as_text=True)
    # Resend gives a fresh week.
    post(owner_client, f"/settings/team/invitations/{invitation().id}/resend", {},
         token_from="/settings/team")
    assert join(client, join_path()).status_code == 303


@pytest.mark.parametrize("path", ["/join/x", "/join/" + "A" * 43, "/join/" + "A" * 500])
def test_unknown_or_malformed_tokens(client, path):
    assert client.get(path).status_code == 404
    assert join(client, "/join/" + "B" * 43).status_code == 404


def test_a_link_of_another_purpose_is_refused(app, client, dbconn):
    from webapp import links

    with app.test_request_context():
        token = links.issue(links.SECURE_ACCOUNT, user=user("member@example.com"),
                            data={"invitation": 1, "send": 1})
    assert client.get(f"/join/{token}").status_code == 404


def test_twenty_parallel_joins_make_one_account(app, owner_client, dbconn):
    invite(owner_client)
    path = join_path()
    clients = [app.test_client() for _ in range(20)]
    tokens = [csrf(c, "/login") for c in clients]
    barrier, statuses = threading.Barrier(20), []

    def go(i):
        barrier.wait()
        r = clients[i].post(path, data={"name": f"Racer {i}", "new_password": NEW_PASSWORD,
                                        "confirm_password": NEW_PASSWORD,
                                        "csrf_token": tokens[i]})
        statuses.append(r.status_code)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [303] + [404] * 19
    with db.connection_context():
        assert User.select().where(User.email == "new.person@example.com").count() == 1
        assert Membership.select().join(User).where(
            User.email == "new.person@example.com").count() == 1
        assert AuditEvent.select().where(AuditEvent.event == "member.joined").count() == 1


@pytest.mark.parametrize("actor, status", [("member@example.com", 403)])
def test_members_cannot_invite(app, dbconn, actor, status):
    client = app.test_client()
    signin(client, actor)
    assert client.get("/settings/team/invite").status_code == status
    r = post(client, "/settings/team", {"email": "x@example.com", "role": "member"})
    assert r.status_code == status and invitation("x@example.com") is None


def test_admin_without_team_permission_cannot_invite(app, admin_client, dbconn):
    Membership.update(can_edit_team_profiles=False).where(
        Membership.user == user("admin@example.com").id).execute()
    assert invite(admin_client).status_code == 403
    page = admin_client.get("/settings/team").get_data(as_text=True)
    assert 'data-action="invite"' not in page


def test_admin_cannot_resend_or_revoke_an_owner_invitation(app, owner_client, admin_client,
                                                           dbconn):
    invite_verified(owner_client, "boss@example.com", "owner")
    inv = invitation("boss@example.com")
    page = admin_client.get("/settings/team").get_data(as_text=True)
    assert 'data-email="boss@example.com"' in page
    assert 'data-action="revoke-invitation"' not in page
    for action in ("resend", "revoke"):
        r = post(admin_client, f"/settings/team/invitations/{inv.id}/{action}", {},
                 token_from="/settings/team")
        assert r.status_code == 403
    assert invitation("boss@example.com").revoked_at is None
    assert invitation("boss@example.com").sends == 1


def test_another_organisations_invitation_is_not_found(app, owner_client, other_org, dbconn):
    with app.app_context():
        create_user("boss@elsewhere.example", PASSWORD, org_name="Elsewhere Ltd", role="owner",
                    email_verified=True)
    elsewhere = app.test_client()
    signin(elsewhere, "boss@elsewhere.example")
    invite(elsewhere, "their.pick@example.com")
    inv = invitation("their.pick@example.com")
    for action in ("resend", "revoke"):
        r = post(owner_client, f"/settings/team/invitations/{inv.id}/{action}", {},
                 token_from="/settings/team")
        assert r.status_code == 404
    page = owner_client.get("/settings/team").get_data(as_text=True)
    assert "their.pick@example.com" not in page


def test_an_address_in_use_elsewhere_gets_the_same_answer(app, owner_client, other_org,
                                                          dbconn):
    """The inviter can't tell an address with an account elsewhere from a new one."""
    r_new = invite(owner_client, "fresh@example.com", htmx=True)
    r_used = invite(owner_client, "stranger@elsewhere.example", htmx=True)

    def shape(r, email):
        body = r.get_data(as_text=True)
        body = re.sub(r'data-invitation="\d+"', "", body)
        body = re.sub(r"/invitations/\d+/", "/invitations/N/", body)
        return (r.status_code, r.headers["HX-Trigger"].replace(email, "E"))

    assert shape(r_new, "fresh@example.com") == shape(r_used, "stranger@elsewhere.example")
    page = owner_client.get("/settings/team").get_data(as_text=True)
    assert 'data-email="stranger@elsewhere.example"' in page
    assert 'data-email="fresh@example.com"' in page
    # Only the address's owner learns why: no link, and no organisation named but ours.
    mail = outbox("email", "stranger@elsewhere.example")[-1]
    assert "already has an Aesthetix CRM account" in mail.body
    assert "/join/" not in mail.body and "Elsewhere" not in mail.body
    # An active member of this team is visible on the page anyway: said so in the form.
    r = invite(owner_client, "member@example.com")
    assert r.status_code == 422 and "already in your team" in r.get_data(as_text=True)


def test_an_address_with_an_account_cannot_join_later(app, owner_client, dbconn):
    """The address got an account after the invitation: nothing is applied, a clear 409."""
    invite(owner_client, "late@example.com")
    path = join_path("late@example.com")
    with app.app_context():
        create_user("late@example.com", PASSWORD, org_name="Elsewhere Ltd")
    browser = app.test_client()
    r = join(browser, path)
    assert r.status_code == 409 and "already has an Aesthetix CRM account" in r.get_data(
        as_text=True)
    assert invitation("late@example.com").accepted_at is None


def test_a_second_invitation_while_one_is_pending(app, owner_client, dbconn):
    invite(owner_client)
    r = invite(owner_client)
    assert r.status_code == 422 and "pending invitation" in r.get_data(as_text=True)


@pytest.mark.config(LINK_SENDS_PER_ADDRESS="2 per hour")
def test_sending_limits(app, owner_client, dbconn):
    invite(owner_client)
    inv = invitation()
    url = f"/settings/team/invitations/{inv.id}/resend"
    assert post(owner_client, url, {}, token_from="/settings/team").status_code == 303
    r = post(owner_client, url, {}, token_from="/settings/team")
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert invitation().sends == 2
    assert len(outbox("email", "new.person@example.com")) == 2


@pytest.mark.config(INVITATIONS_PER_ORGANIZATION="2 per day")
def test_organisation_daily_limit(app, owner_client, dbconn):
    assert invite(owner_client, "a@example.com").status_code == 303
    assert invite(owner_client, "b@example.com").status_code == 303
    r = invite(owner_client, "c@example.com")
    assert r.status_code == 429 and "Too many invitations" in r.get_data(as_text=True)
    assert invitation("c@example.com") is None and not outbox("email", "c@example.com")


def test_invitations_refused_during_login_as(app, owner_client, dbconn):
    post(owner_client, f"/settings/team/{user('member@example.com').id}/login-as", {},
         token_from="/settings/team")
    r = post(owner_client, "/settings/team", {"email": "x@example.com", "role": "member"},
             token_from="/settings/profile")
    assert r.status_code == 403 and invitation("x@example.com") is None


def test_the_joined_member_signs_in_with_the_email_code(app, owner_client, dbconn):
    invite(owner_client)
    browser = app.test_client()
    join(browser, join_path())
    r = browser.post("/login", data={"email": "new.person@example.com",
                                     "password": NEW_PASSWORD, "csrf_token": csrf(browser)})
    assert r.status_code == 303 and "/verify/" in r.headers["Location"]
    # No session before the second step.
    assert browser.get("/settings/profile").status_code == 303
    assert last_code  # the helper used by signin() reads the code from the outbox
