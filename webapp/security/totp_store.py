"""The authenticator's used-step counter: a code works once, and never after a later one.

Peewee on the User row (no Flask); the maths is in totp.py.
"""

from ..models import User
from .totp import matching_step, normalise


def claim_step(user_id: int, step: int) -> bool:
    """Record `step` as used; True only for the one request that moved the counter forward.

    One conditional UPDATE: two requests racing with the same code cannot both pass, and a
    code from an earlier step (still inside the window) is refused once a later one was used.
    """
    updated = (User.update(totp_last_step=step)
               .where((User.id == user_id)
                      & (User.totp_last_step < step)
                      & User.totp_secret.is_null(False)
                      & User.totp_enabled_at.is_null(False))
               .execute())
    return updated == 1


def check(user: User, raw_code, now, secret: str | None) -> tuple[bool, str]:
    """Verify an app code for a user whose decrypted secret is given.

    Returns (ok, reason) with reason one of "ok", "format", "no_secret", "wrong", "replay".
    """
    code = normalise(raw_code)
    if code is None:
        return False, "format"
    if not secret:
        return False, "no_secret"
    step = matching_step(secret, code, now)
    if step is None:
        return False, "wrong"
    if not claim_step(user.id, step):
        return False, "replay"
    user.totp_last_step = step
    return True, "ok"
