"""Deployment behaviour that needs no external service: health, a dead limiter storage,
proxies, production settings, the per-process limiter warning. Runs in both legs."""

import os
import subprocess
import sys

import pytest
from conftest import HTMX, PASSWORD, csrf, free_port

from webapp import config as settings
from webapp.extensions import db
from webapp.health import memory_storage_warning
from webapp.models import AuditEvent, Challenge, User, UserSession, utcnow

from .conftest import ROOT, _wait_ready

# Nothing listens on port 1: every Redis command fails at once (connection refused).
DEAD_REDIS = "redis://127.0.0.1:1/0"


def test_healthz_checks_database_and_limiter(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "checks": {"database": "ok", "limiter": "ok"}}
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Request-ID"]


def test_request_id_from_the_proxy_is_kept_when_it_looks_like_one(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc12345-proxy"}) \
        .headers["X-Request-ID"] == "abc12345-proxy"
    forged = client.get("/healthz", headers={"X-Request-ID": "x\" injected=1"})
    assert forged.headers["X-Request-ID"] != "x\" injected=1"


# --- the limiter storage is down: sensitive endpoints fail closed, the rest serves ------------


@pytest.fixture
def outage_app(app_factory):
    return app_factory(RATELIMIT_STORAGE_URI=DEAD_REDIS)


def _signed_in_client(app, email="member@example.com"):
    """A session made directly (signing in itself is rate limited, so it is closed now)."""
    client = app.test_client()
    with db.connection_context():
        _, token = UserSession.open(User.by_email(email), ip="127.0.0.1", user_agent="test",
                                    now=utcnow(), lifetime=3600)
    with client.session_transaction() as s:
        s["_user_id"] = token
        s["_fresh"] = True
    return client


def test_healthz_reports_a_dead_limiter_storage(outage_app):
    r = outage_app.test_client().get("/healthz")
    assert r.status_code == 503
    assert r.get_json()["checks"] == {"database": "ok", "limiter": "error"}


def test_login_fails_closed_with_a_clear_503(outage_app):
    client = outage_app.test_client()
    assert client.get("/login").status_code == 200  # the page still renders
    r = client.post("/login", data={"email": "member@example.com", "password": PASSWORD,
                                     "csrf_token": csrf(client)})
    assert r.status_code == 503
    body = r.get_data(as_text=True)
    assert "Temporarily unavailable" in body and "Nothing was changed" in body
    assert r.headers["Retry-After"] == "60"
    with db.connection_context():
        assert Challenge.select().count() == 0  # no second step was started
        assert not AuditEvent.select().where(AuditEvent.event.startswith("login.")).exists()


def test_phone_change_fails_closed_and_the_profile_keeps_serving(outage_app):
    client = _signed_in_client(outage_app)
    page = client.get("/settings/profile")
    assert page.status_code == 200
    data = {"name": "", "email": "member@example.com", "phone": "+12025550177",
            "csrf_token": csrf(client, "/settings/profile")}
    r = client.post("/settings/profile", data=data)
    assert r.status_code == 503
    assert "Nothing was changed" in r.get_data(as_text=True)

    r = client.post("/settings/profile", data=data, headers=HTMX)
    assert r.status_code == 503
    assert r.headers["HX-Retarget"] == "#toasts"
    assert 'data-status="503"' in r.get_data(as_text=True)
    with db.connection_context():
        assert not Challenge.select().where(Challenge.purpose == "change_phone").exists()
        assert User.by_email("member@example.com").phone == "+12025550103"
    assert client.get("/settings/activity").status_code == 200


def test_password_change_fails_closed(outage_app):
    client = _signed_in_client(outage_app)
    with db.connection_context():
        before = User.by_email("member@example.com").password_hash
    r = client.post("/settings/profile/password", data={
        "current_password": PASSWORD, "new_password": "a brand new passphrase 42",
        "confirm_password": "a brand new passphrase 42",
        "csrf_token": csrf(client, "/settings/profile")})
    assert r.status_code == 503
    with db.connection_context():
        assert User.by_email("member@example.com").password_hash == before


def test_redis_storage_gets_short_timeouts_and_wrapped_errors():
    config = {"ENV_NAME": "development", "SECRET_KEY": "k" * 40,
              "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0"}
    settings.finish(config, settings.INSTANCE)
    options = config["RATELIMIT_STORAGE_OPTIONS"]
    assert options["wrap_exceptions"] is True
    assert 0 < options["socket_timeout"] <= 5 and 0 < options["socket_connect_timeout"] <= 5


# --- reverse proxy: TRUSTED_PROXIES -> ProxyFix with exactly that many hops --------------------


def _failed_login_ip(app, forwarded: str) -> str:
    client = app.test_client()
    client.post("/login", data={"email": "member@example.com", "password": "not the password",
                                "csrf_token": csrf(client)},
                headers={"X-Forwarded-For": forwarded}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    with db.connection_context():
        return (AuditEvent.select().where(AuditEvent.event == "login.failed")
                .order_by(AuditEvent.id.desc()).first().ip)


@pytest.mark.parametrize("hops, expected", [
    (0, "10.9.9.9"),         # default: X-Forwarded-For is ignored
    (1, "198.51.100.2"),     # one proxy: its view of the client (the last entry)
    (2, "203.0.113.7"),      # two proxies: one more entry from the right, no further
])
def test_forwarded_for_is_trusted_for_exactly_the_configured_hops(app_factory, hops, expected):
    app = app_factory(TRUSTED_PROXIES=hops)
    assert _failed_login_ip(app, "192.0.2.66, 203.0.113.7, 198.51.100.2") == expected


def test_a_forged_forwarded_for_cannot_dodge_the_ip_limit(app_factory):
    """Behind one proxy the client can prepend anything; the proxy's entry is what counts."""
    app = app_factory(TRUSTED_PROXIES=1, LOGIN_FAILURES_PER_IP="3 per 15 minutes",
                      LOGIN_FAILURES_PER_ACCOUNT="100 per 15 minutes")
    client = app.test_client()
    statuses = []
    for i in range(4):
        r = client.post("/login", data={"email": f"x{i}@example.com", "password": "wrong one",
                                         "csrf_token": csrf(client)},
                        headers={"X-Forwarded-For": f"10.0.0.{i}, 198.51.100.2"})
        statuses.append(r.status_code)
    assert statuses == [422, 422, 422, 429]


# --- production settings ---------------------------------------------------------------------


def _production(**overrides):
    # Real delivery backends: production refuses the outbox (S-10.2).
    config = {**settings.DEFAULTS, "ENV_NAME": "production", "MAIL_BACKEND": "smtp",
              "SMS_BACKEND": "webhook", "PUBLIC_URL": "https://crm.example.com", **overrides}
    return config


def test_production_refuses_a_missing_secret(tmp_path):
    with pytest.raises(settings.ConfigError, match="SECRET_KEY must be set"):
        settings.finish(_production(SECRET_KEY=None), tmp_path)
    assert not (tmp_path / "secret_key").exists()  # no dev key is made for production


def test_production_refuses_a_short_secret(tmp_path):
    with pytest.raises(settings.ConfigError, match="too short"):
        settings.finish(_production(SECRET_KEY="change-me"), tmp_path)


def test_production_refuses_the_development_secret(tmp_path):
    dev_key = settings.dev_secret_key(tmp_path)
    with pytest.raises(settings.ConfigError, match="development key"):
        settings.finish(_production(SECRET_KEY=dev_key), tmp_path)


def test_production_accepts_a_real_secret_and_hardens_cookies(tmp_path):
    settings.dev_secret_key(tmp_path)
    config = _production(SECRET_KEY="p" * 48, DEV_OUTBOX=True)
    settings.finish(config, tmp_path)
    assert config["SESSION_COOKIE_SECURE"] is True and config["DEV_OUTBOX"] is False


def test_create_app_refuses_to_start_in_production_without_a_secret(monkeypatch):
    from webapp import create_app

    monkeypatch.setenv("AESTHETIX_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(settings.ConfigError):
        create_app({"DATABASE_URL": "sqlite:///" + str(ROOT / "instance" / "unused.db")})


# --- the per-process limiter warning ---------------------------------------------------------


@pytest.mark.parametrize("uri, workers, warns", [
    ("memory://", 4, True),
    (None, 2, True),
    ("memory://", 1, False),
    ("redis://127.0.0.1:6379/0", 4, False),
])
def test_memory_storage_warning(uri, workers, warns):
    message = memory_storage_warning(uri, workers)
    assert (message is not None) == warns
    if warns:
        assert f"{workers} worker processes" in message and "redis://" in message


def test_gunicorn_warns_at_startup_about_per_process_limits(tmp_path):
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
           "RATELIMIT_STORAGE_URI": "memory://", "SECRET_KEY": "s" * 40,
           "WEB_CONCURRENCY": "2", "HOST": "127.0.0.1", "PORT": str(port),
           "GUNICORN_ACCESS_LOG": ""}
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                 "wsgi:app"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc, log_path)
    finally:
        proc.terminate()
        proc.wait(20)
    out = log_path.read_text()
    assert "[WARNING] RATELIMIT_STORAGE_URI is 'memory://' with 2 worker processes" in out


# --- PUBLIC_URL: links in emails never come from the Host header in production ---------------


def test_production_refuses_to_start_without_a_public_url(tmp_path):
    with pytest.raises(settings.ConfigError, match="PUBLIC_URL must be set in production"):
        settings.finish(_production(SECRET_KEY="p" * 48, PUBLIC_URL=""), tmp_path)


def test_production_refuses_a_plain_http_public_url(tmp_path):
    with pytest.raises(settings.ConfigError, match="https://"):
        settings.finish(_production(SECRET_KEY="p" * 48, PUBLIC_URL="http://crm.example.com"),
                        tmp_path)


@pytest.mark.parametrize("url", ["crm.example.com", "ftp://crm.example.com", "https://",
                                 "https://crm.example.com/?next=x", "https://crm.example.com/#a"])
def test_a_public_url_that_is_not_an_address_is_refused_in_every_mode(tmp_path, url):
    for env in ("development", "production"):
        config = _production(SECRET_KEY="p" * 48, ENV_NAME=env, PUBLIC_URL=url)
        with pytest.raises(settings.ConfigError, match="PUBLIC_URL must"):
            settings.finish(config, tmp_path)


def test_a_good_public_url_is_kept_without_its_trailing_slash(tmp_path):
    config = _production(SECRET_KEY="p" * 48, PUBLIC_URL=" https://crm.example.com/ ")
    settings.finish(config, tmp_path)
    assert config["PUBLIC_URL"] == "https://crm.example.com"
    config = _production(SECRET_KEY="p" * 48, ENV_NAME="development", PUBLIC_URL="")
    settings.finish(config, tmp_path)  # development: links from the request's host
    assert config["PUBLIC_URL"] == ""


def test_the_wsgi_entry_point_builds_the_user_agent_parser_before_any_request(tmp_path):
    """Each gunicorn worker imports wsgi.py: ua-parser's matchers are built then, not in the
    first request that names a device (where they cost up to a second)."""
    code = ("import ua_parser, wsgi; "
            "print('built' if 'parser' in vars(ua_parser) else 'lazy')")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
           "SECRET_KEY": "w" * 40}
    env.pop("AESTHETIX_ENV", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "built", out.stderr[-2000:]
