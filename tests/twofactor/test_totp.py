"""TOTP verification: RFC 6238 vectors, the drift window, input rules, replay and its race."""

import hashlib
import threading

import pyotp
import pytest
from conftest import user
from cryptography.fernet import Fernet

from twofactor.helpers import enable_totp, rfc6238, stored_bytes
from webapp import create_app
from webapp.config import ConfigError
from webapp.extensions import db
from webapp.models import User
from webapp.security import crypto, totp, totp_store

SEED_SHA1 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
SEED_SHA256 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA"
SEED_SHA512 = ("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
               "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA")

# RFC 6238 Appendix B (8 digits, T0 = 0, X = 30).
VECTORS = [
    (59, "94287082", "SHA1"), (59, "46119246", "SHA256"), (59, "90693936", "SHA512"),
    (1111111109, "07081804", "SHA1"), (1111111109, "68084774", "SHA256"),
    (1111111109, "25091201", "SHA512"),
    (1111111111, "14050471", "SHA1"), (1111111111, "67062674", "SHA256"),
    (1111111111, "99943326", "SHA512"),
    (1234567890, "89005924", "SHA1"), (1234567890, "91819424", "SHA256"),
    (1234567890, "93441116", "SHA512"),
    (2000000000, "69279037", "SHA1"), (2000000000, "90698825", "SHA256"),
    (2000000000, "38618901", "SHA512"),
    (20000000000, "65353130", "SHA1"), (20000000000, "77737706", "SHA256"),
    (20000000000, "47863826", "SHA512"),
]
MODES = {"SHA1": (SEED_SHA1, hashlib.sha1), "SHA256": (SEED_SHA256, hashlib.sha256),
         "SHA512": (SEED_SHA512, hashlib.sha512)}
SIX_DIGIT_SHA1 = [(59, "287082"), (1111111109, "081804"), (1111111111, "050471"),
                  (1234567890, "005924"), (2000000000, "279037"), (20000000000, "353130")]


@pytest.mark.parametrize(("t", "expected", "mode"), VECTORS)
def test_rfc6238_appendix_b(t, expected, mode):
    seed, digest = MODES[mode]
    # The project's own verification, with the clock injected.
    assert totp.matching_step(seed, expected, t, window=0, digits=8, digest=digest) == t // 30
    wrong = f"{(int(expected) + 1) % 10**8:08d}"
    assert totp.matching_step(seed, wrong, t, window=0, digits=8, digest=digest) is None
    # And the test's independent implementation agrees with the RFC.
    assert rfc6238(seed, t, digits=8, digest=digest) == expected


@pytest.mark.parametrize(("t", "expected"), SIX_DIGIT_SHA1)
def test_six_digit_sha1_codes_keep_leading_zeros(t, expected):
    assert totp.code_at(SEED_SHA1, t // 30) == expected
    assert totp.matching_step(SEED_SHA1, expected, t) == t // 30
    if expected.startswith("0"):
        assert totp.matching_step(SEED_SHA1, expected.lstrip("0"), t) is None


@pytest.mark.parametrize("drift", [-1, 0, 1])
def test_one_step_of_drift_is_accepted(drift):
    now = 1_700_000_000
    code = rfc6238(SEED_SHA1, now + drift * 30)
    assert totp.matching_step(SEED_SHA1, code, now) == now // 30 + drift


@pytest.mark.parametrize("drift", [-2, 2, -3, 3])
def test_two_steps_of_drift_are_refused(drift):
    now = 1_700_000_000
    code = rfc6238(SEED_SHA1, now + drift * 30)
    # (a chance collision with a code inside the window would make this flaky: check first)
    inside = {rfc6238(SEED_SHA1, now + d * 30) for d in (-1, 0, 1)}
    assert code not in inside
    assert totp.matching_step(SEED_SHA1, code, now) is None


def test_naive_datetimes_are_utc():
    import datetime as dt

    naive = dt.datetime(2009, 2, 13, 23, 31, 30)
    assert totp.time_step(naive) == 1234567890 // 30
    assert totp.time_step(naive.replace(tzinfo=dt.UTC)) == 1234567890 // 30


@pytest.mark.parametrize(("raw", "expected"), [
    ("123456", "123456"), (" 123456 ", "123456"), ("123 456", "123456"),
    ("", None), ("12345", None), ("1234567", None), ("１２３４５６", None), ("12345６", None),
    ("١٢٣٤٥٦", None), ("+123456", None), ("-12345", None), ("1e5", None), ("0x1E240", None),
    ("123-456", None), ("123456\n", None), ("12\x003456", None), ("9" * 10_000, None),
    (None, None), (123456, None), (["123456"], None),
])
def test_only_six_ascii_digits_reach_pyotp(raw, expected):
    assert totp.normalise(raw) == expected


def test_full_width_digits_refused_even_though_pyotp_would_accept_them():
    now = 1_700_000_000
    code = rfc6238(SEED_SHA1, now)
    full_width = "".join(chr(0xFF10 + int(d)) for d in code)
    assert pyotp.TOTP(SEED_SHA1).verify(full_width, for_time=now)  # why we check first
    assert totp.normalise(full_width) is None


def test_secret_is_160_bits_and_grouped_in_fours():
    secret = totp.new_secret()
    assert len(secret) == 32 and len(pyotp.TOTP(secret).byte_secret()) == 20
    assert totp.new_secret() != secret
    assert totp.grouped("ABCDEFGHIJKL") == "ABCD EFGH IJKL"


def test_otpauth_uri_is_the_documented_form():
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "mia@example.com")
    assert uri == ("otpauth://totp/Aesthetix%20CRM:mia@example.com"
                   "?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Aesthetix%20CRM")
    parsed = pyotp.parse_uri(uri)
    assert parsed.name == "mia@example.com" and parsed.issuer == "Aesthetix CRM"
    assert parsed.digits == 6 and parsed.interval == 30 and parsed.digest().name == "sha1"
    assert "=" not in uri.split("secret=")[1].split("&")[0]
    # A colon in the account cannot split the label.
    assert "a%3Ab@example.com" in totp.provisioning_uri("JBSWY3DP", "a:b@example.com")


# --- against the database -------------------------------------------------------------------


def _now_for(secret_step_offset=0):
    import time

    return int(time.time()) + secret_step_offset * 30


def test_replay_is_refused_and_older_codes_after_newer(app, dbconn):
    secret, _ = enable_totp(app, "member@example.com")
    u = user("member@example.com")
    now = _now_for()
    code = rfc6238(secret, now)
    assert totp_store.check(u, code, now, secret) == (True, "ok")
    assert totp_store.check(u, code, now, secret) == (False, "replay")
    # The previous step's code is still inside the window but older than the one used.
    assert totp_store.check(u, rfc6238(secret, now - 30), now, secret) == (False, "replay")
    assert totp_store.check(u, rfc6238(secret, now + 30), now, secret) == (True, "ok")
    assert User.get_by_id(u.id).totp_last_step == now // 30 + 1


def test_wrong_and_malformed_codes(app, dbconn):
    secret, _ = enable_totp(app, "member@example.com")
    u = user("member@example.com")
    now = _now_for()
    good = rfc6238(secret, now)
    bad = f"{(int(good) + 1) % 10**6:06d}"
    assert totp_store.check(u, bad, now, secret) == (False, "wrong")
    assert totp_store.check(u, "１２３４５６", now, secret) == (False, "format")
    assert totp_store.check(u, good, now, None) == (False, "no_secret")
    assert User.get_by_id(u.id).totp_last_step == 0


def test_replay_race_two_threads_one_step_exactly_one_success(app):
    secret, _ = enable_totp(app, "member@example.com")
    u = user("member@example.com")
    now = _now_for()
    code = rfc6238(secret, now)
    barrier = threading.Barrier(2)
    results = []

    def attempt():
        # Peewee connections are per thread: each thread has its own SQLite connection.
        with db.connection_context():
            barrier.wait()
            results.append(totp_store.check(User.get_by_id(u.id), code, now, secret))

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [(False, "replay"), (True, "ok")]


def test_many_threads_racing_one_code_still_one_success(app):
    secret, _ = enable_totp(app, "member@example.com")
    u = user("member@example.com")
    now = _now_for()
    code = rfc6238(secret, now)
    barrier = threading.Barrier(8)
    results = []

    def attempt():
        with db.connection_context():
            barrier.wait()
            results.append(totp_store.check(User.get_by_id(u.id), code, now, secret)[0])

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1 and results.count(False) == 7


# --- keys ----------------------------------------------------------------------------------


def test_secret_is_encrypted_at_rest(app, tmp_path):
    secret, _ = enable_totp(app, "member@example.com")
    stored = user("member@example.com").totp_secret
    assert secret not in stored
    assert crypto.decrypt(app.extensions["totp_cipher"], stored) == secret
    data = stored_bytes(tmp_path)
    assert stored.encode() in data  # we are reading the right place
    assert secret.encode() not in data and secret.lower().encode() not in data


def test_production_requires_encryption_keys(tmp_path):
    config = {"ENV_NAME": "production", "SECRET_KEY": "p" * 40,
              "MAIL_BACKEND": "smtp", "SMS_BACKEND": "webhook",
              "WEBAUTHN_RP_ID": "crm.example.com", "WEBAUTHN_ORIGIN": "https://crm.example.com",
              "PUBLIC_URL": "https://crm.example.com",
              "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    with pytest.raises(ConfigError, match="TOTP_ENCRYPTION_KEYS"):
        create_app(config)
    app = create_app({**config, "TOTP_ENCRYPTION_KEYS": Fernet.generate_key().decode()})
    assert app.extensions["totp_cipher"]


def test_a_bad_key_stops_the_app(tmp_path):
    with pytest.raises(ConfigError, match="entry 2"):
        create_app({"SECRET_KEY": "s" * 40, "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
                    "TOTP_ENCRYPTION_KEYS": Fernet.generate_key().decode() + ",not-a-key"})


def test_development_key_derived_from_secret_key():
    a = crypto.cipher("", "one-secret-key", production=False)
    b = crypto.cipher("", "one-secret-key", production=False)
    c = crypto.cipher("", "another-secret-key", production=False)
    token = crypto.encrypt(a, "JBSWY3DP")
    assert crypto.decrypt(b, token) == "JBSWY3DP"
    assert crypto.decrypt(c, token) is None


def test_key_rotation_keeps_old_secrets_readable_and_rewrites_them(app_factory):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    first = app_factory(TOTP_ENCRYPTION_KEYS=old)
    secret, _ = enable_totp(first, "member@example.com")
    token = user("member@example.com").totp_secret
    rotated = create_app({**first.config, "TOTP_ENCRYPTION_KEYS": f"{new},{old}"})
    assert crypto.decrypt(rotated.extensions["totp_cipher"], token) == secret
    result = rotated.test_cli_runner().invoke(args=["twofactor", "rotate-keys"])
    assert result.exit_code == 0 and "Re-encrypted 1" in result.output
    only_new = crypto.cipher(new, "unused", production=False)
    assert crypto.decrypt(only_new, user("member@example.com").totp_secret) == secret
