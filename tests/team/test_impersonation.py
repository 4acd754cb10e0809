""""Login as": the banner, refusals while impersonating, every event names both, exit, expiry."""

import datetime as dt
import re

import pytest
from conftest import HTMX, csrf, post, signin, user

from webapp.extensions import db
from webapp.models import (
    SUSPENDED,
    AuditEvent,
    BackupCode,
    PendingTotp,
    User,
    UserSession,
    utcnow,
)


def login_as(client, email="member@example.com", htmx=False):
    target = user(email).id
    return post(client, f"/settings/team/{target}/login-as", {}, htmx=htmx,
                token_from="/settings/team")


def live_sessions(email):
    with db.connection_context():
        return list(UserSession.select().where(
            (UserSession.user == user(email).id) & UserSession.revoked_at.is_null()))


@pytest.fixture
def as_member(admin_client):
    r = login_as(admin_client)
    assert r.status_code == 303 and r.headers["Location"] == "/settings/profile"
    return admin_client


def test_login_as_acts_as_the_member_with_a_banner(as_member, dbconn):
    html = as_member.get("/settings/profile").get_data(as_text=True)
    assert "data-impersonation" in html
    assert "You are signed in as Mia Member (member@example.com)" in html
    assert 'action="/impersonation/exit"' in html
    assert 'data-field="email">member@example.com' in html
    (row,) = live_sessions("member@example.com")[-1:]
    assert row.impersonator_id == user("admin@example.com").id
    assert (row.expires_at - row.created_at) == dt.timedelta(minutes=30)
    started = AuditEvent.get(AuditEvent.event == "impersonation.started")
    assert (started.actor_id, started.subject_id) == (user("admin@example.com").id,
                                                      user("member@example.com").id)
    # The admin's own session is suspended, not ended: the row stays for "Return to your
    # account", but no cookie can reach it meanwhile.
    (parked,) = live_sessions("admin@example.com")
    assert parked.token_hash.startswith(SUSPENDED) and row.parent_id == parked.id
    # The member never signed in: "Login as" is not their sign-in.
    assert user("member@example.com").last_login_at is None


def test_login_as_with_htmx_redirects_the_whole_page(admin_client, dbconn):
    r = login_as(admin_client, htmx=True)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/settings/profile"


def test_login_as_needs_the_csrf_token(admin_client, dbconn):
    r = admin_client.post(f"/settings/team/{user('member@example.com').id}/login-as")
    assert r.status_code == 400
    assert not UserSession.select().where(UserSession.impersonator.is_null(False)).exists()


def _state(email="member@example.com"):
    with db.connection_context():
        u = User.by_email(email)
        return (u.password_hash, u.email, u.phone, u.name, u.totp_secret, u.email_verified_at,
                BackupCode.select().where(BackupCode.user == u.id).count(),
                PendingTotp.select().where(PendingTotp.user == u.id).count())


REFUSED = [
    ("post", "/settings/profile/password", {"current_password": "demo-password-aesthetix",
                                            "new_password": "violet tuesday harbour lantern",
                                            "confirm_password": "violet tuesday harbour lantern"}),
    ("post", "/settings/profile", {"name": "Mia Member", "email": "member@example.com",
                                   "phone": "+12025550177"}),
    ("post", "/settings/profile", {"name": "Mia Member", "email": "evil@example.com",
                                   "phone": "+12025550103"}),
    ("post", "/settings/profile", {"name": "Renamed", "email": "member@example.com",
                                   "phone": "+12025550103"}),
    ("post", "/settings/profile/verify-email", {}),
    ("post", "/settings/profile/verify-phone", {}),
    ("get", "/settings/profile/2fa/setup", {}),
    ("post", "/settings/profile/2fa/setup", {"code": "123456"}),
    ("post", "/settings/profile/2fa/backup-codes", {}),
    ("post", "/settings/profile/2fa/remove", {}),
    ("get", "/settings/team", {}),
    ("get", "/settings/team/{member}", {}),
    ("post", "/settings/team/{casey}/login-as", {}),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("method, path, data", REFUSED)
def test_refused_while_impersonating(as_member, dbconn, method, path, data, htmx):
    path = path.format(member=user("member@example.com").id, casey=user("casey@example.com").id)
    before = _state(), _state("casey@example.com")
    denied = AuditEvent.select().where(AuditEvent.event == "impersonation.denied").count()
    headers = HTMX if htmx else {}
    if method == "get":
        r = as_member.get(path, headers=headers)
    else:
        data = dict(data, csrf_token=csrf(as_member, "/settings/profile"))
        r = as_member.post(path, data=data, headers=headers)
    assert r.status_code == 403, r.get_data(as_text=True)
    body = r.get_data(as_text=True)
    assert "Return to your account first" in body
    assert ("<html" in body) is (not htmx)
    assert (_state(), _state("casey@example.com")) == before
    rows = list(AuditEvent.select().where(AuditEvent.event == "impersonation.denied")
                .order_by(AuditEvent.id))
    assert len(rows) == denied + 1
    assert (rows[-1].actor_id, rows[-1].subject_id) == (user("admin@example.com").id,
                                                        user("member@example.com").id)
    assert rows[-1].outcome == "denied"


def test_owner_impersonating_an_admin_gets_no_team_powers(owner_client, dbconn):
    r = login_as(owner_client, "admin@example.com")
    assert r.status_code == 303
    assert owner_client.get("/settings/team").status_code == 403
    r = post(owner_client, f"/settings/team/{user('member@example.com').id}",
             {"name": "Changed", "phone": "+12025550103"})
    assert r.status_code == 403 and user("member@example.com").name == "Mia Member"


def test_activity_while_impersonating_names_both(as_member, dbconn):
    as_member.post("/settings/profile/password", data={
        "csrf_token": csrf(as_member, "/settings/profile")})
    html = as_member.get("/settings/activity").get_data(as_text=True)
    row = html.split('data-event="impersonation.denied"', 1)[1].split("</tr>", 1)[0]
    assert "admin@example.com" in row and "member@example.com" in row
    # The member's own view, not the organisation's.
    assert "owner@example.com" not in html


def test_exit_returns_to_the_admins_own_original_session(as_member, dbconn):
    mia_id = user("member@example.com").id
    impersonation = live_sessions("member@example.com")[-1]
    (parked,) = live_sessions("admin@example.com")
    r = post(as_member, "/impersonation/exit", {})
    assert r.status_code == 303 and r.headers["Location"] == f"/settings/team/{mia_id}"
    html = as_member.get(r.headers["Location"]).get_data(as_text=True)
    assert "data-impersonation" not in html and "You are back in your own account" in html
    assert 'data-action="login-as"' in html  # the admin's own view again
    with db.connection_context():
        assert UserSession.get_by_id(impersonation.id).revoked_at is not None
    (admin_session,) = live_sessions("admin@example.com")
    assert admin_session.id == parked.id and admin_session.impersonator_id is None
    assert not admin_session.token_hash.startswith(SUSPENDED)
    ended = AuditEvent.get(AuditEvent.event == "impersonation.ended")
    assert (ended.actor_id, ended.subject_id) == (user("admin@example.com").id, mia_id)


def test_exit_without_impersonating_changes_nothing(admin_client, dbconn):
    r = post(admin_client, "/impersonation/exit", {})
    assert r.status_code == 303 and r.headers["Location"] == "/settings/profile"
    assert not AuditEvent.select().where(AuditEvent.event == "impersonation.ended").exists()
    assert len(live_sessions("admin@example.com")) == 1


def test_impersonation_expires_after_thirty_minutes(as_member, dbconn):
    row = live_sessions("member@example.com")[-1]
    assert as_member.get("/settings/profile").status_code == 200
    # Move the clock of the session row past its 30 minutes.
    UserSession.update(expires_at=utcnow() - dt.timedelta(seconds=1)).where(
        UserSession.id == row.id).execute()
    r = as_member.get("/settings/profile")
    assert r.status_code == 303 and "/login" in r.headers["Location"]
    r = as_member.get("/settings/profile", headers=HTMX)
    assert r.status_code == 401 and "/login" in r.headers["HX-Redirect"]


def test_login_as_is_refused_on_owners_and_oneself(admin_client, owner_client, dbconn):
    assert login_as(admin_client, "owner@example.com").status_code == 403
    assert login_as(admin_client, "admin@example.com").status_code == 403
    assert login_as(owner_client, "owner@example.com").status_code == 403
    assert not UserSession.select().where(UserSession.impersonator.is_null(False)).exists()


def test_member_signing_in_themselves_is_not_affected(as_member, app, dbconn):
    """The member's own browser keeps working and shows no banner."""
    mia = app.test_client()
    signin(mia, "member@example.com")
    html = mia.get("/settings/profile").get_data(as_text=True)
    assert "data-impersonation" not in html
    assert re.search(r'data-field="email">member@example.com', html)


def test_profile_shows_what_login_as_cannot_do_disabled_with_the_reason(app, admin_client,
                                                                       dbconn):
    # Casey: an unverified phone (a Verify button) and a second device (Sign out others).
    signin(app.test_client(), "casey@example.com")
    login_as(admin_client, "casey@example.com")
    html = admin_client.get("/settings/profile").get_data(as_text=True)
    personal = re.search(r'<section id="personal-data".*?</section>', html, re.S).group(0)
    password = re.search(r'<section id="change-password".*?</section>', html, re.S).group(0)
    sessions = re.search(r'<section id="sessions".*?</section>', html, re.S).group(0)
    for section in (personal, password, sessions):
        assert "data-impersonation-note" in section
    assert "<fieldset disabled>" in personal and "<fieldset disabled>" in password
    assert re.search(r'data-action="verify-phone" disabled', personal)
    assert re.search(r'data-action="sign-out-others" disabled', sessions)
    assert "change their name, email or phone" in personal
    # Signed in as themselves, nothing is disabled.
    own = app.test_client()
    signin(own, "casey@example.com")
    html = own.get("/settings/profile").get_data(as_text=True)
    assert not re.search(r"<fieldset disabled>|\" disabled>", html)
    assert "data-impersonation-note" not in html
