"""A-18 / A-17 / A-24 / WEB-3..6: security headers on every answer; no-store where codes show."""

import pytest
from conftest import HTMX, csrf, last_code, post, signin, user
from twofactor.helpers import enable_totp, open_setup

from security.helpers import cid_from

HTTPS = "https://localhost"


def check_headers(r, where):
    h = r.headers
    csp = h.get("Content-Security-Policy", "")
    for part in ("default-src 'self'", "object-src 'none'", "base-uri 'none'",
                 "frame-ancestors 'none'"):
        assert part in csp, (where, r.status_code, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert h.get("X-Content-Type-Options") == "nosniff", where
    assert h.get("X-Frame-Options") == "DENY", where
    # same-origin keeps the Referer that Flask-WTF's strict HTTPS check needs (HX-2).
    assert h.get("Referrer-Policy") == "same-origin", where
    hsts = h.get("Strict-Transport-Security", "")
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts, (where, r.status_code)


def get_paths(app, member_id):
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        path = rule.rule.replace("<int:user_id>", str(member_id)).replace("<cid>", "nope")
        paths.append(path)
    return sorted(set(paths))


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
@pytest.mark.parametrize("who", [None, "member@example.com", "owner@example.com"])
def test_a18_every_get_route_answers_with_the_security_headers(app, who, htmx):
    """A-18: every GET route (signed out, member, owner; page and fragment; 2xx/3xx/4xx)."""
    client = app.test_client()
    if who:
        signin(client, who)
    for path in get_paths(app, user("member@example.com").id) + ["/static/js/app.js", "/nope"]:
        r = client.get(path, base_url=HTTPS, headers=HTMX if htmx else {})
        assert r.status_code < 500, (path, r.status_code)
        check_headers(r, path)


def test_a18_error_answers_carry_the_headers(app, monkeypatch):
    """A-18: 400 (CSRF), 403, 404, 405, 422, 429 and 500 answers, pages and fragments."""
    client = app.test_client()
    signin(client, "member@example.com")
    answers = [
        client.post("/settings/profile", base_url=HTTPS),  # no CSRF token -> 400
        client.get("/logout", base_url=HTTPS),  # 405
        client.get("/verify/nope", base_url=HTTPS, headers=HTMX),  # 404 fragment
        post(client, "/settings/profile", {"email": "not an email"}, base_url=HTTPS,
             headers={"Referer": HTTPS + "/settings/profile"}),  # 422
        post(client, "/settings/team/1", {"name": "x"}, base_url=HTTPS,
             headers={"Referer": HTTPS + "/settings/profile"}),  # 403 / 404
    ]
    # 500: any unexpected exception answers with the generic page and the same headers.
    from webapp.profile import routes

    monkeypatch.setattr(routes, "_context", lambda **kw: 1 / 0)
    answers.append(client.get("/settings/profile", base_url=HTTPS))
    answers.append(client.get("/settings/profile/personal", base_url=HTTPS, headers=HTMX))
    statuses = [r.status_code for r in answers]
    assert {400, 405, 404, 422, 500} <= set(statuses), statuses
    for r in answers:
        check_headers(r, r.status_code)
        assert "Traceback" not in r.get_data(as_text=True)  # LOG-4: no stack traces


def test_a18_rate_limited_answer_carries_the_headers(app_factory):
    """A-18: a 429 from the limiter is an ordinary page with the headers and Retry-After."""
    app = app_factory(LOGIN_FAILURES_PER_ACCOUNT="1 per 15 minutes")
    client = app.test_client()
    for _ in range(2):
        r = client.post("/login", base_url=HTTPS, headers={"Referer": HTTPS + "/login"},
                        data={"email": "member@example.com", "password": "nope nope nope",
                              "csrf_token": csrf(client)})
    assert r.status_code == 429 and r.headers["Retry-After"]
    check_headers(r, 429)


def test_a24_verify_steps_with_codes_are_no_store(member_client):
    """A-24 / WEB-6: every step of a verification (page, fragment, error) is no-store."""
    me = user("member@example.com")
    r = post(member_client, "/settings/profile", {"name": me.name, "email": me.email,
                                                  "phone": "+12025550177"})
    cid = cid_from(r)
    token = csrf(member_client, f"/verify/{cid}")
    answers = [member_client.get(f"/verify/{cid}"),
               member_client.get(f"/verify/{cid}", headers=HTMX),
               member_client.post(f"/verify/{cid}/channel", headers=HTMX,
                                  data={"channel": "email", "csrf_token": token}),
               member_client.post(f"/verify/{cid}/code", headers=HTMX,
                                  data={"code": "abc", "csrf_token": token}),
               member_client.post(f"/verify/{cid}/resend", headers=HTMX,
                                  data={"csrf_token": token})]
    for r in answers:
        assert r.headers["Cache-Control"] == "no-store", (r.request.path, r.status_code)


def test_a24_backup_codes_and_setup_key_are_no_store(app):
    """A-24: the setup key/QR and freshly shown backup codes are never cached."""
    client = app.test_client()
    signin(client, "member@example.com")
    assert open_setup(client).headers["Cache-Control"] == "no-store"
    enable_totp(app, "member@example.com")
    r = post(client, "/settings/profile/2fa/backup-codes", {})
    cid = cid_from(r)
    token = csrf(client, f"/verify/{cid}")
    client.post(f"/verify/{cid}/channel", data={"channel": "email", "csrf_token": token})
    r = client.post(f"/verify/{cid}/code", data={"code": last_code("member@example.com"),
                                                 "csrf_token": token})
    assert r.status_code == 200 and "backup-codes" in r.get_data(as_text=True)
    assert r.headers["Cache-Control"] == "no-store"


def test_a18_signed_in_pages_are_private(member_client):
    """A-18: signed-in pages are never stored by shared caches."""
    r = member_client.get("/settings/profile")
    assert "private" in r.headers["Cache-Control"] or "no-store" in r.headers["Cache-Control"]
    assert "HX-Request" in r.headers.get("Vary", "")


def test_a18_production_cookies_are_secure(app_factory):
    """A-18 / SES-6: in production the session cookie is Secure, HttpOnly, SameSite=Lax."""
    from cryptography.fernet import Fernet

    app = app_factory(ENV_NAME="production", TOTP_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
                      MAIL_BACKEND="smtp", SMS_BACKEND="webhook",
                      WEBAUTHN_RP_ID="crm.example.com", WEBAUTHN_ORIGIN="https://crm.example.com",
                      PUBLIC_URL="https://crm.example.com")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
