"""Backup codes: format and entropy, hashed at rest, single use (also under a race), sign-in
with one, regenerate and remove through the step-up modal, the low-count warning."""

import json
import re
import threading
from collections import Counter

import pytest
from conftest import HTMX, PASSWORD, csrf, last_code, outbox, signin, user

from twofactor.helpers import codes_in, enable_totp, next_code, stored_bytes, token_in
from webapp.extensions import db
from webapp.models import AuditEvent, BackupCode, User, utcnow
from webapp.security import backup_codes, crypto

SYMBOL = "[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]"
CODE_RE = re.compile(f"{SYMBOL}{{4}}(-{SYMBOL}{{4}}){{2}}")


def key(app):
    return crypto.derive_key(app.config["SECRET_KEY"], crypto.BACKUP_INFO)


def events(name, email="member@example.com"):
    with db.connection_context():
        return list(AuditEvent.select().where(
            (AuditEvent.event == name) & (AuditEvent.subject == User.by_email(email))))


def unused(email="member@example.com"):
    with db.connection_context():
        return backup_codes.unused(User.by_email(email))


# --- format ----------------------------------------------------------------------------------


def test_format_and_entropy():
    assert len(backup_codes.ALPHABET) == len(set(backup_codes.ALPHABET)) == 32
    assert not set("0O1I") & set(backup_codes.ALPHABET)
    assert backup_codes.BITS >= 60
    sample = [backup_codes.new_code() for _ in range(2000)]
    assert all(CODE_RE.fullmatch(c) for c in sample)
    assert len(set(sample)) == len(sample)
    counts = Counter("".join(sample).replace("-", ""))
    # Every symbol shows up, none wildly more often than the others (24000 draws, 750 each).
    assert set(counts) == set(backup_codes.ALPHABET)
    assert max(counts.values()) < 1000 and min(counts.values()) > 500


@pytest.mark.parametrize(("raw", "expected"), [
    ("7KQM-R2XD-9PWA", "7KQMR2XD9PWA"), ("7kqm r2xd 9pwa", "7KQMR2XD9PWA"),
    (" 7KQMR2XD9PWA ", "7KQMR2XD9PWA"), ("7KQM-R2XD-9PW", None), ("7KQM-R2XD-9PWAA", None),
    ("0KQM-R2XD-9PWA", None), ("7KQM-R2XD-9PW1", None), ("７KQM-R2XD-9PWA", None),
    ("123456", None), ("", None), ("A" * 5000, None), (None, None), (["7KQMR2XD9PWA"], None),
])
def test_normalise_only_strips_separators_and_case(raw, expected):
    assert backup_codes.normalise(raw) == expected


# --- storage and single use -----------------------------------------------------------------


def test_codes_are_not_in_the_database_file(app, tmp_path):
    _, codes = enable_totp(app, "member@example.com")
    with db.connection_context():
        hashes = [b.code_hash for b in BackupCode.select()]
    assert len(hashes) == 10 and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)
    data = stored_bytes(tmp_path)
    assert hashes[0].encode() in data  # we are reading the right place
    for code in codes:
        assert code.encode() not in data
        assert code.replace("-", "").encode() not in data
        assert code.replace("-", "").lower().encode() not in data


def test_digest_is_keyed_and_bound_to_the_user():
    a = backup_codes.digest(b"k1", 1, "7KQMR2XD9PWA")
    assert a != backup_codes.digest(b"k2", 1, "7KQMR2XD9PWA")
    assert a != backup_codes.digest(b"k1", 2, "7KQMR2XD9PWA")


def test_single_use(app, dbconn):
    _, codes = enable_totp(app, "member@example.com")
    u = user("member@example.com")
    now = utcnow()
    assert backup_codes.consume(u, key(app), codes[0].lower(), now)
    assert not backup_codes.consume(u, key(app), codes[0], now)
    assert not backup_codes.consume(user("admin@example.com"), key(app), codes[1], now)
    assert backup_codes.unused(u) == 9


def test_twenty_threads_one_code_exactly_one_success(app):
    _, codes = enable_totp(app, "member@example.com")
    u = user("member@example.com")
    k = key(app)
    barrier = threading.Barrier(20)
    results = []

    def attempt():
        # Each thread has its own SQLite connection (peewee connections are per thread).
        with db.connection_context():
            barrier.wait()
            results.append(backup_codes.consume(u, k, codes[3], utcnow()))

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1 and results.count(False) == 19
    assert unused() == 9


def test_regenerate_invalidates_the_old_set(app, dbconn):
    _, old = enable_totp(app, "member@example.com")
    u = user("member@example.com")
    new = backup_codes.replace_all(u, key(app), utcnow())
    assert not set(old) & set(new)
    assert not any(backup_codes.consume(u, key(app), c, utcnow()) for c in old)
    assert backup_codes.consume(u, key(app), new[0], utcnow())


# --- through the app ------------------------------------------------------------------------


def login_with_backup(client, code, email="member@example.com"):
    token = csrf(client, "/login")
    r = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303
    verify_url = r.headers["Location"]
    token = csrf(client, verify_url)
    page = client.get(verify_url).get_data(as_text=True)
    assert 'value="backup"' in page and "Use a backup code" in page
    assert 'value="totp"' in page and "Use Authenticator App" in page
    r = client.post(verify_url + "/channel", data={"channel": "backup", "csrf_token": token})
    assert r.status_code == 303
    return client.post(verify_url + "/code", data={"code": code, "csrf_token": token})


def test_sign_in_with_a_backup_code_once(app, client):
    _, codes = enable_totp(app, "member@example.com")
    r = login_with_backup(client, codes[0])
    assert r.status_code == 303 and r.headers["Location"].endswith("/settings/profile")
    used = events("backup_code.used")
    assert len(used) == 1 and used[0].data["left"] == 9 and codes[0] not in used[0].details
    [notice] = [m for m in outbox("email", "member@example.com")
                if m.subject == "A backup code was used on your Aesthetix CRM account"]
    assert "backup code was used" in notice.body and "9 unused backup codes left" in notice.body
    client.post("/logout", data={"csrf_token": csrf(client, "/settings/profile")})
    r = login_with_backup(client, codes[0])
    assert r.status_code == 422
    assert events("challenge.failed")[-1].channel == "backup"


def test_backup_failures_lock_backup_only(app_factory):
    app = app_factory(CODE_USER_FAILURE_LIMIT=3, CODE_MAX_ATTEMPTS=10)
    client = app.test_client()
    secret, codes = enable_totp(app, "member@example.com")
    for _ in range(3):
        r = login_with_backup(client, "AAAA-AAAA-AAAA")
    assert r.status_code == 429
    # The backup code method is locked, the app is not.
    r = login_with_backup(client, codes[0])
    assert r.status_code == 429
    token = csrf(client, "/login")
    r = client.post("/login", data={"email": "member@example.com", "password": PASSWORD,
                                    "csrf_token": token})
    verify_url = r.headers["Location"]
    token = csrf(client, verify_url)
    client.post(verify_url + "/channel", data={"channel": "totp", "csrf_token": token})
    r = client.post(verify_url + "/code", data={"code": next_code(secret)[0], "csrf_token": token})
    assert r.status_code == 303


def test_low_count_warning(app, member_client):
    _, codes = enable_totp(app, "member@example.com")
    u = user("member@example.com")
    with db.connection_context():
        for code in codes[:6]:
            assert backup_codes.consume(u, key(app), code, utcnow())
    page = member_client.get("/settings/profile").get_data(as_text=True)
    assert "4 unused backup codes" in page and "data-backup-low" not in page
    with db.connection_context():
        assert backup_codes.consume(u, key(app), codes[6], utcnow())
    page = member_client.get("/settings/profile").get_data(as_text=True)
    assert "3 unused backup codes" in page and "data-backup-low" in page
    assert "Only 3 backup codes left" in page


def step_up_with_email(client, start_path, htmx=False):
    """Start a step-up from the profile, choose email, type the code; returns the response."""
    token = csrf(client, "/settings/profile")
    headers = HTMX if htmx else {}
    r = client.post(start_path, data={"csrf_token": token}, headers=headers)
    if htmx:
        assert r.status_code == 200 and "HX-Retarget" not in r.headers  # hx-target in markup
        cid = re.search(r"/verify/([^/\"]+)/channel", r.get_data(as_text=True)).group(1)
    else:
        assert r.status_code == 303
        cid = r.headers["Location"].rsplit("/", 1)[1]
    r = client.post(f"/verify/{cid}/channel", data={"channel": "email", "csrf_token": token},
                    headers=headers)
    assert r.status_code == (200 if htmx else 303)
    return client.post(f"/verify/{cid}/code",
                       data={"code": last_code("member@example.com"), "csrf_token": token},
                       headers=headers)


@pytest.mark.parametrize("htmx", [False, True])
def test_regenerate_through_step_up(app, member_client, htmx):
    _, old = enable_totp(app, "member@example.com")
    r = step_up_with_email(member_client, "/settings/profile/2fa/backup-codes", htmx)
    body = r.get_data(as_text=True)
    assert r.status_code == 200, body
    assert r.headers["Cache-Control"] == "no-store"
    new = codes_in(body)
    assert len(new) == 10 and not set(new) & set(old)
    assert ("<html" in body) is not htmx
    if htmx:  # the section's count comes along, out of band
        oob = body.split('<section id="two-factor"', 1)[1]
        assert 'hx-swap-oob="true"' in oob.split(">", 1)[0] and 'data-backup-left="10"' in oob
    assert '<p class="notice success" role="status">Your old backup codes no longer work.' in body
    u = user("member@example.com")
    with db.connection_context():
        assert not any(backup_codes.consume(u, key(app), c, utcnow()) for c in old)
        assert backup_codes.consume(u, key(app), new[0], utcnow())
    assert len(events("backup_codes.regenerated")) == 1
    assert "New backup codes were created" in outbox("email", "member@example.com")[-1].body


def test_regenerate_without_the_app_is_refused(member_client):
    token = csrf(member_client, "/settings/profile")
    r = member_client.post("/settings/profile/2fa/backup-codes", data={"csrf_token": token})
    assert r.status_code == 409


@pytest.mark.parametrize("htmx", [False, True])
def test_remove_through_step_up(app, member_client, htmx):
    enable_totp(app, "member@example.com")
    r = step_up_with_email(member_client, "/settings/profile/2fa/remove", htmx)
    if htmx:
        assert r.status_code == 200
        trig = json.loads(r.headers["HX-Trigger"])
        assert trig["closeModal"] and "twofactorChanged" not in trig
        section = r.get_data(as_text=True)
        assert section.lstrip().startswith('<section id="two-factor"')
        assert 'hx-swap-oob="true"' in section and 'data-totp="off"' in section
    else:
        assert r.status_code == 303
    u = user("member@example.com")
    assert not u.totp_enabled and u.totp_secret is None and u.totp_last_step == 0
    assert unused() == 0
    assert len(events("totp.disabled")) == 1
    assert "authenticator app was removed" in outbox("email", "member@example.com")[-1].body
    page = member_client.get("/settings/profile").get_data(as_text=True)
    assert 'data-totp="off"' in page


def test_remove_with_the_app_itself(app, member_client):
    secret, _ = enable_totp(app, "member@example.com")
    token = csrf(member_client, "/settings/profile")
    r = member_client.post("/settings/profile/2fa/remove", data={"csrf_token": token})
    cid = r.headers["Location"].rsplit("/", 1)[1]
    page = member_client.get(f"/verify/{cid}").get_data(as_text=True)
    assert 'value="totp"' in page and 'value="backup"' not in page  # backup codes: login only
    member_client.post(f"/verify/{cid}/channel", data={"channel": "totp", "csrf_token": token})
    r = member_client.post(f"/verify/{cid}/code",
                           data={"code": next_code(secret)[0], "csrf_token": token})
    assert r.status_code == 303
    assert not user("member@example.com").totp_enabled
    # With the app gone, sign-in no longer offers it or backup codes.
    client = app.test_client()
    token = csrf(client, "/login")
    r = client.post("/login", data={"email": "member@example.com", "password": PASSWORD,
                                    "csrf_token": token})
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert 'value="totp"' not in page and 'value="backup"' not in page


def test_section_refreshes_for_htmx(app, member_client):
    enable_totp(app, "member@example.com")
    r = member_client.get("/settings/profile/2fa", headers=HTMX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<section id="two-factor"') and 'data-backup-left="10"' in html
    assert "hx-swap-oob" not in html  # only the answers to a change carry it
    assert token_in(html)


def test_signin_helper_still_works_with_the_app_on(app, client):
    enable_totp(app, "member@example.com")
    signin(client, "member@example.com")
    assert client.get("/settings/profile").status_code == 200
