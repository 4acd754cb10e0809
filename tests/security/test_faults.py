"""Faults: mail and SMS providers down, slow or refusing; a failing database write; a restart."""

import dataclasses
import re
import socket
import threading
import time

import pytest
from conftest import csrf, free_port, last_code, post, signin, user
from limits import parse

from security.helpers import challenge, cid_from, events
from webapp.config import DEFAULTS
from webapp.extensions import limiter
from webapp.models import utcnow
from webapp.verify.purposes import TABLE

MESSAGE = "We couldn\u2019t send the code \u2014 try again or choose another method"
EMAIL, OLD_PHONE, NEW_PHONE = "member@example.com", "+12025550103", "+12025550177"


@pytest.fixture
def stalling_server():
    """A loopback TCP server that accepts and then says nothing (a hung provider)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held, stop = [], threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


@pytest.fixture
def refusing_smtp():
    """An SMTP server on loopback that refuses every recipient with 550."""
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            return "550 5.1.1 No such user here"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def faulty_app(app_factory, kind, stalling_server, refusing_smtp, sms_receiver):
    """(app, the failing channel, the channel that still works)."""
    mail = {"MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_TIMEOUT": 1}
    sms = {"SMS_BACKEND": "webhook", "SMS_TIMEOUT": 1}
    config = {
        "smtp-down": {**mail, "MAIL_PORT": free_port()},
        "smtp-slow": {**mail, "MAIL_PORT": stalling_server},
        "smtp-refuses-recipient": {**mail, "MAIL_PORT": refusing_smtp},
        "sms-500": {**sms, "SMS_WEBHOOK_URL": sms_receiver.url},
        "sms-timeout": {**sms, "SMS_WEBHOOK_URL": f"http://127.0.0.1:{stalling_server}/sms"},
        "sms-unreachable": {**sms, "SMS_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/sms"},
    }[kind]
    if kind == "sms-500":
        sms_receiver.handler.status = 500
    failing = "email" if kind.startswith("smtp") else "sms"
    return app_factory(**config), failing, "sms" if failing == "email" else "email"


def cap_used(app, subject) -> int:
    """How many of today's change attempts the daily cap has counted for this subject."""
    with app.test_request_context():
        limit = parse(f"{app.config['DAILY_CHANGE_LIMIT']} per day")
        stats = limiter.limiter.get_window_stats(
            limit, app.config["RATELIMIT_KEY_PREFIX"], "change-attempts", str(subject.id),
            utcnow().date().isoformat())
    return app.config["DAILY_CHANGE_LIMIT"] - stats.remaining


@pytest.mark.parametrize("kind", ["smtp-down", "smtp-slow", "smtp-refuses-recipient", "sms-500",
                                  "sms-timeout", "sms-unreachable"])
def test_provider_failure_is_clear_consumes_nothing_and_is_audited(
        app_factory, kind, stalling_server, refusing_smtp, sms_receiver):
    """Faults: a failed send says so, keeps the challenge, burns one cap attempt only, audits."""
    app, failing, working = faulty_app(app_factory, kind, stalling_server, refusing_smtp,
                                       sms_receiver)
    client = app.test_client()
    # Sign in over the working channel (its backend is the outbox).
    signin(client, EMAIL, channel=working)
    me = user(EMAIL)
    r = post(client, "/settings/profile", {"name": me.name, "email": me.email,
                                           "phone": NEW_PHONE})
    cid = cid_from(r)
    token = csrf(client, f"/verify/{cid}")
    started = time.monotonic()
    r = client.post(f"/verify/{cid}/channel", data={"channel": failing, "csrf_token": token})
    took = time.monotonic() - started
    assert r.status_code == 503
    assert MESSAGE in r.get_data(as_text=True).replace("&#39;", "\u2019").replace("'", "\u2019")
    assert took < 5, took  # MAIL_TIMEOUT/SMS_TIMEOUT=1: a hung provider does not hold a worker
    c = challenge(cid)
    assert c.consumed_at is None and c.cancelled_at is None and c.sends == 0
    assert c.code_hash is None
    assert events("challenge.delivery_failed", channel=failing, outcome="failed")
    # The change attempt counted when the change started; the failed send burnt no other.
    assert cap_used(app, me) == 1
    assert user(EMAIL).phone == OLD_PHONE
    # Retrying is allowed at once (the failed send gave its slot back) and still fails cleanly.
    r = client.post(f"/verify/{cid}/channel", data={"channel": failing, "csrf_token": token})
    assert r.status_code == 503
    # Choosing the other method finishes the change.
    r = client.post(f"/verify/{cid}/channel", data={"channel": working, "csrf_token": token})
    assert r.status_code == 303
    code = last_code(EMAIL if working == "email" else OLD_PHONE, working)
    r = client.post(f"/verify/{cid}/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 303 and user(EMAIL).phone == NEW_PHONE
    assert cap_used(app, me) == 1


def test_a_failing_notice_does_not_undo_a_verified_change(app_factory):
    """Faults: SMTP down after the change: the change stands, the failure is only logged."""
    app = app_factory(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(),
                      MAIL_TIMEOUT=1)
    client = app.test_client()
    signin(client, EMAIL, channel="sms")
    me = user(EMAIL)
    cid = cid_from(post(client, "/settings/profile", {"name": me.name, "email": me.email,
                                                      "phone": NEW_PHONE}))
    token = csrf(client, f"/verify/{cid}")
    client.post(f"/verify/{cid}/channel", data={"channel": "sms", "csrf_token": token})
    r = client.post(f"/verify/{cid}/code", data={"code": last_code(OLD_PHONE, "sms"),
                                                 "csrf_token": token})
    assert r.status_code == 303 and user(EMAIL).phone == NEW_PHONE


def _phone_change_with_code(client):
    me = user(EMAIL)
    cid = cid_from(post(client, "/settings/profile", {"name": me.name, "email": me.email,
                                                      "phone": NEW_PHONE}))
    token = csrf(client, f"/verify/{cid}")
    client.post(f"/verify/{cid}/channel", data={"channel": "email", "csrf_token": token})
    return cid, token, last_code(EMAIL)


def test_database_fault_after_the_consuming_update_rolls_everything_back(member_client,
                                                                          monkeypatch):
    """RL-4: the applier fails after the consuming UPDATE and the write: nothing is kept."""
    cid, token, code = _phone_change_with_code(member_client)
    real = TABLE["change_phone"]

    def half_then_fail(c, subject, now):
        real.apply(c, subject, now)  # the phone UPDATE and its audit row run ...
        raise RuntimeError("connection lost")  # ... then the database goes away

    monkeypatch.setitem(TABLE, "change_phone", dataclasses.replace(real, apply=half_then_fail))
    r = member_client.post(f"/verify/{cid}/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 500
    assert "Nothing was changed" in r.get_data(as_text=True)
    assert user(EMAIL).phone == OLD_PHONE
    assert challenge(cid).consumed_at is None
    assert not events("phone.changed")
    # The same code still works once the database is back: the change is all or nothing.
    monkeypatch.setitem(TABLE, "change_phone", real)
    r = member_client.post(f"/verify/{cid}/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 303 and user(EMAIL).phone == NEW_PHONE
    assert challenge(cid).consumed_at is not None and len(events("phone.changed")) == 1


def test_database_busy_during_verify_waits_and_then_applies_once(member_client, app):
    """SQLite busy: another writer holds the lock; the verify waits, then applies once."""
    if not app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("the write lock is SQLite's")
    import sqlite3

    cid, token, code = _phone_change_with_code(member_client)
    blocker = sqlite3.connect(app.config["DATABASE_URL"].removeprefix("sqlite:///"),
                              check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    threading.Timer(0.5, blocker.rollback).start()
    r = member_client.post(f"/verify/{cid}/code", data={"code": code, "csrf_token": token})
    blocker.close()
    assert r.status_code == 303 and user(EMAIL).phone == NEW_PHONE


def test_restart_in_the_middle_of_a_change(app_factory):
    """State is in the database: a verification started before a restart finishes after it."""
    first = app_factory()
    client = first.test_client()
    signin(client, EMAIL)
    cid, token, code = _phone_change_with_code(client)
    cookie = client.get_cookie("session").value
    # A new process: a fresh app object on the same database file and secret key.
    second = app_factory()
    assert second is not first and second.config["DATABASE_URL"] == first.config["DATABASE_URL"]
    after = second.test_client()
    after.set_cookie("session", cookie)
    token = csrf(after, f"/verify/{cid}")
    r = after.post(f"/verify/{cid}/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 303 and user(EMAIL).phone == NEW_PHONE


def test_restart_in_the_middle_of_sign_in(app_factory):
    """The half-signed-in state (cookie) and the challenge (database) survive a restart."""
    first = app_factory()
    client = first.test_client()
    r = client.post("/login", data={"email": EMAIL, "password": "demo-password-aesthetix",
                                    "csrf_token": csrf(client)})
    url = r.headers["Location"]
    token = csrf(client, url)
    client.post(url + "/channel", data={"channel": "email", "csrf_token": token})
    cookie = client.get_cookie("session").value
    after = app_factory().test_client()
    after.set_cookie("session", cookie)
    r = after.post(url + "/code", data={"code": last_code(EMAIL), "csrf_token": token})
    assert r.status_code == 303 and after.get("/settings/profile").status_code == 200


def test_expired_challenges_from_before_a_restart_stay_closed(app_factory, clock):
    """A restart does not revive anything: expiry is a stored time, checked on every step."""
    first = app_factory()
    client = first.test_client()
    signin(client, EMAIL)
    cid, token, code = _phone_change_with_code(client)
    clock.advance(DEFAULTS["LOGIN_PENDING_SECONDS"] + 1)
    after = app_factory().test_client()
    after.set_cookie("session", client.get_cookie("session").value)
    r = after.post(f"/verify/{cid}/code", data={"code": code,
                                                "csrf_token": csrf(after, "/settings/profile")})
    assert r.status_code == 409 and user(EMAIL).phone == OLD_PHONE
    assert re.search(r"expired", r.get_data(as_text=True))
