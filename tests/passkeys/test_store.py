"""webapp/security/passkeys.py on the database: a challenge is taken once however many requests
race for it, a counter value passes once, the limit is counted inside the write, and the
shape checks on what browsers post."""

import datetime as dt
import threading

import pytest

from webapp.extensions import db
from webapp.models import Passkey, User, WebAuthnChallenge, utcnow
from webapp.security import passkeys as pk

from .helpers import MEMBER, OWNER, PAYLOADS, account, store_passkey

RP = pk.RelyingParty(PAYLOADS["rp_id"], "Aesthetix CRM", PAYLOADS["origin"])


def race(fn, n=10) -> list:
    """Run fn in n threads released together; their results (or exceptions)."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        with db.connection_context():
            barrier.wait()
            try:
                results[i] = fn()
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_a_challenge_is_taken_by_exactly_one_of_parallel_requests(app):
    now = utcnow()
    with db.connection_context():
        value = pk.issue(pk.SIGN_IN, binding="browser:x", now=now, ttl=300)
    signed = pk.bytes_to_base64url(value)
    results = race(lambda: pk.consume(signed, pk.SIGN_IN, binding="browser:x", now=now))
    taken = [r for r in results if isinstance(r, pk.Taken)]
    assert len(taken) == 1 and taken[0].challenge == value
    assert all(isinstance(r, pk.Stale) for r in results if r is not taken[0])


def test_a_challenge_is_taken_only_as_its_kind_and_binding(app):
    now = utcnow()
    with db.connection_context():
        signed = pk.bytes_to_base64url(pk.issue(pk.VERIFY, binding="session:1", now=now,
                                                ttl=300, user_id=1, ref="c1"))
        for kind, binding, user_id, ref in ((pk.SIGN_IN, "session:1", None, None),
                                            (pk.VERIFY, "session:2", 1, "c1"),
                                            (pk.VERIFY, "session:1", 2, "c1"),
                                            (pk.VERIFY, "session:1", 1, "c2")):
            with pytest.raises(pk.Stale):
                pk.consume(signed, kind, binding=binding, now=now, user_id=user_id, ref=ref)
        with pytest.raises(pk.Stale):  # expired
            pk.consume(signed, pk.VERIFY, binding="session:1", user_id=1, ref="c1",
                       now=now + dt.timedelta(seconds=300))
        assert pk.consume(signed, pk.VERIFY, binding="session:1", now=now, user_id=1,
                          ref="c1").ref == "c1"


def test_a_new_challenge_replaces_the_sessions_last_and_drops_expired_ones(app):
    now = utcnow()
    with db.connection_context():
        pk.issue(pk.SIGN_IN, binding="browser:a", now=now - dt.timedelta(seconds=400), ttl=300)
        pk.issue(pk.SIGN_IN, binding="browser:b", now=now, ttl=300)
        pk.issue(pk.SIGN_IN, binding="browser:b", now=now, ttl=300)
        assert [c.binding for c in WebAuthnChallenge.select()] == ["browser:b"]


def test_a_counter_value_passes_once(app):
    passkey = store_passkey()
    with db.connection_context():
        Passkey.update(sign_count=5).execute()
    results = race(lambda: pk.advance_counter(passkey, 6, utcnow()))
    assert results.count(True) == 1
    with db.connection_context():
        assert Passkey.get().sign_count == 6
        assert not pk.advance_counter(passkey, 6, utcnow())
        assert not pk.advance_counter(passkey, 3, utcnow())
        assert pk.advance_counter(passkey, 7, utcnow())


def test_an_authenticator_without_a_counter_stays_at_zero(app):
    passkey = store_passkey()
    with db.connection_context():
        Passkey.update(sign_count=0).execute()
        assert pk.advance_counter(passkey, 0, utcnow())
        assert pk.advance_counter(passkey, 1, utcnow())
        assert not pk.advance_counter(passkey, 0, utcnow())  # it had a counter after all


def test_the_limit_is_counted_in_the_write(app):
    rec = account(OWNER)
    with db.connection_context():
        owner = User.by_email(OWNER)
        for n in range(2):
            Passkey.create(user=owner.id, credential_id=f"c{n}", public_key=b"k",
                           user_handle="aGg", name=f"Key {n}")
        with pytest.raises(pk.TooMany):
            pk.register(owner, rec["registration"]["credential"], rp=RP,
                        expected_challenge=pk.base64url_to_bytes(rec["registration"]["challenge"]),
                        handle=rec["user_handle"], name="Third", now=utcnow(), limit=2)
        assert Passkey.select().count() == 2


def test_a_credential_registers_once(app):
    store_passkey(MEMBER)
    with pytest.raises(pk.Duplicate):
        store_passkey(MEMBER)


@pytest.mark.parametrize("raw", [None, "", "null", "[]", '"x"', '{"id": 1, "response": {}}',
                                 '{"id": "a"}', "{" * 20_000])
def test_what_is_not_a_credential(raw):
    assert pk.parse_credential(raw) is None


@pytest.mark.parametrize("raw, name", [("  Work   laptop ", "Work laptop"), ("", None),
                                       ("   ", None), ("x" * 61, None), (None, None),
                                       ("x" * 60, "x" * 60)])
def test_names(raw, name):
    assert pk.clean_name(raw) == name


@pytest.mark.parametrize("missing", ["WEBAUTHN_RP_ID", "WEBAUTHN_ORIGIN"])
def test_production_names_its_relying_party(tmp_path, missing):
    from cryptography.fernet import Fernet

    from webapp import create_app
    from webapp.config import ConfigError

    config = {"ENV_NAME": "production", "SECRET_KEY": "p" * 40, "MAIL_BACKEND": "smtp",
              "SMS_BACKEND": "webhook", "TOTP_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
              "WEBAUTHN_RP_ID": "crm.example.com", "WEBAUTHN_ORIGIN": "https://crm.example.com",
              "PUBLIC_URL": "https://crm.example.com",
              "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    assert create_app(config)
    with pytest.raises(ConfigError, match="WEBAUTHN_RP_ID and WEBAUTHN_ORIGIN"):
        create_app({**config, missing: ""})


@pytest.mark.parametrize("host, rp_id, origin", [
    ("localhost:5000", "localhost", "http://localhost:5000"),
    ("127.0.0.1:5000", "127.0.0.1", "http://127.0.0.1:5000")])
def test_development_takes_the_relying_party_from_the_request(app, host, rp_id, origin):
    from webapp.passkeys.effects import relying_party

    with app.test_request_context("/", base_url=f"http://{host}"):
        rp = relying_party()
    assert (rp.id, rp.origin, rp.name) == (rp_id, origin, "Aesthetix CRM")
