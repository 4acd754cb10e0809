"""Fixtures: an app per test on a temp database, clients, sign-in, and loopback mail/SMS peers."""

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webapp import create_app
from webapp.cli import DEMO_PASSWORD, seed_demo
from webapp.extensions import db, limiter
from webapp.models import OutboxMessage, User

PASSWORD = DEMO_PASSWORD
CSRF_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
HTMX = {"HX-Request": "true"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_SHARED_PG = {}  # this test process's PostgreSQL database: {"url": ..., "name": ...}
# SQLite: the schema as the migrations leave it, made once per test process and copied as
# each test's database file (migrate() then finds nothing to do); {"path": ...}.
_SQLITE_MIGRATED = {}


def _keep_migrated_sqlite(path: str) -> None:
    import sqlite3
    import tempfile

    kept = os.path.join(tempfile.mkdtemp(prefix="migrated-"), "schema.db")
    # SQLite's backup API: a consistent copy, whatever is still in the -wal file.
    with contextlib.closing(sqlite3.connect(path)) as source, \
            contextlib.closing(sqlite3.connect(kept)) as target:
        source.backup(target)
    _SQLITE_MIGRATED["path"] = kept


def _pg_admin(base):
    import psycopg2

    admin = psycopg2.connect(base)
    admin.autocommit = True
    return admin


def _new_pg_database(base, prefix="t") -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = _pg_admin(base)
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    # A throwaway database: commits need not wait for the disk (a crash loses it anyway).
    # Visibility, locks and isolation are the same; the tests' many commits are faster.
    admin.cursor().execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    admin.close()
    return name, base.rsplit("/", 1)[0] + "/" + name


def _drop_pg_database(base, name):
    admin = _pg_admin(base)
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _database_url(tmp_path, request) -> tuple[str, bool]:
    """SQLite in a temp file; or, for the services leg, a throwaway PostgreSQL database.

    Returns (url, empty_it). CREATE DATABASE costs about a second, so each test process
    makes one PostgreSQL database, migrates it once and empties it at a test's first app.
    As with the SQLite file, a second app in the same test ("a restart") sees the same rows.
    """
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        path = tmp_path / "test.db"
        if not path.exists() and _SQLITE_MIGRATED:  # a migrated, empty schema, copied
            shutil.copyfile(_SQLITE_MIGRATED["path"], path)
        return f"sqlite:///{path}", False
    if not _SHARED_PG:
        _SHARED_PG["name"], _SHARED_PG["url"] = _new_pg_database(base, "tw")
        _SHARED_PG["base"] = base
    first = not getattr(request.node, "_pg_emptied", False)
    request.node._pg_emptied = True
    return _SHARED_PG["url"], first


def pytest_sessionfinish(session):
    if _SHARED_PG:
        _drop_pg_database(_SHARED_PG["base"], _SHARED_PG["name"])
        _SHARED_PG.clear()


# One round trip: every table emptied (foreign-key triggers off for the statement's
# transaction, so the order doesn't matter) and ids from 1 again; the record of applied
# migrations stays. (%% because the driver formats parameters.)
_EMPTY_TABLES = """
DO $$
DECLARE r record;
BEGIN
  SET LOCAL session_replication_role = replica;
  FOR r IN SELECT tablename FROM pg_tables
           WHERE schemaname = 'public' AND tablename <> 'schema_migration' LOOP
    EXECUTE format('DELETE FROM %%I', r.tablename);
  END LOOP;
  FOR r IN SELECT sequencename FROM pg_sequences
           WHERE schemaname = 'public' AND sequencename NOT LIKE 'schema_migration%%' LOOP
    EXECUTE format('ALTER SEQUENCE %%I RESTART', r.sequencename);
  END LOOP;
END $$;
"""


def _empty_tables():
    db.execute_sql(_EMPTY_TABLES)


def make_app(tmp_path, request, **overrides):
    url, empty = _database_url(tmp_path, request)
    config = {
        "TESTING": True,
        "DATABASE_URL": url,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "RATELIMIT_STORAGE_URI": os.environ.get("TEST_RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_KEY_PREFIX": f"t{uuid.uuid4().hex[:12]}",
        # PostgreSQL: room for the tests that race ten threads, each holding a connection.
        "DATABASE_POOL_SIZE": 32,
        # Cheaper hashing in tests; the production profile is asserted on its own.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8192,
        "MAIL_BACKEND": "outbox",
        "SMS_BACKEND": "outbox",
    }
    config.update(overrides)
    # Flask-Limiter keeps the first app's key prefix; each test's app gets its own, so
    # counts kept in Redis never leak from one test into the next.
    limiter._key_prefix = None
    app = create_app(config)
    database = db.obj
    # Give back every pooled connection (the database is emptied or dropped later).
    request.addfinalizer(lambda: _close_database(database))
    from webapp.db import migrate

    migrate()
    if not _SQLITE_MIGRATED and url.startswith("sqlite:///"):
        _keep_migrated_sqlite(url.removeprefix("sqlite:///"))
    with app.app_context(), db.connection_context():
        if empty:
            _empty_tables()
        with _seed_hashes_kept():
            seed_demo(PASSWORD)
    return app


_SEED_HASHES: dict = {}


@contextlib.contextmanager
def _seed_hashes_kept():
    """The demo team's password hash made once per test process and settings, not five
    times per test: the demo accounts share one password, and argon2 is most of a seed."""
    from webapp.security import passwords

    real = passwords.hash_password

    def kept(password, params):
        key = (password, params)
        if key not in _SEED_HASHES:
            _SEED_HASHES[key] = real(password, params)
        return _SEED_HASHES[key]

    passwords.hash_password = kept
    try:
        yield
    finally:
        passwords.hash_password = real


def _close_database(database):
    if not database.is_closed():
        database.close()
    if hasattr(database, "close_all"):  # playhouse.pool on PostgreSQL
        database.close_all()


@pytest.fixture
def app_factory(tmp_path, request):
    return lambda **overrides: make_app(tmp_path, request, **overrides)


@pytest.fixture
def app(app_factory, request):
    marker = request.node.get_closest_marker("config")
    return app_factory(**(marker.kwargs if marker else {}))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def dbconn(app):
    """A database connection for assertions outside a request."""
    with db.connection_context():
        yield db


@pytest.fixture
def clock(monkeypatch):
    """The running app's clock, stopped at the real now; `clock.advance(seconds)` moves it."""
    from webapp import models

    class Clock:
        now = models.clock()

        def advance(self, seconds):
            self.now += dt.timedelta(seconds=seconds)

    stopped = Clock()
    monkeypatch.setattr(models, "clock", lambda: stopped.now)
    return stopped


# Where a page carries its CSRF token: the forms' hidden field, <body hx-headers> and the
# <meta> tag. Flask-WTF tokens carry the second they were signed, so two pages that must
# not differ are compared with the tokens replaced.
CSRF_PLACES = re.compile(r'(name="csrf_token" (?:type="hidden" )?value="|"X-CSRFToken": ?"'
                         r'|<meta name="csrf-token" content=")[^"]+"')


def without_csrf_tokens(html: str) -> str:
    """The page with every CSRF token replaced by the word CSRF."""
    return CSRF_PLACES.sub(r'\1CSRF"', html)


def csrf(client, path="/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no csrf token on {path}"
    return match.group(1)


def post(client, path, data=None, *, htmx=False, token_from=None, **kw):
    data = dict(data or {})
    data.setdefault("csrf_token", csrf(client, token_from or _page_for(client)))
    headers = dict(HTMX if htmx else {})
    headers.update(kw.pop("headers", {}))
    return client.post(path, data=data, headers=headers, **kw)


def _page_for(client):
    return "/settings/profile" if _signed_in(client) else "/login"


def _signed_in(client) -> bool:
    with client.session_transaction() as s:
        return "_user_id" in s


def choose_channel(client, cid: str, *, htmx=False, channel="email") -> str:
    """"Choose how to verify" on an open verification; returns its URL, for the code."""
    url = f"/verify/{cid}"
    r = post(client, url + "/channel", {"channel": channel}, htmx=htmx, token_from=url)
    assert r.status_code in (200, 303), r.status_code
    return url


def verify_by_email(client, cid: str, email: str, *, htmx=False):
    """Finish an open verification with the code emailed to `email`; the code's answer."""
    url = choose_channel(client, cid, htmx=htmx)
    return post(client, url + "/code", {"code": last_code(email)}, htmx=htmx, token_from=url)


CODE_SUBJECT = "Your Aesthetix CRM code"  # the engine's code emails; notices come between


def last_code(to: str, kind: str = "email") -> str:
    """The newest code sent there (notices that came after it, like a new-device notice, are
    passed over)."""
    with db.connection_context():
        messages = list(OutboxMessage.select()
                        .where((OutboxMessage.to == to) & (OutboxMessage.kind == kind))
                        .order_by(OutboxMessage.id.desc()).limit(20))
    assert messages, f"no {kind} to {to}"
    for msg in messages:
        found = re.search(r"\b(\d{6})\b", msg.body)
        if found:
            return found.group(1)
    raise AssertionError(f"no code among the last {kind} messages to {to}")


def outbox(kind=None, to=None):
    with db.connection_context():
        q = OutboxMessage.select().order_by(OutboxMessage.id)
        if kind:
            q = q.where(OutboxMessage.kind == kind)
        if to:
            q = q.where(OutboxMessage.to == to)
        return list(q)


def signin(client, email="member@example.com", password=PASSWORD, channel="email"):
    """Password, then an email code from the outbox: a fully signed-in client."""
    token = csrf(client, "/login")
    r = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert r.status_code == 303, r.get_data(as_text=True)
    verify_url = r.headers["Location"]
    token = csrf(client, verify_url)
    r = client.post(verify_url + "/channel", data={"channel": channel, "csrf_token": token})
    assert r.status_code == 303, r.get_data(as_text=True)
    with db.connection_context():
        user = User.by_email(email)
    code = last_code(user.email if channel == "email" else user.phone, channel)
    r = client.post(verify_url + "/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 303, r.get_data(as_text=True)
    return r


def user(email) -> User:
    with db.connection_context():
        return User.by_email(email)


@pytest.fixture
def member_client(client):
    signin(client, "member@example.com")
    return client


# --- loopback peers -----------------------------------------------------------------------


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            from email import message_from_bytes, policy

            msg = message_from_bytes(envelope.content, policy=policy.default)
            html = msg.get_body(("html",))
            self.messages.append({"to": envelope.rcpt_tos, "subject": msg["Subject"],
                                  "body": msg.get_body(("plain",)).get_content(),
                                  "html": html.get_content() if html else None,
                                  "type": msg.get_content_type()})
            return "250 OK"

    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.port = port
    yield handler
    controller.stop()


@pytest.fixture
def sms_receiver():
    """An SMS webhook receiver on loopback: records each POSTed JSON body."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        status = 200

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(Handler.status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    class Receiver:
        messages = received
        url = f"http://127.0.0.1:{server.server_address[1]}/sms"
        handler = Handler

    yield Receiver
    server.shutdown()


@pytest.fixture
def twilio_api():
    """A loopback double of Twilio's Messages endpoint (tests/fake_twilio.py)."""
    from fake_twilio import FakeTwilio

    with FakeTwilio() as fake:
        yield fake
