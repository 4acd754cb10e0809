"""S-10: starting a verification is atomic: however many start at once, one stays open per
account and purpose (on PostgreSQL in the services leg, where the race was reproduced)."""

import threading

from webapp.config import DEFAULTS
from webapp.extensions import db
from webapp.models import Challenge, User, utcnow
from webapp.security import channels, stepup

POLICY = stepup.Policy.from_config(DEFAULTS)


def test_s10_parallel_starts_leave_one_open_challenge(app):
    with db.connection_context():
        member = User.by_email("member@example.com")
    barrier = threading.Barrier(10)
    errors = []

    def start(i):
        try:
            with db.connection_context():
                barrier.wait()
                stepup.start(member, member, "change_phone", {"phone": f"+120255501{60 + i}"},
                             rule=channels.TRUSTED, now=utcnow(), policy=POLICY)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with db.connection_context():
        rows = list(Challenge.select().where(Challenge.purpose == "change_phone"))
    assert len(rows) == 10
    assert sum(1 for c in rows if c.cancelled_at is None and c.consumed_at is None) == 1
