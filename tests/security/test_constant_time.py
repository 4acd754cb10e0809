"""A-12 / OTP-8: every code and secret comparison goes through hmac.compare_digest."""

import ast
import hmac
from pathlib import Path

import pytest
from conftest import csrf, last_code, signin
from twofactor.helpers import enable_totp, next_code

import webapp

SECURITY = Path(webapp.__file__).parent / "security"
SECRET_WORDS = ("code", "digest", "hash", "secret", "token", "otp", "password", "candidate",
                "stored", "wanted", "expected", "mac")


@pytest.fixture
def compare_calls(monkeypatch):
    """Record every hmac.compare_digest call (the real function still answers)."""
    calls = []
    real = hmac.compare_digest

    def recording(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    return calls


def _login_to_code_step(client, email="member@example.com"):
    token = csrf(client)
    r = client.post("/login", data={"email": email, "password": "demo-password-aesthetix",
                                    "csrf_token": token})
    url = r.headers["Location"]
    return url, csrf(client, url)


def test_a12_emailed_code_is_checked_with_compare_digest(client, compare_calls):
    """A-12: the emailed/SMS code's keyed digest is compared in constant time."""
    url, token = _login_to_code_step(client)
    client.post(url + "/channel", data={"channel": "email", "csrf_token": token})
    code = last_code("member@example.com")
    compare_calls.clear()
    r = client.post(url + "/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 303
    # Hex HMAC-SHA256 digests, never the plain code.
    digests = [(a, b) for a, b in compare_calls if len(a) == len(b) == 64]
    assert digests, compare_calls
    assert all(code.encode() not in (a, b) for a, b in compare_calls)


def test_a12_totp_code_is_checked_with_compare_digest(app, compare_calls):
    """A-12: the authenticator code is compared in constant time (each window step)."""
    secret, _ = enable_totp(app, "member@example.com")
    client = app.test_client()
    url, token = _login_to_code_step(client)
    client.post(url + "/channel", data={"channel": "totp", "csrf_token": token})
    code, _ = next_code(secret)
    compare_calls.clear()
    r = client.post(url + "/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 303
    assert any(code.encode() in (a, b) for a, b in compare_calls), compare_calls


def test_a12_backup_code_is_checked_against_every_unused_code(app, compare_calls):
    """A-12: a backup code is compared with all ten digests, no early exit on a match."""
    _, codes = enable_totp(app, "member@example.com")
    client = app.test_client()
    url, token = _login_to_code_step(client)
    client.post(url + "/channel", data={"channel": "backup", "csrf_token": token})
    compare_calls.clear()
    r = client.post(url + "/code", data={"code": codes[0], "csrf_token": token})
    assert r.status_code == 303
    assert len([c for c in compare_calls if len(c[0]) == 64]) >= 10, compare_calls


def test_a12_no_equality_operator_on_secrets_in_the_security_modules():
    """A-12: no `==`/`!=` between values named like codes, digests, hashes or secrets."""
    offenders = []
    for path in sorted(SECURITY.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
                continue
            names = [ast.unparse(x).lower() for x in (node.left, *node.comparators)]
            # Comparing a column to a value inside a peewee query is SQL, not Python equality.
            if any(n.startswith(("challenge.", "backupcode.", "user.", "codefailures."))
                   for n in names):
                continue
            # Lengths are public: only the values themselves must not meet `==`.
            if any(word in n for n in names for word in SECRET_WORDS if not n.startswith("len(")):
                offenders.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, offenders


def test_a12_signed_in_session_token_is_looked_up_by_digest(client):
    """A-12: the session token is looked up by its SHA-256 digest, never stored or compared raw."""
    from webapp.extensions import db
    from webapp.models import UserSession, token_digest

    signin(client)
    with client.session_transaction() as s:
        token = s["_user_id"]
    with db.connection_context():
        stored = [r.token_hash for r in UserSession.select()]
    assert token not in stored
    assert token_digest(token) in stored
