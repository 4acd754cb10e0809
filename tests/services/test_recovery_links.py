"""Emailed links across processes: gunicorn -w 4, PostgreSQL and Redis.

Twenty browsers race one reset link and one "Secure your account" link: exactly one wins
(one conditional UPDATE ... RETURNING); the per-address sending limit holds across workers.
"""

import re
import time

import pytest

from .conftest import PASSWORD, run_parallel

pytestmark = pytest.mark.services

SEND_LIMIT = 5
SERVER_ENV = {"LINK_REQUEST_MIN_MS": "0", "LINK_SENDS_PER_ADDRESS": f"{SEND_LIMIT} per hour",
              "LINK_SENDS_PER_IP": "1000 per hour"}
PATH_RE = re.compile(r"https?://[^/\s]+(/(?:password/reset|secure)/[A-Za-z0-9_-]+)")
NEW = "violet tuesday harbour lantern"


def _emails(server, to, subject):
    return [r[0] for r in server.query(
        'SELECT body FROM outbox_message WHERE "to" = %s AND kind = %s AND subject = %s '
        "ORDER BY id", to, "email", subject)]


def _wait_emails(server, to, subject, count, timeout=15.0):
    """Reset emails go after the answer (the response's close hook): wait for them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _emails(server, to, subject)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    pytest.fail(f"{len(_emails(server, to, subject))} of {count} {subject!r} to {to}")


def _ask(client, email):
    token = client.token("/password/forgot")
    return lambda: client.post("/password/forgot", {"email": email, "csrf_token": token})


def _path(body, kind):
    return next(p for p in PATH_RE.findall(body) if p.startswith("/" + kind))


def test_twenty_parallel_resets_with_one_link_exactly_one_wins(gunicorn_server):
    server, email = gunicorn_server, "admin@example.com"
    assert _ask(server.client(), email)().status == 200
    [body] = _wait_emails(server, email, "Reset your Aesthetix CRM password", 1)
    path = _path(body, "password/reset")
    before = server.scalar('SELECT password_hash FROM "user" WHERE email = %s', email)
    clients = [server.client() for _ in range(20)]
    tokens = [c.token(path) for c in clients]
    results = run_parallel([
        (lambda c=c, t=t: c.post(path, {"new_password": NEW, "confirm_password": NEW,
                                        "csrf_token": t}))
        for c, t in zip(clients, tokens, strict=True)])
    statuses = sorted(r.status for r in results)
    assert statuses == [303] + [404] * 19, statuses
    assert server.scalar('SELECT password_hash FROM "user" WHERE email = %s', email) != before
    assert server.scalar("SELECT count(*) FROM audit_event WHERE event = 'link.used'") == 1
    assert server.scalar("SELECT count(*) FROM audit_event WHERE event = 'password.changed' "
                         "AND details LIKE %s", '%"method": "reset"%') == 1
    # The old password no longer signs in; the new one reaches the second step.
    c = server.client()
    r = c.post("/login", {"email": email, "password": PASSWORD,
                          "csrf_token": c.token("/login")})
    assert r.status == 422
    r = c.post("/login", {"email": email, "password": NEW, "csrf_token": c.token("/login")})
    assert r.status == 303 and "/verify/" in r.headers["Location"]


def test_twenty_parallel_secure_presses_exactly_one_wins(gunicorn_server):
    server, email = gunicorn_server, "owner@example.com"
    server.signin(email)  # a new browser: the notice carries a Secure-your-account link
    [body] = _wait_emails(server, email, "New sign-in to your Aesthetix CRM account", 1)
    path = _path(body, "secure")
    clients = [server.client() for _ in range(20)]
    tokens = [c.token(path) for c in clients]
    results = run_parallel([(lambda c=c, t=t: c.post(path, {"csrf_token": t}))
                            for c, t in zip(clients, tokens, strict=True)])
    statuses = sorted(r.status for r in results)
    assert statuses == [303] + [404] * 19, statuses
    assert server.scalar("SELECT count(*) FROM audit_event WHERE event = 'account.secured'") == 1
    winner = next(r for r in results if r.status == 303)
    assert "/password/reset/" in winner.headers["Location"]


def test_link_sends_per_address_hold_across_workers(gunicorn_server):
    server, email = gunicorn_server, "member@example.com"
    clients = [server.client() for _ in range(30)]
    results = run_parallel([_ask(c, email) for c in clients])
    statuses = sorted(r.status for r in results)
    assert statuses == [200] * SEND_LIMIT + [429] * (30 - SEND_LIMIT), statuses
    _wait_emails(server, email, "Reset your Aesthetix CRM password", SEND_LIMIT)
    time.sleep(0.5)
    assert len(_emails(server, email, "Reset your Aesthetix CRM password")) == SEND_LIMIT
    # An unknown address is counted the same way: the limit says nothing about accounts.
    results = run_parallel([_ask(c, "nobody@example.com") for c in clients[:10]])
    assert sorted(r.status for r in results) == [200] * SEND_LIMIT + [429] * 5
