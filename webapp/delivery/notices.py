"""Security notices through a transactional outbox: never lost when the transport is down.

A notice is written to the `delivery` table in the transaction of the change it reports (so
the change and its notice commit together or not at all), sent right after the request's
transactions are done, and, when the transport fails, retried on a schedule by
`flask --app wsgi deliver [--loop]`. Codes never come here: the person is waiting for them,
so they are sent at once and a failure is shown at once.

Each send holds its row first with one conditional UPDATE (`claimed_until`), so a notice is
sent by one sender only, whether that is the request, a worker or several workers; on
PostgreSQL the workers pick their rows with SELECT ... FOR UPDATE SKIP LOCKED, so they never
queue behind each other.
"""

import datetime as dt
import logging
import signal
import threading

from peewee import fn

from ..db import atomic_write, is_sqlite
from ..extensions import db
from ..models import Delivery, utcnow
from . import DeliveryError, send_email, send_sms

log = logging.getLogger(__name__)

PENDING, SENT, FAILED = "pending", "sent", "failed"


def schedule(config) -> list[int]:
    """The retry delays in seconds, from DELIVERY_RETRY_SCHEDULE ("60,300,...")."""
    return [int(part) for part in str(config["DELIVERY_RETRY_SCHEDULE"]).split(",")
            if part.strip()]


def enqueue(kind: str, to: str, subject: str, body: str, html: str | None = None, *,
            now: dt.datetime) -> Delivery:
    """Write a notice; it joins the caller's transaction when there is one."""
    return Delivery.create(kind=kind, to=to, subject=subject, body=body, html=html,
                           next_attempt_at=now, created_at=now)


def _claimable(now: dt.datetime):
    return ((Delivery.status == PENDING) & (Delivery.next_attempt_at <= now)
            & (Delivery.claimed_until.is_null() | (Delivery.claimed_until <= now)))


def _hold_until(config, now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=int(config["DELIVERY_CLAIM_SECONDS"]))


def claim_one(config, delivery_id: int, now: dt.datetime) -> Delivery | None:
    """Hold one due notice for this sender (one conditional UPDATE); None if it is not ours."""
    until = _hold_until(config, now)
    held = (Delivery.update(claimed_until=until)
            .where((Delivery.id == delivery_id) & _claimable(now))
            .execute())
    if held != 1:
        return None
    return Delivery.get_by_id(delivery_id)


def claim_batch(config, now: dt.datetime, limit: int) -> list[Delivery]:
    """Hold up to `limit` due notices for this sender, oldest due first.

    PostgreSQL: the rows are picked with FOR UPDATE SKIP LOCKED, so a row another worker is
    claiming at this moment is skipped, never waited for or taken twice. SQLite: the write
    transaction is taken up front (BEGIN IMMEDIATE), so claims run one after another.
    """
    until = _hold_until(config, now)
    with atomic_write():
        query = (Delivery.select(Delivery.id)
                 .where(_claimable(now))
                 .order_by(Delivery.next_attempt_at, Delivery.id)
                 .limit(limit))
        if not is_sqlite():
            query = query.for_update("FOR UPDATE SKIP LOCKED")
        ids = [row.id for row in query]
        if not ids:
            return []
        # Rows we hold locked (PostgreSQL) or under the write lock (SQLite): the same
        # condition again, so a claim is still one conditional UPDATE.
        (Delivery.update(claimed_until=until)
         .where(Delivery.id.in_(ids) & _claimable(now))
         .execute())
        return list(Delivery.select()
                    .where(Delivery.id.in_(ids) & (Delivery.claimed_until == until))
                    .order_by(Delivery.id))


def _transmit(config, row: Delivery) -> None:
    if row.kind == "sms":
        send_sms(config, row.to, row.body)
    else:
        send_email(config, row.to, row.subject, row.body, row.html)


def send_claimed(config, row: Delivery, now_fn=utcnow) -> bool:
    """Send a row this sender holds and record the outcome; True when it went out.

    A failure is never raised: the row waits for its next try, or is marked failed once the
    schedule is spent. Only this sender's claim is settled (a claim that ran out and was
    taken by another sender is left to that one).
    """
    mine = (Delivery.id == row.id) & (Delivery.claimed_until == row.claimed_until)
    try:
        _transmit(config, row)
    except DeliveryError as exc:
        attempts = row.attempts + 1
        delays = schedule(config)
        now = now_fn()
        if attempts > len(delays):
            (Delivery.update(status=FAILED, attempts=attempts, claimed_until=None,
                             last_error=str(exc)[:255])
             .where(mine).execute())
            log.error("security notice %s failed after %s attempts: %s", row.id, attempts, exc)
        else:
            (Delivery.update(attempts=attempts, claimed_until=None, last_error=str(exc)[:255],
                             next_attempt_at=now + dt.timedelta(seconds=delays[attempts - 1]))
             .where(mine).execute())
            log.warning("security notice %s not delivered (attempt %s), retry in %s s: %s",
                        row.id, attempts, delays[attempts - 1], exc)
        return False
    (Delivery.update(status=SENT, attempts=row.attempts + 1, sent_at=now_fn(),
                     claimed_until=None, last_error=None)
     .where(mine).execute())
    return True


def deliver_ids(config, ids: list[int]) -> None:
    """Right after commit: send these notices now if no other sender holds them."""
    for delivery_id in ids:
        row = claim_one(config, delivery_id, utcnow())
        if row is not None:
            send_claimed(config, row)


def forget_sent(config, now: dt.datetime) -> int:
    """Delete notices sent more than DELIVERY_KEEP_DAYS ago: the text names people and IPs."""
    before = now - dt.timedelta(days=int(config["DELIVERY_KEEP_DAYS"]))
    return (Delivery.delete()
            .where((Delivery.status == SENT) & (Delivery.sent_at < before))
            .execute())


def run_pass(config, *, should_stop=lambda: False) -> dict:
    """Send every notice that is due, batch by batch: {"sent": n, "retry": n}."""
    forget_sent(config, utcnow())
    done = {"sent": 0, "retry": 0}
    batch = int(config["DELIVERY_BATCH"])
    while not should_stop():
        rows = claim_batch(config, utcnow(), batch)
        if not rows:
            break
        for row in rows:
            if should_stop():  # let go of what is not sent yet: the next worker takes it
                (Delivery.update(claimed_until=None)
                 .where((Delivery.id == row.id) & (Delivery.claimed_until == row.claimed_until))
                 .execute())
                continue
            done["sent" if send_claimed(config, row) else "retry"] += 1
    return done


def counts() -> dict:
    """Notices by status (for `deliver` output and monitoring)."""
    by_status = {PENDING: 0, SENT: 0, FAILED: 0}
    query = (Delivery.select(Delivery.status, fn.COUNT(Delivery.id).alias("n"))
             .group_by(Delivery.status))
    for row in query:
        by_status[row.status] = row.n
    return by_status


def run_loop(config, echo=print) -> None:
    """`deliver --loop`: a pass, then a pause while nothing is due; stops cleanly on SIGTERM
    or Ctrl-C after the message in hand."""
    stop = threading.Event()

    def request_stop(signum, frame):
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)
    poll = float(config["DELIVERY_POLL_SECONDS"])
    echo(f"Delivering security notices (every {poll:g} s when idle); Ctrl-C stops.")
    while not stop.is_set():
        try:
            with db.connection_context():
                done = run_pass(config, should_stop=stop.is_set)
        except Exception:  # the database or a transport misbehaved: keep the worker alive
            log.exception("delivery pass failed; trying again after the pause")
            done = {"sent": 0, "retry": 0}
        if done["sent"] or done["retry"]:
            echo(f"sent {done['sent']}, to retry {done['retry']}")
        else:
            stop.wait(poll)
    echo("Stopped.")


def pending_after_request() -> list[int]:
    """The ids this request wrote (see web.notify), sent once its transactions are done."""
    from flask import g

    return g.setdefault("notices_to_send", [])


def init_app(app) -> None:
    """Send a request's notices after it committed, and the `deliver` command."""
    import click
    from flask import g

    @app.after_request
    def _send_notices(response):
        ids = g.pop("notices_to_send", None)
        if ids and not db.in_transaction():
            try:
                deliver_ids(app.config, ids)
            except Exception:  # the rows stay pending for the worker; the answer stands
                log.exception("security notices could not be sent after the request")
        return response

    @app.cli.command("deliver")
    @click.option("--loop", is_flag=True, help="Keep running: a worker (make worker).")
    def deliver_command(loop):
        """Send the security notices that are due (one pass), or keep doing so (--loop)."""
        if loop:
            run_loop(app.config, echo=click.echo)
            return
        with db.connection_context():
            done = run_pass(app.config)
            left = counts()
        click.echo(f"sent {done['sent']}, to retry {done['retry']}; "
                   f"pending {left[PENDING]}, failed {left[FAILED]}")

