"""A-1 / N-1 / LC-3 / MFA-14: wrong codes hit one per-account limit, however they are spread."""

import datetime as dt

import pytest
from conftest import csrf, last_code

from security.helpers import emails, events, password_step
from webapp.config import DEFAULTS
from webapp.extensions import db
from webapp.models import CodeFailures, utcnow

LIMIT = DEFAULTS["CODE_USER_FAILURE_LIMIT"]  # the documented default, not the app's config
EMAIL = "member@example.com"
# These attacks need a fresh code per guess: the code-sending limits (S-5, proven in
# test_s5_message_flooding.py) are lifted so that only the code-entry lock is measured.
MANY_SENDS = {"CODE_SENDS_PER_DESTINATION": "1000 per hour",
              "CODE_SENDS_PER_ACCOUNT": "1000 per hour", "CODE_SENDS_PER_IP": "1000 per hour"}


def _open_code_step(client, ip):
    """Password, then an email code: returns (verify url, csrf token, the code that was sent)."""
    r = password_step(client, EMAIL, headers={"X-Forwarded-For": ip})
    assert r.status_code == 303, r.get_data(as_text=True)
    url = r.headers["Location"]
    token = csrf(client, url)
    r = client.post(url + "/channel", data={"channel": "email", "csrf_token": token},
                    headers={"X-Forwarded-For": ip})
    assert r.status_code == 303
    return url, token, last_code(EMAIL)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def _guess_until_locked(app, spread: bool) -> list[int]:
    """Wrong codes until the account locks: 10 browsers and 10 claimed IPs, or one of each."""
    clients = [app.test_client() for _ in range(10 if spread else 1)]
    statuses, state = [], {}
    for attempt in range(LIMIT + 2):
        client = clients[attempt % len(clients)]
        ip = f"198.51.100.{attempt % 10 + 1}" if spread else "198.51.100.1"
        # One sequential browser keeps its challenge until that challenge closes (5 tries);
        # the spread attack signs in again in every browser, so every guess has a new code.
        if spread or state.get("attempts", 5) >= 5:
            state = dict(zip(("url", "token", "code"), _open_code_step(client, ip), strict=True),
                         attempts=0)
        r = client.post(state["url"] + "/code",
                        data={"code": _wrong(state["code"]), "csrf_token": state["token"]},
                        headers={"X-Forwarded-For": ip})
        state["attempts"] += 1
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert "locked" in r.get_data(as_text=True)
            break
    return statuses


@pytest.mark.parametrize("spread", [False, True], ids=["sequential", "10-sessions-10-ips"])
def test_a1_wrong_codes_across_sessions_and_ips_hit_the_same_account_limit(app_factory, spread):
    """A-1: the per-account lock comes at the same guess whether or not the attack is spread."""
    # TRUSTED_PROXIES=1 makes the app believe each X-Forwarded-For: the IPs really differ.
    app = app_factory(TRUSTED_PROXIES=1 if spread else 0, **MANY_SENDS)
    statuses = _guess_until_locked(app, spread)
    assert len(statuses) == LIMIT, statuses
    assert statuses[-1] == 429
    assert set(statuses[:-1]) <= {409, 422}  # 409: one challenge's own 5 tries are used up


def test_a1_after_the_lock_even_the_right_code_fails_and_one_notice_is_sent(app_factory):
    """A-1: locked means locked: the right code is refused until the lock ends; one notice."""
    app = app_factory(TRUSTED_PROXIES=1, **MANY_SENDS)
    _guess_until_locked(app, spread=True)
    fresh = app.test_client()
    url, token, code = _open_code_step(fresh, "203.0.113.7")
    r = fresh.post(url + "/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 429 and "locked" in r.get_data(as_text=True)
    assert fresh.get("/settings/profile").status_code == 303  # not signed in
    # More wrong codes while locked neither extend the counter nor send more notices.
    for _ in range(3):
        fresh.post(url + "/code", data={"code": _wrong(code), "csrf_token": token})
    assert len(emails("Code entry locked")) == 1
    assert len(events("challenge.locked")) == 1
    # When the lock ends, the right code works again.
    with db.connection_context():
        (CodeFailures.update(locked_until=utcnow() - dt.timedelta(seconds=1))
         .where(CodeFailures.method == "email").execute())
    url, token, code = _open_code_step(fresh, "203.0.113.7")
    r = fresh.post(url + "/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 303
    assert fresh.get("/settings/profile").status_code == 200


def test_a1_the_lock_is_per_account_not_per_address(app_factory):
    """A-1 / LC-4: another account signing in from the attacker's address is not locked."""
    app = app_factory(TRUSTED_PROXIES=1, **MANY_SENDS)
    _guess_until_locked(app, spread=True)
    other = app.test_client()
    r = password_step(other, "admin@example.com", headers={"X-Forwarded-For": "198.51.100.1"})
    url = r.headers["Location"]
    token = csrf(other, url)
    other.post(url + "/channel", data={"channel": "email", "csrf_token": token})
    r = other.post(url + "/code", data={"code": last_code("admin@example.com"),
                                        "csrf_token": token})
    assert r.status_code == 303
