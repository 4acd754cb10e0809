"""The organisation's rules as decisions: who complies, until when, and whether to block.

No request here: functions take the user, the membership, the organisation and `now`.
"""

import datetime as dt
from dataclasses import dataclass

from peewee import fn

from ..models import Passkey, User


def has_strong_factor(user) -> bool:
    """Whether the person has an authenticator app or passkey: what "Require an
    authenticator app or passkey" asks (read only where the organisation's rule is on)."""
    return bool(user.totp_enabled) or Passkey.select().where(Passkey.user == user.id).exists()


def strong_factor_test(users):
    """`has_strong_factor` for a page of people, with one query for all their passkeys."""
    keyed = {row[0] for row in Passkey.select(Passkey.user)
             .where(Passkey.user.in_([u.id for u in users])).distinct().tuples()}
    return lambda user: bool(user.totp_enabled) or user.id in keyed


def missing_strong_factor():
    """The same rule as a query condition on User (the Team page's filter)."""
    no_app = User.totp_enabled_at.is_null() | User.totp_secret.is_null()
    return no_app & ~fn.EXISTS(Passkey.select(Passkey.id).where(Passkey.user == User.id))


@dataclass(frozen=True)
class Standing:
    """Where a person stands with the rule: required at all, complies, and the deadline."""

    required: bool
    compliant: bool = True
    deadline: dt.datetime | None = None
    blocked: bool = False

    def days_left(self, now) -> int:
        """Whole days left before the block, counted up (a few hours left is still 1)."""
        if self.deadline is None:
            return 0
        seconds = (self.deadline - now).total_seconds()
        return max(0, -(-int(seconds) // 86400))


NOT_REQUIRED = Standing(required=False)


def grace_days(org, default_days: int) -> int:
    return default_days if org.strong_factor_grace_days is None else org.strong_factor_grace_days


def deadline(org, seat, default_days: int) -> dt.datetime | None:
    """The end of the person's grace period: from when the rule was turned on, or from when
    they joined if that was later (a newcomer gets the whole period)."""
    since = org.strong_factor_required_at
    if since is None:
        return None
    start = max(since, seat.created_at) if seat.created_at else since
    return start + dt.timedelta(days=grace_days(org, default_days))


def standing(user, seat, org, now, default_days: int) -> Standing:
    """The person's standing under their organisation's rule."""
    if org is None or seat is None or org.strong_factor_required_at is None:
        return NOT_REQUIRED
    if has_strong_factor(user):
        return Standing(required=True)
    end = deadline(org, seat, default_days)
    return Standing(required=True, compliant=False, deadline=end, blocked=now >= end)
