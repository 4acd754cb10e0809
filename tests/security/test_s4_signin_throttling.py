"""S-4: wrong-password limits hold under parallel requests, and cannot lock a real user out.

The review raced the old limiter (test first, record after): 100 parallel wrong passwords
had 40 checked. Now every attempt takes its slot before the password is compared, so a
burst checks at most the limit; browsers that completed a sign-in before keep their own
allowance (device cookies), so an attacker exhausting the account's shared one does not
lock its owner out.

"Checked" is counted the way the review did: every password comparison that fails records
`login.failed` (step=password) or `password.change_failed`.
"""

import threading

import pytest
from conftest import HTMX, PASSWORD, csrf, signin
from itsdangerous import URLSafeTimedSerializer

from security.helpers import events, password_step
from webapp.auth import devices

MEMBER, ADMIN = "member@example.com", "admin@example.com"
LIMIT = 10  # LOGIN_FAILURES_PER_ACCOUNT and PASSWORD_CHANGE_FAILURES defaults
WRONG = "not the password at all"
NEW_PASSWORD = "violet tuesday harbour lantern"


@pytest.fixture
def app(app_factory):
    # Room for every racing thread to hold a database connection at once.
    return app_factory(DATABASE_POOL_SIZE=64)


def checked_passwords() -> int:
    return len([e for e in events("login.failed") if e.data.get("step") == "password"])


def in_parallel(calls) -> list:
    """Every call at the same moment, each in its own thread; the results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - reported below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    return results


def password_post(client, email, password):
    token = csrf(client, "/login")
    return lambda: client.post("/login", data={"email": email, "password": password,
                                               "csrf_token": token})


def known_browser(app, email=MEMBER):
    """A browser that signed in fully before and signed out: it holds only a device cookie."""
    client = app.test_client()
    signin(client, email)
    client.post("/logout", data={"csrf_token": csrf(client, "/settings/profile")})
    assert client.get_cookie(devices.COOKIE) is not None
    return client


def lock_account(app, email=MEMBER):
    """The account's shared allowance used up by strangers."""
    for _ in range(LIMIT):
        assert password_step(app.test_client(), email, WRONG).status_code == 422


# --- reserve, then check --------------------------------------------------------------------


def test_parallel_wrong_passwords_check_at_most_the_account_limit(app):
    """The review's race: 40 browsers at once. Before the fix more than 10 were checked."""
    calls = [password_post(app.test_client(), MEMBER, WRONG) for _ in range(40)]
    statuses = sorted(r.status_code for r in in_parallel(calls))
    assert statuses == [422] * LIMIT + [429] * (40 - LIMIT)
    assert checked_passwords() == LIMIT
    # The account is locked for unknown browsers, even with the right password.
    r = password_step(app.test_client(), MEMBER)
    assert r.status_code == 429 and "Try again in 15 minutes" in r.get_data(as_text=True)
    assert 840 <= int(r.headers["Retry-After"]) <= 900


def test_parallel_wrong_current_passwords_check_at_most_the_change_limit(app):
    member = app.test_client()
    signin(member, MEMBER)
    token = csrf(member, "/settings/profile")  # first: it is kept in the session cookie
    cookie = member.get_cookie("session").value

    def attempt():
        client = app.test_client()  # the same signed-in session in 30 tabs
        client.set_cookie("session", cookie)
        return lambda: client.post("/settings/profile/password", data={
            "current_password": WRONG, "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD, "csrf_token": token})

    statuses = sorted(r.status_code for r in in_parallel([attempt() for _ in range(30)]))
    assert statuses == [422] * LIMIT + [429] * (30 - LIMIT)
    assert len(events("password.change_failed")) == LIMIT
    # Over the limit even the right current password waits.
    r = member.post("/settings/profile/password", headers=HTMX, data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD, "csrf_token": token})
    assert r.status_code == 429 and r.headers["Retry-After"]
    assert "Try again in 15 minutes" in r.get_data(as_text=True)


def test_a_right_password_gives_its_slot_back(app):
    """Only wrong passwords count: a sign-in in between does not use up a slot."""
    client = app.test_client()
    for _ in range(LIMIT - 1):
        assert password_step(client, MEMBER, WRONG).status_code == 422
    assert password_step(app.test_client(), MEMBER).status_code == 303
    assert password_step(client, MEMBER, WRONG).status_code == 422  # the 10th wrong one
    assert password_step(client, MEMBER, WRONG).status_code == 429


def test_right_passwords_never_use_up_the_address_limit(app_factory):
    app = app_factory(LOGIN_FAILURES_PER_IP="2 per 15 minutes")
    for _ in range(5):
        assert password_step(app.test_client(), MEMBER).status_code == 303


def test_a_right_current_password_gives_its_slot_back(app):
    member = app.test_client()
    signin(member, MEMBER)

    def change(current, new=NEW_PASSWORD, confirm=NEW_PASSWORD):
        return member.post("/settings/profile/password", data={
            "current_password": current, "new_password": new, "confirm_password": confirm,
            "csrf_token": csrf(member, "/settings/profile")})

    for _ in range(LIMIT - 1):
        assert change(WRONG).status_code == 422
    # Right current password, but the new ones differ: not a guess, the slot comes back.
    assert change(PASSWORD, confirm="something else entirely").status_code == 422
    assert change(WRONG).status_code == 422
    assert change(WRONG).status_code == 429


# --- device cookies ------------------------------------------------------------------------------


def test_a_known_browser_signs_in_while_the_account_is_locked_for_strangers(app):
    known = known_browser(app)
    lock_account(app)
    assert password_step(app.test_client(), MEMBER).status_code == 429
    r = password_step(known, MEMBER)
    assert r.status_code == 303 and r.headers["Location"].startswith("/verify/")


def test_a_known_browser_has_its_own_allowance_of_the_same_size(app):
    known = known_browser(app)
    for _ in range(LIMIT):
        assert password_step(known, MEMBER, WRONG).status_code == 422
    assert password_step(known, MEMBER).status_code == 429
    # Its failures were its own: strangers still have the account's whole allowance.
    assert password_step(app.test_client(), MEMBER, WRONG).status_code == 422
    assert password_step(app.test_client(), MEMBER).status_code == 303


def test_the_address_limit_applies_to_known_browsers_too(app_factory):
    app = app_factory(LOGIN_FAILURES_PER_IP="3 per 15 minutes")
    known = known_browser(app)
    for i in range(3):
        assert password_step(app.test_client(), f"x{i}@example.com", WRONG).status_code == 422
    assert password_step(known, MEMBER).status_code == 429


def _with_device_cookie(app, value):
    client = app.test_client()
    client.set_cookie(devices.COOKIE, value)
    return client


def test_a_cookie_for_another_account_gets_no_own_allowance(app):
    admins_browser = known_browser(app, ADMIN)
    lock_account(app)
    assert password_step(admins_browser, MEMBER).status_code == 429
    assert password_step(admins_browser, ADMIN).status_code == 303  # its own account is fine


@pytest.mark.parametrize("forgery", ["other-key", "tampered", "garbage", "huge"])
def test_a_forged_device_cookie_gets_no_own_allowance(app, forgery):
    genuine = known_browser(app).get_cookie(devices.COOKIE).value
    with app.test_request_context():
        digest = devices.account_digest(MEMBER)
    value = {
        "other-key": URLSafeTimedSerializer("not-the-secret-key", salt=devices.SALT).dumps(
            {"n": "n" * 32, "a": [digest]}),
        "tampered": genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"),
        "garbage": "not a cookie",
        "huge": "x" * 3000,
    }[forgery]
    lock_account(app)
    r = password_step(_with_device_cookie(app, value), MEMBER)
    assert r.status_code == 429


def test_the_device_cookie_is_set_only_after_both_steps(app):
    client = app.test_client()
    assert password_step(client, MEMBER).status_code == 303
    assert client.get_cookie(devices.COOKIE) is None  # the password alone proves too little
    client = app.test_client()
    r = signin(client, MEMBER)
    header = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith(devices.COOKIE))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert f"Max-Age={devices.MAX_AGE}" in header
    # The cookie names the account only through a keyed digest.
    assert MEMBER not in client.get_cookie(devices.COOKIE).value


def test_one_browser_remembers_several_accounts(app):
    client = known_browser(app, MEMBER)
    signin(client, ADMIN)
    client.post("/logout", data={"csrf_token": csrf(client, "/settings/profile")})
    cookie = client.get_cookie(devices.COOKIE).value
    lock_account(app, MEMBER)
    lock_account(app, ADMIN)
    for email in (MEMBER, ADMIN):
        assert password_step(_with_device_cookie(app, cookie), email).status_code == 303
