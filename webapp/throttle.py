"""Guess limits claimed before the secret is compared: reserve, then check.

Flask-Limiter's `deduct_when` tests a limit before the view and records the failure after
it, so N parallel requests all pass the test before any of them is recorded. Here every
attempt first takes a slot with one atomic increment-and-compare in the limiter storage
(Redis INCRBY at scale, shared by every worker), so no burst ever compares more secrets
than the limit; a correct secret then gives its slot back, so only failures are counted.
"""

import math
import time
from dataclasses import dataclass, field

from flask import current_app
from limits import parse
from limits.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter
from werkzeug.exceptions import TooManyRequests

from .extensions import limiter


class Throttled(TooManyRequests):
    """A guess limit is used up; a slot frees up in `retry_after` seconds."""

    def __init__(self, retry_after: int):
        super().__init__()
        self.retry_after = retry_after

    @property
    def retry_minutes(self) -> int:
        """The wait in whole minutes for a message, rounded up and never zero."""
        return max(1, (self.retry_after + 59) // 60)


@dataclass
class Reservation:
    """The slots one attempt holds, as (limit item, storage identifiers)."""

    taken: list = field(default_factory=list)

    def give_back(self) -> None:
        """The secret was right: this attempt counts against nobody."""
        for item, ids in self.taken:
            _give_back(item, ids)
        self.taken.clear()


def reserve(*claims: tuple[str, ...]) -> Reservation:
    """Take one slot of every `(limit, key, ...)` claim, in order, before any secret is checked.

    :raise Throttled: a claim is used up; the slots already taken are given back, since no
        secret will be compared for this request.
    """
    reservation = Reservation()
    if not limiter.enabled:
        return reservation
    strategy = limiter.limiter
    prefix = current_app.config["RATELIMIT_KEY_PREFIX"]
    for limit, *keys in claims:
        item, ids = parse(limit), (prefix, *keys)
        if not strategy.hit(item, *ids):
            reservation.give_back()
            reset_at = strategy.get_window_stats(item, *ids).reset_time
            raise Throttled(max(1, math.ceil(reset_at - time.time())))
        reservation.taken.append((item, ids))
    return reservation


def remaining(limit: str, *keys: str) -> int | None:
    """Slots left in the current window of `(limit, key, ...)`, read without taking one;
    None while limits are off (nothing to count)."""
    if not limiter.enabled:
        return None
    item = parse(limit)
    stats = limiter.limiter.get_window_stats(item, current_app.config["RATELIMIT_KEY_PREFIX"],
                                             *keys)
    return max(0, stats.remaining)


def _give_back(item, ids) -> None:
    strategy = limiter.limiter
    if isinstance(strategy, FixedWindowRateLimiter):
        key, storage = item.key_for(*ids), strategy.storage
        # Never below zero: if the window ended meanwhile, the decrement landed in a new one.
        if storage.incr(key, item.get_expiry(), amount=-1) < 0:
            storage.incr(key, item.get_expiry(), amount=1)
    elif isinstance(strategy, SlidingWindowCounterRateLimiter):
        strategy.hit(item, *ids, cost=-1)
    # A moving window keeps one entry per hit and cannot return one: with that strategy a
    # success stays counted, which errs on the strict side.
