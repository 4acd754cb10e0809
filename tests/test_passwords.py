"""Password rules and hashing: argon2id profile, rehash, no composition rules, limits."""

import re
import time

import pytest

from webapp.config import DEFAULTS
from webapp.security import passwords
from webapp.security.passwords import Argon2Params, new_password_errors

FAST = Argon2Params(time_cost=1, memory_cost=8192, parallelism=1)


def test_default_profile_meets_owasp_argon2id():
    stored = passwords.hash_password("a long passphrase here", Argon2Params.from_config(DEFAULTS))
    m = re.match(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", stored)
    assert m, stored
    memory, time_cost, _ = map(int, m.groups())
    # OWASP: m=19456 KiB with t=2 (or an equivalent memory*time product).
    assert memory * time_cost >= 19456 * 2
    assert memory >= 7168


def test_hash_verifies_and_is_salted():
    a = passwords.hash_password("correct horse battery", FAST)
    b = passwords.hash_password("correct horse battery", FAST)
    assert a != b
    assert passwords.verify_password(a, "correct horse battery", FAST) == (True, False)
    assert passwords.verify_password(a, "Correct horse battery", FAST)[0] is False
    assert passwords.verify_password(a, "correct horse battery ", FAST)[0] is False


def test_outdated_parameters_ask_for_rehash():
    old = passwords.hash_password("correct horse battery", FAST)
    stronger = Argon2Params(time_cost=2, memory_cost=8192, parallelism=1)
    assert passwords.verify_password(old, "correct horse battery", stronger) == (True, True)


def test_malformed_hash_never_matches():
    assert passwords.verify_password("not-a-hash", "anything at all", FAST) == (False, False)


def test_unicode_is_normalised_nfkc():
    stored = passwords.hash_password("ｆｕｌｌｗｉｄｔｈ passphrase", FAST)
    assert passwords.verify_password(stored, "fullwidth passphrase", FAST)[0]


@pytest.mark.parametrize("candidate, message", [
    ("short", "at least 12"),
    ("x" * 129, "at most 128"),
    ("password123456", "too easy to guess"),
    ("qwertyuiopasdf", "too easy to guess"),
    ("aaaaaaaaaaaaaaaa", "too easy to guess"),
    ("aesthetix crm", "product name"),
])
def test_weak_or_bad_lengths_refused(candidate, message):
    errors = new_password_errors(candidate)
    assert errors and message in errors[0]


def test_context_words_refused():
    assert new_password_errors("mia.member@example.com", user_inputs=("mia.member@example.com",))


@pytest.mark.parametrize("candidate", [
    "violet tuesday harbour lantern",
    "x" * 20 + "Q7!kd93LmZ" + "y" * 34,  # 64 characters
    "Z" * 10 + "u4#Mf82Lq0pW" * 9 + "abcdef",  # 124 characters
])
def test_strong_passphrases_accepted_without_composition_rules(candidate):
    assert new_password_errors(candidate) == []


def test_huge_input_rejected_before_any_work():
    start = time.perf_counter()
    assert "at most" in new_password_errors("y" * 10_000)[0]
    assert time.perf_counter() - start < 0.05
