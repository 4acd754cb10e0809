"""Security notices are never lost: the delivery table, sending after commit, `flask deliver`."""

import dataclasses
import datetime as dt
import re
import threading

import pytest
from conftest import csrf, free_port, last_code, outbox, post, signin, user
from security.helpers import cid_from

from webapp.config import DEFAULTS
from webapp.delivery import notices
from webapp.extensions import db
from webapp.models import Delivery, OutboxMessage, utcnow
from webapp.verify.purposes import TABLE

EMAIL, OLD_PHONE, NEW_PHONE = "member@example.com", "+12025550103", "+12025550177"
PHONE_NOTICE = "Your phone number was changed"
SCHEDULE = [int(s) for s in DEFAULTS["DELIVERY_RETRY_SCHEDULE"].split(",")]


class Sink:
    """A real SMTP server (aiosmtpd) on a fixed loopback port, started and stopped at will."""

    def __init__(self):
        self.port = free_port()
        self.messages = []
        self._controller = None

    def start(self):
        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                from email import message_from_bytes, policy

                msg = message_from_bytes(envelope.content, policy=policy.default)
                sink.messages.append({"to": envelope.rcpt_tos, "subject": msg["Subject"],
                                      "type": msg.get_content_type()})
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def about(self, subject):
        return [m for m in self.messages if m["subject"] == subject]


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.stop()


def smtp_app(app_factory, sink, **extra):
    """Mail through the sink's port (up or down), SMS to the outbox."""
    return app_factory(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=sink.port,
                       MAIL_TIMEOUT=2, **extra)


def change_phone(client):
    """The phone change, verified with an SMS code to the current phone (no email needed)."""
    me = user(EMAIL)
    cid = cid_from(post(client, "/settings/profile", {"name": me.name, "email": me.email,
                                                      "phone": NEW_PHONE}))
    token = csrf(client, f"/verify/{cid}")
    client.post(f"/verify/{cid}/channel", data={"channel": "sms", "csrf_token": token})
    return client.post(f"/verify/{cid}/code", data={"code": last_code(OLD_PHONE, "sms"),
                                                    "csrf_token": token})


def rows(**where) -> list[Delivery]:
    with db.connection_context():
        query = Delivery.select().order_by(Delivery.id)
        for name, value in where.items():
            query = query.where(getattr(Delivery, name) == value)
        return list(query)


def deliver(app, *args) -> str:
    result = app.test_cli_runner().invoke(args=["deliver", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_smtp_down_during_phone_change_keeps_the_notice_then_deliver_sends_it_once(
        app_factory, sink, clock):
    """SMTP down: the change is saved, its notice waits; SMTP back: `deliver` sends it once."""
    app = smtp_app(app_factory, sink)  # nothing listens on the port yet
    client = app.test_client()
    signin(client, EMAIL, channel="sms")
    r = change_phone(client)
    assert r.status_code == 303 and user(EMAIL).phone == NEW_PHONE
    [notice] = rows(subject=PHONE_NOTICE)
    assert notice.status == "pending" and notice.to == EMAIL
    assert notice.attempts == 1  # tried right after commit, as before
    assert notice.next_attempt_at == clock.now + dt.timedelta(seconds=SCHEDULE[0])
    assert "0177" in notice.body and NEW_PHONE not in notice.body  # masked, as in the email
    sink.start()
    # Not due yet: a pass sends nothing.
    deliver(app)
    assert sink.messages == []
    clock.advance(SCHEDULE[0])
    out = deliver(app)
    assert "sent 2" in out  # the phone change's notice, and the sign-in's new-device notice
    assert len(sink.about(PHONE_NOTICE)) == 1
    assert sink.about(PHONE_NOTICE)[0]["to"] == [EMAIL]
    assert sink.about(PHONE_NOTICE)[0]["type"] == "multipart/alternative"
    [notice] = rows(subject=PHONE_NOTICE)
    assert notice.status == "sent" and notice.attempts == 2 and notice.sent_at == clock.now
    # Exactly once: more passes, later, send nothing again.
    clock.advance(24 * 3600)
    deliver(app)
    deliver(app)
    assert len(sink.about(PHONE_NOTICE)) == 1


def test_notice_goes_out_in_the_request_when_smtp_is_up(app_factory, sink):
    """SMTP up: the notice is sent before the answer, and the row says sent."""
    sink.start()
    app = smtp_app(app_factory, sink)
    client = app.test_client()
    signin(client, EMAIL, channel="sms")
    assert change_phone(client).status_code == 303
    assert len(sink.about(PHONE_NOTICE)) == 1
    [notice] = rows(subject=PHONE_NOTICE)
    assert notice.status == "sent" and notice.attempts == 1
    deliver(app)
    assert len(sink.about(PHONE_NOTICE)) == 1


def test_a_crash_after_commit_does_not_lose_the_notice(member_client, app, monkeypatch):
    """The notice commits with the change: a failure after the commit (before any hand-off)
    leaves it pending, and `deliver` sends it."""
    real = TABLE["change_phone"]

    def crash(v):
        raise RuntimeError("worker killed after commit")

    # The process dies after the commit: neither the page nor the hand-off happens.
    monkeypatch.setitem(TABLE, "change_phone", dataclasses.replace(real, after=crash))
    monkeypatch.setattr(notices, "deliver_ids", lambda config, ids: None)
    me = user(EMAIL)
    cid = cid_from(post(member_client, "/settings/profile",
                        {"name": me.name, "email": me.email, "phone": NEW_PHONE}))
    token = csrf(member_client, f"/verify/{cid}")
    member_client.post(f"/verify/{cid}/channel", data={"channel": "sms", "csrf_token": token})
    r = member_client.post(f"/verify/{cid}/code", data={"code": last_code(OLD_PHONE, "sms"),
                                                        "csrf_token": token})
    assert r.status_code == 500
    assert user(EMAIL).phone == NEW_PHONE  # the change committed
    [notice] = rows(subject=PHONE_NOTICE)
    assert notice.status == "pending" and notice.attempts == 0
    assert not [m for m in outbox("email", EMAIL) if m.subject == PHONE_NOTICE]
    monkeypatch.undo()
    assert "sent 1" in deliver(app)
    assert [m.subject for m in outbox("email", EMAIL)].count(PHONE_NOTICE) == 1


def test_a_rolled_back_change_leaves_no_notice(member_client, monkeypatch):
    """The applier fails after its writes: the change and its notice go together."""
    real = TABLE["change_phone"]

    def half_then_fail(c, subject, now):
        real.apply(c, subject, now)
        raise RuntimeError("connection lost")

    monkeypatch.setitem(TABLE, "change_phone", dataclasses.replace(real, apply=half_then_fail))
    assert change_phone(member_client).status_code == 500
    assert user(EMAIL).phone == OLD_PHONE
    assert rows(subject=PHONE_NOTICE) == []


@pytest.mark.config(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_TIMEOUT=1)
def test_retries_follow_the_schedule_then_the_notice_is_failed(app, clock, caplog):
    """Backoff from config.DEFAULTS (1 min, 5 min, 30 min, 2 h, 12 h), then failed; nothing
    is tried before it is due."""
    app.config["MAIL_PORT"] = free_port()  # nothing listens
    with app.test_request_context(), db.connection_context():
        row = notices.enqueue("email", EMAIL, "Your password was changed", "body", "<p>body</p>",
                              now=utcnow())
    for attempt, delay in enumerate(SCHEDULE, start=1):
        assert "to retry 1" in deliver(app)
        [now] = rows(id=row.id)
        assert now.status == "pending" and now.attempts == attempt
        assert now.next_attempt_at == clock.now + dt.timedelta(seconds=delay)
        assert "SMTP delivery failed" in now.last_error
        clock.advance(delay - 1)
        assert "to retry 0" in deliver(app)  # one second early: not tried
        clock.advance(1)
    assert "failed 1" in deliver(app)
    [last] = rows(id=row.id)
    assert last.status == "failed" and last.attempts == len(SCHEDULE) + 1
    assert "failed after" in caplog.text
    clock.advance(7 * 24 * 3600)
    assert "sent 0, to retry 0" in deliver(app)  # a failed notice is never tried again


def test_a_held_notice_is_not_sent_by_another_sender_until_its_hold_runs_out(app, clock):
    """A sender's hold (claimed_until) is exclusive; a sender that died lets go when it ends."""
    with app.test_request_context(), db.connection_context():
        row = notices.enqueue("email", EMAIL, "s", "b", now=utcnow())
        held = notices.claim_one(app.config, row.id, utcnow())
        assert held is not None
        assert notices.claim_one(app.config, row.id, utcnow()) is None
        assert notices.claim_batch(app.config, utcnow(), 10) == []
        clock.advance(app.config["DELIVERY_CLAIM_SECONDS"])
        [again] = notices.claim_batch(app.config, utcnow(), 10)
        assert again.id == row.id
        # The first sender's late outcome does not settle the new holder's claim.
        assert notices.send_claimed(app.config, held) is True
        assert Delivery.get_by_id(row.id).status == "pending"
        assert notices.send_claimed(app.config, again) is True
        assert Delivery.get_by_id(row.id).status == "sent"
    assert [m.subject for m in outbox("email", EMAIL)].count("s") == 2  # both sends happened


def test_sent_notices_are_deleted_after_the_keep_days_failed_ones_stay(app, clock):
    with app.test_request_context(), db.connection_context():
        sent = notices.enqueue("email", EMAIL, "sent one", "b", now=utcnow())
        failed = notices.enqueue("email", EMAIL, "failed one", "b", now=utcnow())
        Delivery.update(status="failed").where(Delivery.id == failed.id).execute()
    deliver(app)
    assert [r.status for r in rows(id=sent.id)] == ["sent"]
    clock.advance(DEFAULTS["DELIVERY_KEEP_DAYS"] * 86400 - 1)
    deliver(app)
    assert rows(id=sent.id)  # not yet
    clock.advance(2)
    deliver(app)
    assert rows(id=sent.id) == [] and [r.status for r in rows(id=failed.id)] == ["failed"]


def test_parallel_passes_on_sqlite_send_each_notice_once(app):
    """Four threads run `deliver` passes over 40 due notices: each is sent exactly once."""
    app.config["DELIVERY_BATCH"] = 3
    with app.test_request_context(), db.connection_context():
        for n in range(40):
            notices.enqueue("email", EMAIL, f"notice {n}", "b", now=utcnow())
    barrier = threading.Barrier(4)
    errors = []

    def worker():
        try:
            with app.app_context(), db.connection_context():
                barrier.wait()
                notices.run_pass(app.config)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    subjects = [m.subject for m in outbox("email", EMAIL) if m.subject.startswith("notice ")]
    assert sorted(subjects) == sorted(f"notice {n}" for n in range(40))
    assert {r.status for r in rows()} == {"sent"}


def test_codes_are_never_kept_in_the_delivery_table(app_factory, sink):
    """Codes go straight to the transport: not one is in `delivery`, even when sending fails."""
    sink.start()
    app = smtp_app(app_factory, sink)
    client = app.test_client()
    signin(client, EMAIL, channel="sms")
    me = user(EMAIL)
    cid = cid_from(post(client, "/settings/profile", {"name": me.name, "email": me.email,
                                                      "phone": NEW_PHONE}))
    token = csrf(client, f"/verify/{cid}")
    client.post(f"/verify/{cid}/channel", data={"channel": "email", "csrf_token": token})
    [code_mail] = [m for m in sink.messages if "code" in m["subject"]]
    code = re.search(r"\d{6}", code_mail["subject"]).group(0)
    r = client.post(f"/verify/{cid}/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 303 and rows(subject=PHONE_NOTICE)  # a notice was kept meanwhile
    sms_codes = [re.search(r"\d{6}", m.body).group(0) for m in outbox("sms")]
    kept = rows()
    assert all(code not in r.body + (r.html or "") + r.subject for r in kept)
    assert all(c not in r.body for c in sms_codes for r in kept)
    assert not [r for r in kept if "code" in r.subject.lower() and "backup" not in r.subject]


def test_sms_notices_go_through_the_delivery_table(member_client, app, sms_receiver, clock):
    """An SMS notice waits when the SMS gateway is down, like an email."""
    from webapp.web import notify_phone

    app.config.update(SMS_BACKEND="webhook", SMS_WEBHOOK_URL=sms_receiver.url)
    sms_receiver.handler.status = 500
    with app.test_request_context(), db.connection_context():
        user_row = user(EMAIL)
        notices_before = len(rows())
        assert notify_phone(user_row, "Aesthetix CRM: test notice") is True
        ids = list(notices.pending_after_request())
    assert len(rows()) == notices_before + 1 and len(ids) == 1
    with app.app_context(), db.connection_context():
        notices.deliver_ids(app.config, ids)
    [row] = rows(id=ids[0])
    assert row.kind == "sms" and row.status == "pending" and row.attempts == 1
    sms_receiver.handler.status = 200
    clock.advance(SCHEDULE[0])
    assert "sent 1" in deliver(app)
    assert [m["body"] for m in sms_receiver.messages].count("Aesthetix CRM: test notice") == 2


@pytest.mark.config(DEV_OUTBOX=True)
def test_dev_outbox_still_shows_the_notices_sent(member_client):
    """Notices sent through the delivery table show on /dev/outbox as before."""
    assert change_phone(member_client).status_code == 303
    page = member_client.get("/dev/outbox").get_data(as_text=True)
    assert PHONE_NOTICE in page
    with db.connection_context():
        msg = (OutboxMessage.select().where(OutboxMessage.subject == PHONE_NOTICE).get())
    assert msg.html and "<html" in msg.html
