"""Password hashing (argon2id) and the rules a new password must pass."""

import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from . import N_, english

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable: moderate protection from offline attack"
PRODUCT_WORDS = ("aesthetix", "aesthetix crm", "crm")


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int = 2
    memory_cost: int = 19456
    parallelism: int = 1

    @classmethod
    def from_config(cls, config) -> "Argon2Params":
        return cls(
            config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_COST"], config["ARGON2_PARALLELISM"]
        )

    def hasher(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost, memory_cost=self.memory_cost, parallelism=self.parallelism
        )


def normalise(password: str) -> str:
    """NFKC so the same password typed on two keyboards hashes the same; nothing else changes."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str, params: Argon2Params) -> str:
    return params.hasher().hash(normalise(password))


def verify_password(stored: str, password: str, params: Argon2Params) -> tuple[bool, bool]:
    """(matches, needs_rehash). A malformed stored hash never matches."""
    hasher = params.hasher()
    try:
        hasher.verify(stored, normalise(password))
    except (VerificationError, InvalidHashError):
        return False, False
    return True, hasher.check_needs_rehash(stored)


_DUMMY: dict[Argon2Params, str] = {}


def burn_equal_time(password: str, params: Argon2Params) -> None:
    """Spend one verification on a dummy hash, so unknown emails take as long as wrong passwords."""
    if params not in _DUMMY:
        _DUMMY[params] = hash_password("dummy password for timing", params)
    verify_password(_DUMMY[params], password, params)


def new_password_errors(new: str, *, user_inputs=(), translate=english) -> list[str]:
    """Why a new password is refused (empty when it is fine). No composition rules.

    zxcvbn's own warning is English whatever `translate` does.
    """
    if len(new) < MIN_LENGTH:
        return [translate(N_("Use at least %(count)s characters."), count=MIN_LENGTH)]
    if len(new) > MAX_LENGTH:
        # Checked before any hashing or scoring, so a huge input costs nothing.
        return [translate(N_("Use at most %(count)s characters."), count=MAX_LENGTH)]
    inputs = [*PRODUCT_WORDS, *(w for w in user_inputs if w)]
    lowered = new.lower()
    for word in inputs:
        if len(word) >= 4 and word.lower() == lowered:
            return [translate(N_("Don't use your name, email or the product name as your "
                                 "password."))]
    result = zxcvbn(new, user_inputs=inputs, max_length=MAX_LENGTH)
    if result["score"] < MIN_SCORE:
        hint = (result["feedback"].get("warning")
                or translate(N_("It is a common or easily guessed password.")))
        return [translate(N_("This password is too easy to guess. %(hint)s"), hint=hint).strip()]
    return []
