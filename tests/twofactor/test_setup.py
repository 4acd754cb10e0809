"""Setting up the authenticator app: QR and key, the first code, backup codes shown once."""

import datetime as dt
import re
import time

import pytest
from conftest import HTMX, csrf, outbox, signin, user

from twofactor.helpers import (
    codes_in,
    impersonate,
    next_code,
    open_setup,
    rfc6238,
    secret_in,
    token_in,
)
from webapp.extensions import db
from webapp.models import AuditEvent, BackupCode, CodeFailures, PendingTotp, User
from webapp.security import crypto

SETUP = "/settings/profile/2fa/setup"


def events(name, email="member@example.com"):
    with db.connection_context():
        return list(AuditEvent.select().where(
            (AuditEvent.event == name) & (AuditEvent.subject == User.by_email(email))))


def start(client, htmx=False):
    r = open_setup(client, htmx=htmx)
    assert r.status_code == 200, r.get_data(as_text=True)
    html = r.get_data(as_text=True)
    return r, html, secret_in(html)


def confirm(client, code, token, htmx=False):
    return client.post(SETUP, data={"code": code, "csrf_token": token},
                       headers=HTMX if htmx else {})


def test_setup_page_shows_qr_key_and_instructions(member_client):
    r, html, secret = start(member_client)
    assert r.headers["Cache-Control"] == "no-store"
    svg = re.search(r"<svg[^>]*>", html).group(0)
    assert 'id="totp-qr"' in svg and 'role="img"' in svg and "style=" not in svg
    assert "<title>QR code to add Aesthetix CRM to your authenticator app</title>" in html
    assert "<script" not in html.split("</head>")[1] and " style=" not in html
    grouped = re.search(r'id="totp-secret"[^>]*>([^<]+)<', html).group(1)
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", grouped)
    assert 'data-copy="#totp-secret"' in html
    for app_name in ("Google Authenticator", "Microsoft Authenticator", "Authy"):
        assert app_name in html
    with db.connection_context():
        pending = PendingTotp.get(PendingTotp.user == User.by_email("member@example.com"))
        assert secret not in pending.secret  # encrypted at rest
        assert pending.expires_at - pending.created_at == dt.timedelta(minutes=15)


def test_each_setup_start_makes_a_new_secret(member_client):
    _, _, first = start(member_client)
    _, html, second = start(member_client)
    assert first != second
    with db.connection_context():
        assert PendingTotp.select().count() == 1
    # The first secret no longer confirms.
    r = confirm(member_client, rfc6238(first, time.time()), token_in(html))
    assert r.status_code == 422
    assert not user("member@example.com").totp_enabled


def test_wrong_code_keeps_setup_open_and_counts_a_failure(member_client):
    _, html, secret = start(member_client)
    good = rfc6238(secret, time.time())
    wrong = f"{(int(good) + 500_000) % 10**6:06d}"
    r = confirm(member_client, wrong, token_in(html))
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and "That code isn&#39;t right" in body
    assert secret_in(body) == secret  # same pending secret, server-side
    assert r.headers["Cache-Control"] == "no-store"
    assert not user("member@example.com").totp_enabled
    with db.connection_context():
        row = CodeFailures.get((CodeFailures.user == User.by_email("member@example.com"))
                               & (CodeFailures.method == "totp"))
        assert row.failures == 1
    assert events("challenge.failed")[0].channel == "totp"


@pytest.mark.parametrize("bad", ["", "12345", "１２３４５６", "abcdef", "9" * 5000, "12 34 56 78"])
def test_bad_input_is_refused_without_error(member_client, bad):
    _, html, secret = start(member_client)
    r = confirm(member_client, bad, token_in(html))
    assert r.status_code == 422
    assert not user("member@example.com").totp_enabled


def test_full_width_digits_of_the_right_code_are_refused(member_client):
    _, html, secret = start(member_client)
    code = rfc6238(secret, time.time())
    r = confirm(member_client, "".join(chr(0xFF10 + int(d)) for d in code), token_in(html))
    assert r.status_code == 422
    assert not user("member@example.com").totp_enabled


def test_right_code_enables_and_shows_ten_backup_codes_once(member_client, app):
    _, html, secret = start(member_client)
    code, step = next_code(secret)
    r = confirm(member_client, code[:3] + " " + code[3:], token_in(html))
    body = r.get_data(as_text=True)
    assert r.status_code == 200, body
    assert r.headers["Cache-Control"] == "no-store"
    codes = codes_in(body)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "Each code works once. Store them somewhere safe." in body
    assert 'download="aesthetix-backup-codes.txt"' in body and "data-print" in body
    u = user("member@example.com")
    assert u.totp_enabled and u.totp_last_step == step
    assert crypto.decrypt(app.extensions["totp_cipher"], u.totp_secret) == secret
    with db.connection_context():
        assert BackupCode.select().where(BackupCode.user == u).count() == 10
        assert PendingTotp.select().count() == 0
    assert len(events("totp.enabled")) == 1
    notices = outbox("email", "member@example.com")
    assert "authenticator app was added" in notices[-1].body.lower()
    # Going back and posting again shows nothing.
    again = confirm(member_client, code, token_in(html))
    assert again.status_code == 409 and not codes_in(again.get_data(as_text=True))
    # The profile no longer offers setup, and a new setup is refused.
    profile = member_client.get("/settings/profile").get_data(as_text=True)
    assert 'data-totp="on"' in profile and "10 unused backup codes" in profile
    assert member_client.get(SETUP).status_code == 409


def test_setup_code_cannot_be_used_again_at_sign_in(app, client):
    signin(client, "member@example.com")
    _, html, secret = start(client)
    code, step = next_code(secret)
    assert confirm(client, code, token_in(html)).status_code == 200
    client.post("/logout", data={"csrf_token": csrf(client, "/settings/profile")})
    token = csrf(client, "/login")
    r = client.post("/login", data={"email": "member@example.com",
                                    "password": "demo-password-aesthetix", "csrf_token": token})
    verify_url = r.headers["Location"]
    token = csrf(client, verify_url)
    r = client.post(verify_url + "/channel", data={"channel": "totp", "csrf_token": token})
    assert r.status_code == 303
    r = client.post(verify_url + "/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 422  # the setup code counts as used
    later = rfc6238(secret, (step + 1) * 30)
    r = client.post(verify_url + "/code", data={"code": later, "csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"].endswith("/settings/profile")
    assert len(events("totp.replay_refused")) == 1


def test_pending_secret_expires(member_client):
    _, html, secret = start(member_client)
    with db.connection_context():
        PendingTotp.update(expires_at=dt.datetime(2000, 1, 1)).execute()
    r = confirm(member_client, rfc6238(secret, time.time()), token_in(html))
    body = r.get_data(as_text=True)
    assert r.status_code == 409 and "expired" in body
    assert secret_in(body) != secret
    assert not user("member@example.com").totp_enabled


def test_pending_secret_belongs_to_the_session_that_started_it(app, member_client):
    _, html, secret = start(member_client)
    other = app.test_client()
    signin(other, "member@example.com")
    r = confirm(other, rfc6238(secret, time.time()), csrf(other, "/settings/profile"))
    assert r.status_code == 409
    assert not user("member@example.com").totp_enabled


def test_a_submitted_secret_is_ignored(member_client):
    _, html, secret = start(member_client)
    chosen = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    r = member_client.post(SETUP, data={"code": rfc6238(chosen, time.time()), "secret": chosen,
                                        "csrf_token": token_in(html)})
    assert r.status_code == 422


def test_unverified_email_must_be_verified_first(client):
    signin(client, "newbie@example.com")
    # Signing in with an email code verifies the address: make it unverified again.
    with db.connection_context():
        User.update(email_verified_at=None).where(User.email == "newbie@example.com").execute()
    profile = client.get("/settings/profile").get_data(as_text=True)
    assert "data-needs-email" in profile and 'data-action="setup-totp"' not in profile
    r = client.get(SETUP)
    assert r.status_code == 409 and "Verify your email" in r.get_data(as_text=True)
    r = client.post(SETUP, data={"code": "123456", "csrf_token": token_in(profile)})
    assert r.status_code == 409
    with db.connection_context():
        assert PendingTotp.select().count() == 0


def test_htmx_setup_opens_a_modal_and_finishes_in_it(member_client):
    r = open_setup(member_client, htmx=True)
    html = r.get_data(as_text=True)
    # The answer to the verification's code form: not the step again but the setup modal.
    assert r.status_code == 200 and r.headers["HX-Retarget"] == "#modal"
    assert html.lstrip().startswith("<dialog") and "<html" not in html
    assert r.headers["Cache-Control"] == "no-store"
    secret = secret_in(html)
    r = confirm(member_client, "000000" if rfc6238(secret, time.time()) != "000000" else "111111",
                token_in(member_client.get("/settings/profile").get_data(as_text=True)),
                htmx=True)
    assert r.status_code == 422 and r.get_data(as_text=True).lstrip().startswith('<div id="totp-')
    token = token_in(member_client.get("/settings/profile").get_data(as_text=True))
    r = confirm(member_client, next_code(secret)[0], token, htmx=True)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in body and len(codes_in(body)) == 10
    # The profile's Two-factor section comes along, swapped out of band.
    oob = body.split('<section id="two-factor"', 1)[1]
    assert oob.split(">", 1)[0].endswith('hx-swap-oob="true"') and 'data-totp="on"' in oob
    assert "HX-Trigger" not in r.headers
    section = member_client.get("/settings/profile/2fa", headers=HTMX).get_data(as_text=True)
    assert section.lstrip().startswith('<section id="two-factor"') and 'data-totp="on"' in section


def test_section_without_htmx_goes_to_the_profile(member_client):
    r = member_client.get("/settings/profile/2fa")
    assert r.status_code == 302 and r.headers["Location"].endswith("/settings/profile#two-factor")


def test_signed_out_is_sent_to_sign_in(client):
    r = client.get(SETUP)
    assert r.status_code == 303 and r.headers["Location"].startswith("/login")
    r = client.post(SETUP, data={"code": "123456"})
    assert r.status_code == 400  # no CSRF token: refused before anything else
    r = client.post(SETUP, data={"code": "123456", "csrf_token": csrf(client)})
    assert r.status_code == 303 and r.headers["Location"].startswith("/login")


@pytest.mark.parametrize(("method", "path"), [
    ("get", SETUP), ("post", SETUP), ("post", "/settings/profile/2fa/backup-codes"),
    ("post", "/settings/profile/2fa/remove"),
])
def test_login_as_is_refused(app, member_client, method, path):
    from twofactor.helpers import enable_totp

    if path != SETUP:
        enable_totp(app, "member@example.com")
    token = csrf(member_client, "/settings/profile")
    impersonate("member@example.com")
    if method == "get":
        r = member_client.get(path)
    else:
        r = member_client.post(path, data={"code": "123456", "csrf_token": token})
    assert r.status_code == 403
    assert "signed in as another person" in r.get_data(as_text=True)
    denied = events("impersonation.denied")
    assert denied and denied[-1].actor.email == "admin@example.com"
    profile = member_client.get("/settings/profile").get_data(as_text=True)
    assert "data-impersonation-note" in profile
    assert 'data-action="setup-totp"' not in profile
    assert 'data-action="regenerate-backup-codes"' not in profile


def test_wrong_setup_codes_lock_the_app_method_only(app_factory):
    app = app_factory(CODE_USER_FAILURE_LIMIT=2)
    client = app.test_client()
    signin(client, "member@example.com")
    _, html, secret = start(client)
    good = rfc6238(secret, time.time())
    wrong = f"{(int(good) + 500_000) % 10**6:06d}"
    assert confirm(client, wrong, token_in(html)).status_code == 422
    r = confirm(client, wrong, token_in(html))
    assert r.status_code == 429 and "locked" in r.get_data(as_text=True)
    r = confirm(client, next_code(secret)[0], token_in(html))
    assert r.status_code == 429
    assert not user("member@example.com").totp_enabled
    assert "Too many wrong codes" in outbox("email", "member@example.com")[-1].body
    # Email codes still work: the lock is for the app only.
    other = app.test_client()
    signin(other, "member@example.com")
