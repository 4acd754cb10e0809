"""`flask deliver` workers on PostgreSQL: several at once send each notice exactly once."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from conftest import free_port

from webapp.delivery import notices
from webapp.extensions import db
from webapp.models import Delivery, utcnow

from .conftest import ROOT

pytestmark = pytest.mark.services

ROWS = 100


@pytest.fixture
def slow_sink():
    """A real SMTP server on loopback that counts by subject. The first message waits until a
    second one is in flight (or 30 s), so two workers are surely sending at the same time;
    then 20 ms per message keeps them overlapping."""
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self):
            self.subjects = []
            self.in_flight = 0
            self.overlap = None

        async def handle_DATA(self, server, session, envelope):
            from email import message_from_bytes, policy

            if self.overlap is None:
                self.overlap = asyncio.Event()
            self.in_flight += 1
            if self.in_flight >= 2:
                self.overlap.set()
            try:
                await asyncio.wait_for(self.overlap.wait(), 30)
            except TimeoutError:
                pass  # one worker only: the assertions below say so
            await asyncio.sleep(0.02)
            self.in_flight -= 1
            msg = message_from_bytes(envelope.content, policy=policy.default)
            self.subjects.append(msg["Subject"])
            return "250 OK"

    handler = Handler()
    handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    yield handler
    controller.stop()


def worker_env(app, sink, **extra) -> dict:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": app.config["DATABASE_URL"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(sink.port),
        "SMS_BACKEND": "outbox", "RATELIMIT_STORAGE_URI": "memory://",
        "DELIVERY_BATCH": "5", "MAIL_TIMEOUT": "60",
    })
    env.update(extra)
    return env


def flask(*args) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def pending(app, n: int) -> None:
    with app.test_request_context(), db.connection_context():
        for i in range(n):
            notices.enqueue("email", "member@example.com", f"notice {i:03d}", "body",
                            "<p>body</p>", now=utcnow())


def statuses() -> Counter:
    with db.connection_context():
        return Counter(r.status for r in Delivery.select())


def test_two_deliver_processes_race_over_100_notices_and_send_each_once(app, slow_sink):
    assert os.environ.get("TEST_DATABASE_URL"), "the services leg runs on PostgreSQL"
    assert app.config["DATABASE_URL"].startswith("postgresql")
    pending(app, ROWS)
    env = worker_env(app, slow_sink)
    procs = [subprocess.Popen(flask("deliver"), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    sent = Counter(slow_sink.subjects)
    assert sorted(sent) == [f"notice {i:03d}" for i in range(ROWS)]
    assert set(sent.values()) == {1}, [s for s, n in sent.items() if n > 1]  # each once
    per_worker = [int(re_sent(out)) for out in outputs]
    assert sum(per_worker) == ROWS, outputs
    assert all(n > 0 for n in per_worker), outputs  # both really worked the same rows
    assert statuses() == Counter({"sent": ROWS})


def re_sent(output: str) -> str:
    import re

    match = re.search(r"sent (\d+)", output)
    assert match, output
    return match.group(1)


def test_a_worker_loop_sends_new_notices_and_stops_cleanly_on_sigterm(app, slow_sink):
    slow_sink.overlap = asyncio.Event()
    slow_sink.overlap.set()  # one worker here: nothing to wait for
    env = worker_env(app, slow_sink, DELIVERY_POLL_SECONDS="1")
    proc = subprocess.Popen(flask("deliver", "--loop"), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1)
        pending(app, 10)
        deadline = time.monotonic() + 30
        while len(slow_sink.subjects) < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sorted(slow_sink.subjects) == [f"notice {i:03d}" for i in range(10)]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "Stopped." in out
    assert statuses() == Counter({"sent": 10})
