"""One-time codes: generation, normalisation and keyed digests compared in constant time."""

import hashlib
import hmac
import re
import secrets

CODE_RE = re.compile(r"[0-9]{6}")
_SPACES = re.compile(r"[ \t-]")


def new_code() -> str:
    """Six random digits from the OS CSPRNG."""
    return f"{secrets.randbelow(10**6):06d}"


def normalise_code(raw) -> str | None:
    """The 6 ASCII digits typed, with spaces and dashes removed; None for anything else.

    Full-width or other Unicode digits are refused here, before anything normalises them.
    """
    if not isinstance(raw, str) or len(raw) > 32:
        return None
    code = _SPACES.sub("", raw)
    return code if CODE_RE.fullmatch(code) and code.isascii() else None


def code_digest(key: bytes, code: str, *binding: str) -> str:
    """HMAC of the code and everything it is bound to (challenge, channel, destination, payload)."""
    message = "\x1f".join((*binding, code)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def digests_equal(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())
