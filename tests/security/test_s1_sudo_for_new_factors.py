"""S-1: a stolen session cannot add its own authenticator. Adding a factor is a step-up action;
a short "recently verified" window (sudo mode) is bound to the session that verified."""

import time

import pytest
from conftest import HTMX, csrf, last_code, outbox, post, signin, user
from twofactor.helpers import SETUP, impersonate, next_code, open_setup, rfc6238, secret_in

from security.helpers import cid_from
from webapp.config import DEFAULTS
from webapp.extensions import db
from webapp.models import Membership, PendingTotp, User, UserSession, utcnow

EMAIL = "member@example.com"


def copy_session(app, victim):
    """A second browser holding the victim's session cookie and nothing else."""
    thief = app.test_client()
    thief.set_cookie("session", victim.get_cookie("session").value)
    return thief


def no_secret_was_made():
    with db.connection_context():
        return PendingTotp.select().count() == 0


def test_s1_copied_cookie_cannot_enable_an_authenticator(app, client):
    signin(client, EMAIL)
    thief = copy_session(app, client)
    token = csrf(thief, "/settings/profile")
    # The setup page without a step-up shows no secret and makes none.
    page = thief.get(SETUP)
    assert page.status_code == 200 and 'id="totp-secret"' not in page.get_data(as_text=True)
    assert no_secret_was_made()
    # Posting a code straight to the confirmation: there is nothing to confirm.
    r = thief.post(SETUP, data={"code": "123456", "csrf_token": token})
    assert r.status_code == 409 and no_secret_was_made()
    for headers in ({}, HTMX):
        # "Setup" opens a verification with the account's trusted channels only.
        r = thief.post(SETUP + "/start", data={"csrf_token": token}, headers=headers)
        assert 'id="totp-secret"' not in r.get_data(as_text=True)
        cid = cid_from(r)
        # The thief has neither the mailbox nor the phone; the app and backup codes are not
        # channels of an account without an app.
        for channel in ("totp", "backup"):
            r = thief.post(f"/verify/{cid}/channel", data={"channel": channel,
                                                            "csrf_token": token})
            assert r.status_code == 400
        r = thief.post(f"/verify/{cid}/channel", data={"channel": "email", "csrf_token": token},
                       headers=headers)
        assert r.status_code == (200 if headers else 303)
        for guess in ("000000", "111111", "123456", "999999", "424242"):
            thief.post(f"/verify/{cid}/code", data={"code": guess, "csrf_token": token})
        assert thief.get(SETUP).get_data(as_text=True).count('id="totp-secret"') == 0
    assert no_secret_was_made()
    assert not user(EMAIL).totp_enabled
    # The owner still sees no factor they did not add.
    assert 'data-totp="off"' in client.get("/settings/profile").get_data(as_text=True)


def test_s1_sign_in_alone_does_not_open_the_window(client):
    signin(client, EMAIL)
    r = post(client, SETUP + "/start", {})
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")
    assert no_secret_was_made()


def test_s1_the_legitimate_flow_shows_the_qr_code_only_after_the_code(client):
    signin(client, EMAIL)
    r = post(client, SETUP + "/start", {})
    verify = r.headers["Location"]
    assert no_secret_was_made()
    post(client, verify + "/channel", {"channel": "sms"}, token_from=verify)
    sms = outbox("sms", user(EMAIL).phone)[-1]
    assert "add an authenticator app" in sms.body
    r = post(client, verify + "/code", {"code": last_code(user(EMAIL).phone, "sms")},
             token_from=verify)
    assert r.status_code == 303 and r.headers["Location"].endswith(SETUP)
    secret = secret_in(client.get(SETUP).get_data(as_text=True))
    r = post(client, SETUP, {"code": next_code(secret)[0]})
    assert r.status_code == 200 and user(EMAIL).totp_enabled


def test_s1_window_lasts_ten_minutes_and_belongs_to_the_verifying_session(app, client, clock):
    signin(client, EMAIL)
    open_setup(client)  # a step-up verified in this session
    with db.connection_context():
        row = (UserSession.select().where(UserSession.sudo_until.is_null(False)).get())
        left = (row.sudo_until - utcnow()).total_seconds()
    assert DEFAULTS["SUDO_SECONDS"] == 600
    assert DEFAULTS["SUDO_SECONDS"] - 5 < left <= DEFAULTS["SUDO_SECONDS"]
    # Within the window, a new setup needs no second verification in this session ...
    r = post(client, SETUP + "/start", {})
    assert r.status_code == 303 and r.headers["Location"].endswith(SETUP)
    # ... but another session of the same person gets no share of it.
    other = app.test_client()
    signin(other, EMAIL)
    r = post(other, SETUP + "/start", {})
    assert r.headers["Location"].startswith("/verify/")
    # Just before the end the window holds; once it is over, this session is asked again.
    clock.advance(left - 2)
    r = post(client, SETUP + "/start", {})
    assert r.headers["Location"].endswith(SETUP)
    clock.advance(3)
    r = post(client, SETUP + "/start", {})
    assert r.headers["Location"].startswith("/verify/")


def test_s1_window_ends_with_sign_out(app, client):
    signin(client, EMAIL)
    open_setup(client)
    thief = copy_session(app, client)
    token = csrf(thief, "/settings/profile")  # taken while the session was live
    with db.connection_context():
        pending = [p.id for p in PendingTotp.select()]
    post(client, "/logout", {})
    # The copied cookie of the signed-out session is worth nothing, window or not.
    r = thief.post(SETUP + "/start", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"].startswith("/login")
    with db.connection_context():
        assert [p.id for p in PendingTotp.select()] == pending


def test_s1_a_verification_started_in_another_session_opens_no_window(app, client):
    """The code for a challenge started in session A, entered in session B, opens nothing."""
    signin(client, EMAIL)
    r = post(client, SETUP + "/start", {})
    verify = r.headers["Location"]
    other = app.test_client()
    signin(other, EMAIL)
    post(client, verify + "/channel", {"channel": "email"}, token_from=verify)
    code = last_code(EMAIL)
    r = post(other, verify + "/code", {"code": code}, token_from="/settings/profile")
    with db.connection_context():
        assert UserSession.select().where(UserSession.sudo_until.is_null(False)).count() == 0


def test_s1_login_as_never_uses_a_window(app, client):
    signin(client, EMAIL)
    open_setup(client)  # the window is open on this session ...
    token = csrf(client, "/settings/profile")
    impersonate(EMAIL)  # ... which now stands for an admin's "Login as"
    r = client.post(SETUP + "/start", data={"csrf_token": token})
    assert r.status_code == 403
    assert client.get(SETUP).status_code == 403
    r = client.post(SETUP, data={"code": "123456", "csrf_token": token})
    assert r.status_code == 403
    assert not user(EMAIL).totp_enabled


def test_s1_a_new_factor_is_told_to_the_verified_email_and_the_verified_phone(client):
    signin(client, EMAIL)
    secret = secret_in(open_setup(client).get_data(as_text=True))
    assert post(client, SETUP, {"code": rfc6238(secret, time.time())}).status_code == 200
    member = user(EMAIL)
    assert "authenticator app was added" in outbox("email", EMAIL)[-1].body.lower()
    assert "authenticator app was added" in outbox("sms", member.phone)[-1].body.lower()


@pytest.mark.parametrize("path", [SETUP, SETUP + "/start"])
def test_s1_get_shows_and_never_writes(member_client, path):
    """GET /setup shows; it never makes a secret (S-10: GET writes nothing)."""
    r = member_client.get(path)
    assert r.status_code == (200 if path == SETUP else 405)
    assert no_secret_was_made()
    with db.connection_context():
        assert User.by_email(EMAIL).totp_secret is None


def test_s1_the_window_does_not_survive_a_login_as_and_back(app):
    """An admin verifies, uses "Login as", returns: the resumed session is asked again."""
    admin = app.test_client()
    signin(admin, "admin@example.com")
    with db.connection_context():
        Membership.update(can_edit_team_profiles=True).where(
            Membership.user == User.by_email("admin@example.com")).execute()
    open_setup(admin, "admin@example.com")  # the window is open
    mia = user(EMAIL)
    assert post(admin, f"/settings/team/{mia.id}/login-as", {},
                token_from=f"/settings/team/{mia.id}").status_code == 303
    assert post(admin, "/impersonation/exit", {}).status_code == 303
    r = post(admin, SETUP + "/start", {})
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")
