"""Two-factor test helpers, including an RFC 6238 implementation independent of the app's."""

import base64
import hashlib
import hmac
import re
import struct
import time
from urllib.parse import parse_qs, unquote, urlsplit

from conftest import CSRF_RE, HTMX, last_code

from webapp.extensions import db
from webapp.models import User, UserSession
from webapp.security import backup_codes, crypto

SECRET_RE = re.compile(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<')
CODES_RE = re.compile(r"<li><code>([A-Z0-9-]+)</code></li>")


def rfc6238(secret_b32: str, unix_time: float, *, digits=6, step=30, digest=hashlib.sha1) -> str:
    """TOTP straight from RFC 4226/6238: HMAC over the big-endian counter, dynamic truncation."""
    key = base64.b32decode(secret_b32.replace(" ", "") + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(unix_time) // step), digest).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def parse_otpauth(uri: str) -> dict:
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp", uri
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    issuer, _, account = unquote(parts.path.lstrip("/")).partition(":")
    return {"issuer": issuer, "account": account, **query}


def next_code(secret: str, last_step: int | None = None) -> tuple[str, int]:
    """The code an app shows now, or, if this step was already used, the next one.

    A real app shows the next code within 30 seconds; the server accepts one step of drift,
    so the test need not wait for it.
    """
    step = int(time.time()) // 30
    if last_step is not None and step <= last_step:
        step = last_step + 1
    return rfc6238(secret, step * 30), step


def enable_totp(app, email: str) -> tuple[str, list[str]]:
    """Turn the app on for a user directly in the database; returns (secret, backup codes)."""
    secret = base64.b32encode(b"0123456789abcdefghij").decode()  # 160 bits
    with app.app_context(), db.connection_context():
        user = User.by_email(email)
        token = crypto.encrypt(app.extensions["totp_cipher"], secret)
        User.update(totp_secret=token, totp_enabled_at=user.created_at, totp_last_step=0).where(
            User.id == user.id).execute()
        key = crypto.derive_key(app.config["SECRET_KEY"], crypto.BACKUP_INFO)
        codes = backup_codes.replace_all(user, key, user.created_at)
    return secret, codes


def impersonate(email: str, admin_email: str = "admin@example.com") -> None:
    """Mark every live session of `email` as an admin's "Login as" session."""
    with db.connection_context():
        admin = User.by_email(admin_email)
        UserSession.update(impersonator=admin).where(
            UserSession.user == User.by_email(email)).execute()


def token_in(html: str) -> str:
    return CSRF_RE.search(html).group(1)


def secret_in(html: str) -> str:
    match = SECRET_RE.search(html)
    assert match, "no #totp-secret on the page"
    return match.group(1).replace(" ", "")


def codes_in(html: str) -> list[str]:
    return CODES_RE.findall(html)


def stored_bytes(tmp_path) -> bytes:
    """Everything the database holds: the SQLite files, or every row of every table."""
    from webapp.db import is_sqlite

    with db.connection_context():
        if is_sqlite():
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            files = list(tmp_path.glob("test.db*"))
            assert files, "no SQLite file found"
            return b"".join(p.read_bytes() for p in files)
        rows = []
        for table in db.get_tables():
            query = f'SELECT * FROM "{table}"'  # noqa: S608 - names from the catalogue
            rows += [repr(r) for r in db.execute_sql(query).fetchall()]
        return "\n".join(rows).encode()


SETUP = "/settings/profile/2fa/setup"
CID_RE = re.compile(r"/verify/([A-Za-z0-9_-]+)/channel")


def open_setup(client, email: str = "member@example.com", *, htmx: bool = False,
               channel: str = "email"):
    """"Setup" is a step-up: verify with a trusted channel, then the QR code is shown.

    Returns the response that shows the QR code (the page, or the modal for htmx).
    """
    headers = HTMX if htmx else {}
    token = token_in(client.get("/settings/profile").get_data(as_text=True))
    r = client.post(SETUP + "/start", data={"csrf_token": token}, headers=headers)
    body = r.get_data(as_text=True)
    if 'id="totp-secret"' in body:  # recently verified: straight to the QR code
        return r
    if r.status_code == 303 and r.headers["Location"].endswith(SETUP):
        return client.get(SETUP)
    if htmx:
        assert r.status_code == 200 and body.lstrip().startswith("<dialog"), body
        cid = CID_RE.search(body).group(1)
    else:
        assert r.status_code == 303, body
        cid = r.headers["Location"].rsplit("/", 1)[1]
    verify = f"/verify/{cid}"
    r = client.post(verify + "/channel", data={"channel": channel, "csrf_token": token},
                    headers=headers)
    assert r.status_code == (200 if htmx else 303), r.get_data(as_text=True)
    with db.connection_context():
        user = User.by_email(email)
    code = last_code(user.email if channel == "email" else user.phone, channel)
    r = client.post(verify + "/code", data={"code": code, "csrf_token": token}, headers=headers)
    if htmx:
        assert r.status_code == 200, r.get_data(as_text=True)
        return r
    assert r.status_code == 303 and r.headers["Location"].endswith(SETUP), r.headers
    return client.get(SETUP)
