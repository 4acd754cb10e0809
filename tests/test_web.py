"""Cross-cutting web behaviour: headers on every answer, CSRF, errors, static files, CLI."""

import gzip
import hashlib
import re
import threading
from pathlib import Path

import pytest
from conftest import HTMX, csrf, last_code, post, signin, user

from webapp.models import Challenge

ROOT = Path(__file__).resolve().parent.parent
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"


def test_vendored_htmx_matches_recorded_hash():
    data = (ROOT / "static/vendor/htmx-2.0.11.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == HTMX_SHA256
    readme = (ROOT / "static/vendor/README.md").read_text()
    assert HTMX_SHA256 in readme


def test_our_javascript_fits_its_budget_gzipped():
    """app.js is written to be read, not minified; what travels is gzipped: at most 2 KB."""
    data = (ROOT / "static/js/app.js").read_bytes()
    assert len(gzip.compress(data, compresslevel=9)) <= 2048


def test_base_page_loads_only_our_scripts(client):
    html = client.get("/login").get_data(as_text=True)
    scripts = re.findall(r"<script[^>]*>", html)
    assert all('src="/static/' in s for s in scripts)
    assert "<script>" not in html and " on" + "click=" not in html


@pytest.mark.parametrize("path, headers", [
    ("/login", {}), ("/healthz", {}), ("/nope", {}), ("/nope", HTMX),
    ("/settings/profile", {}), ("/settings/profile/personal", HTMX),
])
def test_security_headers_on_every_response(client, path, headers):
    r = client.get(path, headers=headers)
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "base-uri 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert r.headers["X-Frame-Options"] == "DENY"


def test_hsts_over_https(client):
    r = client.get("/login", base_url="https://localhost")
    assert "max-age=31536000" in r.headers["Strict-Transport-Security"]


def test_session_cookie_flags(client):
    signin(client)
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"


def test_not_found_fragment_for_htmx_goes_to_toasts(client):
    r = client.get("/nope", headers=HTMX)
    assert r.status_code == 404 and r.headers["HX-Retarget"] == "#toasts"
    assert "<html" not in r.get_data(as_text=True)


def test_post_without_csrf_is_refused_and_changes_nothing(member_client, dbconn):
    r = member_client.post("/settings/profile", data={"name": "Eve", "email":
                                                     "member@example.com", "phone": ""})
    assert r.status_code == 400
    assert user("member@example.com").name == "Mia Member"


def test_token_from_another_session_is_refused(app, dbconn):
    mine, theirs = app.test_client(), app.test_client()
    signin(mine)
    signin(theirs, "admin@example.com")
    foreign = csrf(theirs, "/settings/profile")
    r = mine.post("/settings/profile", data={"name": "Eve", "email": "member@example.com",
                                             "phone": "", "csrf_token": foreign})
    assert r.status_code == 400
    assert user("member@example.com").name == "Mia Member"


def test_csrf_header_works_for_htmx(member_client, dbconn):
    token = csrf(member_client, "/settings/profile")
    r = member_client.post("/settings/profile", headers={**HTMX, "X-CSRFToken": token},
                           data={"name": "Mia H", "email": "member@example.com",
                                 "phone": "+12025550103"})
    assert r.status_code == 200 and user("member@example.com").name == "Mia H"


def test_ten_parallel_submissions_of_one_code_apply_once(app, dbconn):
    client = app.test_client()
    signin(client)
    r = post(client, "/settings/profile", {"name": "Mia", "email": "member@example.com",
                                           "phone": "+12025550177"})
    url = r.headers["Location"]
    post(client, url + "/channel", {"channel": "email"}, token_from=url)
    code = last_code("member@example.com")
    token = csrf(client, url)
    cookie = client.get_cookie("session").value
    statuses, barrier = [], threading.Barrier(10)

    def submit():
        c = app.test_client()
        c.set_cookie("session", cookie)
        barrier.wait()
        resp = c.post(url + "/code", data={"code": code, "csrf_token": token}, headers=HTMX)
        statuses.append((resp.status_code, resp.get_data(as_text=True)))

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [s for s, _ in statuses if s == 200]
    already = [b for s, b in statuses if s == 409]
    assert len(ok) == 1 and len(already) == 9, [s for s, _ in statuses]
    assert all("already been used" in b for b in already)
    assert user("member@example.com").phone == "+12025550177"
    assert Challenge.select().where(Challenge.consumed_at.is_null(False)).count() == 2


def test_cli_create_user_and_bad_input(app):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["create-user", "pat@example.com", "--password",
                             "violet tuesday harbour", "--org", "Other Org", "--role", "admin",
                             "--phone", "+1 202 555 0142", "--email-verified",
                             "--phone-verified"])
    assert ok.exit_code == 0, ok.output
    pat = user("pat@example.com")
    assert pat.phone == "+12025550142" and pat.phone_verified_at and pat.email_verified_at
    for args, message in [
        (["create-user", "pat@example.com", "--password", "violet tuesday harbour"],
         "already exists"),
        (["create-user", "not-an-email", "--password", "violet tuesday harbour"],
         "valid email"),
        (["create-user", "x@example.com", "--password", "short"], "characters"),
        (["create-user", "y@example.com", "--password", "violet tuesday harbour", "--phone",
          "12"], "phone"),
        (["create-user", "z@example.com", "--password", "violet tuesday harbour",
          "--phone-verified"], "--phone"),
    ]:
        result = runner.invoke(args=args)
        assert result.exit_code != 0 and message in result.output, result.output


def test_cli_init_db_and_seed_are_idempotent(app):
    runner = app.test_cli_runner()
    assert "0 migration(s)" in runner.invoke(args=["init-db"]).output
    out = runner.invoke(args=["seed-demo"]).output
    assert "already present" in out and "owner@example.com" in out


def test_dev_outbox_only_when_enabled(app_factory):
    off = app_factory()
    assert off.test_client().get("/dev/outbox").status_code == 404
    on = app_factory(DEV_OUTBOX=True)
    client = on.test_client()
    signin(client)
    page = client.get("/dev/outbox").get_data(as_text=True)
    assert "Your Aesthetix CRM code" in page


def test_production_refuses_to_start_without_a_secret(monkeypatch):
    from webapp import create_app
    from webapp.config import ConfigError

    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        create_app({"ENV_NAME": "production", "SECRET_KEY": None})
    with pytest.raises(ConfigError):
        create_app({"ENV_NAME": "production", "SECRET_KEY": "short"})
