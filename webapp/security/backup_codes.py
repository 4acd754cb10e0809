"""Backup codes: ten single-use codes of 60 random bits, kept only as keyed HMAC digests.

A code is 12 symbols from a 32-symbol alphabet without 0/O and 1/I (5 bits each), shown in
groups of four like 7KQM-R2XD-9PWA. The database holds HMAC-SHA256(key, user id, code) with a
key derived from SECRET_KEY, so a copy of the database alone reveals no code and cannot be
searched offline. A code is consumed by one conditional UPDATE that must touch one row.
"""

import hashlib
import hmac
import re
import secrets

from peewee import fn

from ..db import atomic_write
from ..models import BackupCode, User
from ..prebuilt import Prebuilt

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 12
GROUP = 4
COUNT = 10
LOW = 3
BITS = LENGTH * 5  # log2(32) bits per symbol
_SEPARATORS = re.compile(r"[\s-]")
_CODE_RE = re.compile(f"[{ALPHABET}]{{{LENGTH}}}")


def new_code() -> str:
    """One code from the OS CSPRNG, grouped for typing."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i:i + GROUP] for i in range(0, LENGTH, GROUP))


def normalise(raw) -> str | None:
    """Upper-case and drop spaces and hyphens, nothing else; None for anything not a code.

    Over-long input is refused before any hashing.
    """
    if not isinstance(raw, str) or len(raw) > 32:
        return None
    code = _SEPARATORS.sub("", raw).upper()
    if not code.isascii() or not _CODE_RE.fullmatch(code):
        return None
    return code


def digest(key: bytes, user_id: int, code: str) -> str:
    """The stored form of a (normalised) code: bound to its user, keyed, irreversible."""
    return hmac.new(key, f"{user_id}\x1f{code}".encode(), hashlib.sha256).hexdigest()


def replace_all(user: User, key: bytes, now) -> list[str]:
    """A fresh set of codes; the whole old set stops working in the same transaction."""
    codes = [new_code() for _ in range(COUNT)]
    with atomic_write():
        BackupCode.delete().where(BackupCode.user == user.id).execute()
        BackupCode.insert_many([
            {"user": user.id, "code_hash": digest(key, user.id, c.replace("-", "")),
             "created_at": now}
            for c in codes
        ]).execute()
    return codes


def remove_all(user: User) -> int:
    return BackupCode.delete().where(BackupCode.user == user.id).execute()


def consume(user: User, key: bytes, raw, now) -> bool:
    """Use one code; True for exactly one request however many race with the same code."""
    code = normalise(raw)
    if code is None:
        return False
    wanted = digest(key, user.id, code).encode()
    rows = (BackupCode.select(BackupCode.id, BackupCode.code_hash)
            .where((BackupCode.user == user.id) & BackupCode.used_at.is_null())
            .tuples())
    match = None
    # Compare against every unused code in constant time, without stopping at a match.
    for row_id, stored in rows:
        if hmac.compare_digest(stored.encode(), wanted) and match is None:
            match = row_id
    if match is None:
        return False
    # Codes are single use: only the request whose UPDATE flips used_at wins.
    updated = (BackupCode.update(used_at=now)
               .where((BackupCode.id == match)
                      & (BackupCode.user == user.id)
                      & BackupCode.used_at.is_null())
               .execute())
    return updated == 1


def was_used(user: User, key: bytes, raw) -> bool:
    """Whether `raw` is one of the user's codes already used (to say so, not to accept it)."""
    code = normalise(raw)
    if code is None:
        return False
    wanted = digest(key, user.id, code).encode()
    rows = (BackupCode.select(BackupCode.code_hash)
            .where((BackupCode.user == user.id) & BackupCode.used_at.is_null(False))
            .tuples())
    found = False
    for (stored,) in rows:  # constant time per code, without stopping at a match
        found |= hmac.compare_digest(stored.encode(), wanted)
    return found


def _unused_query(user_id: int):
    return (BackupCode.select(fn.COUNT(BackupCode.id))
            .where((BackupCode.user == user_id) & BackupCode.used_at.is_null()))


# Counted on every My Profile render: SQL text built once per process and dialect.
_UNUSED = Prebuilt(_unused_query, (int,))


def unused(user: User) -> int:
    return _UNUSED.scalar(user.id)
