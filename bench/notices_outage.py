"""Security notices lost while the SMTP server is down for a window (README "Deploying").

The app runs in process on a throwaway SQLite database and mails through a real SMTP server
on loopback (aiosmtpd). During the window the server is stopped and N password changes are
made, one every window/N seconds of app time; each must produce a "Your password was
changed" notice. Then the server comes back and, where the app has one, the `deliver`
command runs once a minute of app time for the next 24 hours. Lost = changes - notices that
reached the server. Usage: `.venv/bin/python bench/notices_outage.py [--changes 20]
[--window 600]`.
"""

import argparse
import datetime as dt
import logging
import re
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp import create_app, models  # noqa: E402
from webapp.cli import DEMO_PASSWORD, seed_demo  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import OutboxMessage  # noqa: E402

SUBJECT = "Your password was changed"
EMAIL = "member@example.com"
CSRF_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    def __init__(self, port):
        self.port, self.subjects, self.controller = port, [], None

    def start(self):
        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                from email import message_from_bytes, policy

                sink.subjects.append(message_from_bytes(envelope.content,
                                                        policy=policy.default)["Subject"])
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None


class Clock:
    def __init__(self):
        self.now = models.clock()

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += dt.timedelta(seconds=seconds)


def token(client, path):
    return CSRF_RE.search(client.get(path).get_data(as_text=True)).group(1)


def sign_in(client):
    r = client.post("/login", data={"email": EMAIL, "password": DEMO_PASSWORD,
                                    "csrf_token": token(client, "/login")})
    url = r.headers["Location"]
    t = token(client, url)
    client.post(url + "/channel", data={"channel": "sms", "csrf_token": t})
    with db.connection_context():
        body = (OutboxMessage.select().where(OutboxMessage.kind == "sms")
                .order_by(OutboxMessage.id.desc()).first().body)
    code = re.search(r"\d{6}", body).group(0)
    assert client.post(url + "/code", data={"code": code, "csrf_token": t}).status_code == 303


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--window", type=int, default=600, help="seconds SMTP is down")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    clock = Clock()
    models.clock = clock
    sink = Sink(free_port())
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({
            "TESTING": True, "DATABASE_URL": f"sqlite:///{Path(tmp) / 'outage.db'}",
            "SECRET_KEY": "outage-bench-" + "x" * 32, "RATELIMIT_ENABLED": False,
            "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8192,
            "MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": sink.port,
            "MAIL_TIMEOUT": 2, "SMS_BACKEND": "outbox",
        })
        from webapp.db import migrate

        with app.app_context():
            migrate()
            with db.connection_context():
                seed_demo(DEMO_PASSWORD)
        client = app.test_client()
        sign_in(client)  # SMS code: no email needed while the server is down
        passwords = [DEMO_PASSWORD] + [f"outage-window-pass-{n:03d}" for n in range(args.changes)]
        for n in range(args.changes):  # SMTP down for the whole window
            r = client.post("/settings/profile/password", data={
                "current_password": passwords[n], "new_password": passwords[n + 1],
                "confirm_password": passwords[n + 1],
                "csrf_token": token(client, "/settings/profile")})
            assert r.status_code == 303, r.status_code
            clock.advance(args.window / args.changes)
        sink.start()  # SMTP is back
        has_worker = "deliver" in app.cli.commands
        runner = app.test_cli_runner()
        if has_worker:
            for _ in range(24 * 60):
                clock.advance(60)
                runner.invoke(args=["deliver"])
        sink.stop()
    received = sink.subjects.count(SUBJECT)
    print(f"SMTP down {args.window} s, {args.changes} password changes, "
          f"worker: {'flask deliver each minute' if has_worker else 'none (no deliver command)'}")
    print(f"notices received {received}, lost {args.changes - received}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
