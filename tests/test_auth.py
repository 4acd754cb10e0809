"""Sign-in, the second step, sign-out, sessions, throttling, redirects and CSRF."""

import pytest
from conftest import HTMX, PASSWORD, csrf, last_code, signin, user

from webapp.extensions import db
from webapp.models import AuditEvent, UserSession, utcnow


def _password(client, email, password, **extra):
    data = {"email": email, "password": password, "csrf_token": csrf(client)}
    return client.post("/login", data=data, **extra)


def test_login_page_renders(client):
    r = client.get("/login")
    assert r.status_code == 200
    assert 'autocomplete="current-password"' in r.get_data(as_text=True)


def test_password_then_code_signs_in(client, dbconn):
    r = _password(client, "member@example.com", PASSWORD)
    assert r.status_code == 303 and "/verify/" in r.headers["Location"]
    # The half-signed-in state grants nothing.
    assert client.get("/settings/profile").status_code == 303
    assert client.get("/settings/activity").status_code == 303
    signin(client)  # a second, complete sign-in
    assert client.get("/settings/profile").status_code == 200
    assert AuditEvent.select().where(AuditEvent.event == "login.succeeded").count() == 1


@pytest.mark.parametrize("email, password", [
    ("member@example.com", "wrong password here"),
    ("nobody@example.com", "wrong password here"),
    ("MEMBER@example.com", "wrong password here"),
])
def test_bad_credentials_get_one_generic_answer(client, email, password):
    r = _password(client, email, password)
    assert r.status_code == 422
    body = r.get_data(as_text=True)
    assert "Incorrect email or password." in body
    assert "not found" not in body.lower() and "no account" not in body.lower()


def test_email_is_case_insensitive(client):
    r = _password(client, "  Member@Example.COM ", PASSWORD)
    assert r.status_code == 303


def test_login_verifies_an_unverified_email(client, dbconn):
    assert user("newbie@example.com").email_verified_at is None
    signin(client, "newbie@example.com")
    assert user("newbie@example.com").email_verified_at is not None


def test_rehash_on_login_when_parameters_change(app_factory):
    app = app_factory()
    before = user("member@example.com").password_hash
    app.config["ARGON2_TIME_COST"] = 2
    signin(app.test_client())
    after = user("member@example.com").password_hash
    assert before != after and ",t=2," in after


def test_failed_logins_throttled_per_account(app_factory):
    app = app_factory(LOGIN_FAILURES_PER_ACCOUNT="3 per 15 minutes")
    client = app.test_client()
    for _ in range(3):
        assert _password(client, "member@example.com", "wrong password!!").status_code == 422
    r = _password(client, "member@example.com", PASSWORD)
    assert r.status_code == 429
    assert "Try again in" in r.get_data(as_text=True)
    assert r.headers.get("Retry-After")
    # Another account from the same address is not affected by this account's limit.
    assert _password(client, "admin@example.com", PASSWORD).status_code == 303


def test_successful_logins_are_not_throttled(app_factory):
    app = app_factory(LOGIN_FAILURES_PER_ACCOUNT="2 per 15 minutes")
    for _ in range(4):
        client = app.test_client()
        assert _password(client, "member@example.com", PASSWORD).status_code == 303


def test_failed_logins_throttled_per_ip(app_factory):
    app = app_factory(LOGIN_FAILURES_PER_IP="3 per 15 minutes")
    client = app.test_client()
    for i in range(3):
        assert _password(client, f"user{i}@example.com", "wrong password!!").status_code == 422
    assert _password(client, "member@example.com", PASSWORD).status_code == 429


def test_x_forwarded_for_is_ignored_without_trusted_proxies(app_factory):
    app = app_factory(LOGIN_FAILURES_PER_IP="2 per 15 minutes")
    client = app.test_client()
    for i in range(2):
        r = _password(client, f"u{i}@example.com", "wrong password!!",
                      headers={"X-Forwarded-For": f"10.0.0.{i}"})
        assert r.status_code == 422
    r = _password(client, "u9@example.com", "wrong password!!",
                  headers={"X-Forwarded-For": "10.0.0.99"})
    assert r.status_code == 429


SAFE = "/settings/profile"


def _second_step(client, verify_url):
    token = csrf(client, verify_url)  # the session was renewed after the password
    client.post(verify_url + "/channel", data={"channel": "email", "csrf_token": token})
    return client.post(verify_url + "/code",
                       data={"code": last_code("member@example.com"), "csrf_token": token})


@pytest.mark.parametrize("target", [
    "https://evil.com", "//evil.com", "///evil.com", "/\\evil.com", "\\\\evil.com",
    "/%5Cevil.com", "%2F%2Fevil.com", "https:evil.com", "http:/\\evil.com", " //evil.com",
    "\t//evil.com", "/%09/evil.com", "javascript:alert(1)", "data:text/html,hi",
    "https://app.example.com.evil.com",
])
def test_next_only_accepts_local_paths(client, target):
    token = csrf(client)
    r = client.post("/login", query_string={"next": target},
                    data={"email": "member@example.com", "password": PASSWORD,
                          "csrf_token": token})
    assert r.status_code == 303
    r = _second_step(client, r.headers["Location"])
    assert r.status_code == 303
    assert r.headers["Location"] == SAFE


def test_next_local_path_is_kept(client):
    token = csrf(client)
    r = client.post("/login?next=/settings/activity",
                    data={"email": "member@example.com", "password": PASSWORD,
                          "csrf_token": token})
    r = _second_step(client, r.headers["Location"])
    assert r.headers["Location"] == "/settings/activity"


def test_planted_session_keys_are_dropped_at_login(client):
    with client.session_transaction() as s:
        s["pending_login"] = {"uid": 1, "cid": "planted", "exp": 9e12, "next": "/x"}
        s["stepped_up"] = True
    signin(client)
    with client.session_transaction() as s:
        assert "stepped_up" not in s and "pending_login" not in s


def test_logout_revokes_the_copied_cookie(client, dbconn):
    signin(client)
    cookie = client.get_cookie("session").value
    r = client.post("/logout", data={"csrf_token": csrf(client, "/settings/profile")})
    assert r.status_code == 303
    thief = client.application.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/settings/profile").status_code == 303


def test_expired_session_row_signs_out(client, dbconn):
    signin(client)
    UserSession.update(expires_at=utcnow()).execute()
    assert client.get("/settings/profile").status_code == 303


def test_logout_requires_post_and_csrf(client, dbconn):
    signin(client)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/settings/profile").status_code == 200


def test_htmx_request_when_signed_out_is_told_to_redirect(client):
    r = client.get("/settings/profile/personal", headers=HTMX)
    assert r.status_code == 401
    assert r.headers["HX-Redirect"].startswith("/login")


def test_pending_login_expires(app_factory):
    app = app_factory(LOGIN_PENDING_SECONDS=0)
    client = app.test_client()
    r = _password(client, "member@example.com", PASSWORD)
    assert client.get(r.headers["Location"]).status_code == 404


def test_healthz_checks_database(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json()["checks"]["database"] == "ok"


def test_failed_login_is_audited(client, dbconn):
    _password(client, "member@example.com", "wrong password!!")
    row = AuditEvent.get(AuditEvent.event == "login.failed")
    assert row.outcome == "failed" and row.subject.email == "member@example.com"
    assert "wrong password" not in row.details
    assert db.is_closed() is False
