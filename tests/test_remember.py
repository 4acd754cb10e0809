"""'Remember this browser': the sign-in's second step skipped on a trusted browser, and only that.

Plain form posts (no JavaScript) through the test client; the browser tests drive the same
flow with JavaScript on (tests/browser/test_remember.py).
"""

import pytest
from conftest import HTMX, PASSWORD, csrf, last_code, post, signin, user
from itsdangerous import URLSafeTimedSerializer
from security.helpers import events, password_step
from twofactor.helpers import enable_totp, next_code, open_setup, secret_in, token_in

from webapp import config
from webapp.auth import remember
from webapp.extensions import db
from webapp.models import RememberedBrowser, User, token_digest

COOKIE = remember.COOKIE
DAYS = config.DEFAULTS["REMEMBER_BROWSER_DAYS"]
SETUP = "/settings/profile/2fa/setup"


def signin_remembering(client, email="member@example.com", *, tick=True):
    """Password, an email code, and "Don't ask again on this browser" ticked."""
    r = password_step(client, email)
    assert r.status_code == 303 and "/verify/" in r.headers["Location"], r.headers
    verify = r.headers["Location"]
    token = csrf(client, verify)
    r = client.post(verify + "/channel", data={"channel": "email", "csrf_token": token})
    assert r.status_code == 303
    page = client.get(verify).get_data(as_text=True)
    data = {"code": last_code(email), "csrf_token": token}
    if tick:
        assert 'name="remember"' in page
        data["remember"] = "y"
    r = client.post(verify + "/code", data=data)
    assert r.status_code == 303, r.get_data(as_text=True)
    return r


def sign_out(client):
    r = client.post("/logout", data={"csrf_token": csrf(client, "/settings/profile")})
    assert r.status_code == 303


def second_step_asked(client, email="member@example.com", password=PASSWORD) -> bool:
    """Sign in with the password: True when the second step is asked, False when skipped."""
    r = password_step(client, email, password)
    assert r.status_code == 303, r.get_data(as_text=True)
    location = r.headers["Location"]
    if "/verify/" in location:
        client.post("/login/cancel", data={"csrf_token": csrf(client, location)})
        return True
    assert location.endswith("/settings/profile"), location
    return False


def rows(email="member@example.com"):
    with db.connection_context():
        return list(RememberedBrowser.select()
                    .where(RememberedBrowser.user == User.by_email(email).id)
                    .order_by(RememberedBrowser.id))


def live(email="member@example.com"):
    return [r for r in rows(email) if r.forgotten_at is None]


# --- the checkbox and the cookie ----------------------------------------------------------------


def test_the_code_step_offers_remembering_for_the_configured_days(client):
    r = password_step(client)
    verify = r.headers["Location"]
    token = csrf(client, verify)
    client.post(verify + "/channel", data={"channel": "email", "csrf_token": token})
    html = client.get(verify).get_data(as_text=True)
    assert 'type="checkbox" name="remember"' in html
    assert f"Don't ask again on this browser for {DAYS} days" in html


def test_a_step_up_code_step_has_no_remember_checkbox(client):
    signin(client)
    r = post(client, "/settings/profile", {"name": "Mia Member", "email": "member@example.com",
                                           "phone": "+12025550177"})
    verify = r.headers["Location"]
    token = csrf(client, verify)
    client.post(verify + "/channel", data={"channel": "email", "csrf_token": token})
    assert 'name="remember"' not in client.get(verify).get_data(as_text=True)


def test_unticked_remembers_nothing(client):
    signin_remembering(client, tick=False)
    assert rows() == [] and client.get_cookie(COOKIE) is None
    sign_out(client)
    assert second_step_asked(client)


def test_ticked_sets_a_signed_httponly_lax_cookie_and_stores_only_a_digest(client):
    signin_remembering(client)
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert not cookie.secure  # development over http; production: see the next test
    assert cookie.max_age == DAYS * 24 * 3600
    (row,) = rows()
    pairs = URLSafeTimedSerializer("test-secret-key-" + "x" * 32,
                                   salt=remember.SALT).loads(cookie.value)
    (uid, token), = pairs
    assert uid == user("member@example.com").id
    assert row.token_hash == token_digest(token) and token not in row.token_hash
    assert (row.expires_at - row.created_at).days == DAYS
    assert events("browser.remembered")


@pytest.mark.config(SESSION_COOKIE_SECURE=True)
def test_the_cookie_is_secure_when_sessions_are(client):
    client.environ_base["wsgi.url_scheme"] = "https"
    signin_remembering(client)
    assert client.get_cookie(COOKIE).secure


def test_a_remembered_browser_skips_the_second_step_only(client, dbconn):
    signin_remembering(client)
    sign_out(client)
    assert client.get("/settings/profile").status_code == 303  # signed out: cookie alone is nothing
    assert not second_step_asked(client)
    assert client.get("/settings/profile").status_code == 200
    (event,) = [e for e in events("login.succeeded") if e.data.get("remembered")]
    assert event.channel is None
    assert "Second step skipped" in client.get("/settings/activity").get_data(as_text=True)


def test_the_password_is_still_required(client):
    signin_remembering(client)
    sign_out(client)
    r = password_step(client, password="not the password at all")
    assert r.status_code == 422
    assert client.get("/settings/profile").status_code == 303


def test_a_stolen_cookie_alone_gets_nothing(client, app):
    signin_remembering(client)
    stolen = client.get_cookie(COOKIE).value
    thief = app.test_client()
    thief.set_cookie(COOKIE, stolen)
    assert thief.get("/settings/profile").status_code == 303
    assert thief.get("/settings/profile", headers=HTMX).status_code == 401
    r = password_step(thief, password="guessing")
    assert r.status_code == 422
    assert thief.get("/settings/profile").status_code == 303


def test_a_cookie_for_another_account_does_nothing(client):
    signin_remembering(client, "member@example.com")
    sign_out(client)
    assert second_step_asked(client, "owner@example.com")
    assert not second_step_asked(client, "member@example.com")


def _resign(payload, key="test-secret-key-" + "x" * 32):
    return URLSafeTimedSerializer(key, salt=remember.SALT).dumps(payload)


@pytest.mark.parametrize("tamper", ["flip", "wrong key", "other account", "garbage", "long"])
def test_a_tampered_cookie_is_ignored(client, tamper):
    signin_remembering(client)
    sign_out(client)
    value = client.get_cookie(COOKIE).value
    (uid, token), = URLSafeTimedSerializer("test-secret-key-" + "x" * 32,
                                           salt=remember.SALT).loads(value)
    owner_id = user("owner@example.com").id
    forged = {
        "flip": value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"),
        "wrong key": _resign([[uid, token]], key="y" * 48),
        # The member's own token under the owner's id, even signed correctly: the row is the
        # member's, so the owner's sign-in still asks for a code.
        "other account": _resign([[owner_id, token]]),
        "garbage": "not-a-cookie",
        "long": "x" * 3000,
    }[tamper]
    client.set_cookie(COOKIE, forged)
    email = "owner@example.com" if tamper == "other account" else "member@example.com"
    assert second_step_asked(client, email)


def test_expires_after_the_configured_days(client, clock):
    signin_remembering(client)
    sign_out(client)
    clock.advance(DAYS * 24 * 3600 - 120)
    assert not second_step_asked(client)
    sign_out(client)
    clock.advance(240)
    assert second_step_asked(client)
    (row,) = rows()
    assert row.forgotten_at is None and row.expires_at < clock.now  # expired, not forgotten
    assert "data-no-remembered" in _profile_after_signin(client)


def _profile_after_signin(client):
    signin(client)
    return client.get("/settings/profile").get_data(as_text=True)


def test_sign_in_throttling_still_applies(app_factory):
    app = app_factory(LOGIN_FAILURES_PER_ACCOUNT="3 per 15 minutes")
    client = app.test_client()
    signin_remembering(client)
    sign_out(client)
    for _ in range(3):
        assert password_step(client, password="wrong password here").status_code == 422
    assert password_step(client).status_code == 429  # the right password, but no slot left
    assert client.get("/settings/profile").status_code == 303


# --- step-up is never skipped ---------------------------------------------------------------------


def test_step_up_is_never_skipped_after_a_remembered_sign_in(client, dbconn):
    signin_remembering(client)
    sign_out(client)
    assert not second_step_asked(client)
    r = post(client, "/settings/profile", {"name": "Mia Member", "email": "member@example.com",
                                           "phone": "+12025550177"})
    assert r.status_code == 303 and "/verify/" in r.headers["Location"]
    assert User.by_email("member@example.com").phone == "+12025550103"
    # Adding a factor asks for a verification too: no "recently verified" window was opened.
    r = post(client, SETUP + "/start")
    assert r.status_code == 303 and "/verify/" in r.headers["Location"]
    r = post(client, "/settings/profile/2fa/backup-codes")
    assert r.status_code in (303, 409)
    assert "/2fa/setup" not in r.headers.get("Location", "")


# --- the list, Forget, Forget all -----------------------------------------------------------------


def test_listed_under_signed_in_devices_with_this_browser(client):
    signin_remembering(client)
    html = client.get("/settings/profile").get_data(as_text=True)
    (row,) = rows()
    assert "Remembered browsers" in html
    assert f'data-remembered-browser="{row.id}" data-current' in html


@pytest.mark.parametrize("htmx", [False, True])
def test_forget_one(client, htmx):
    signin_remembering(client)
    (row,) = rows()
    r = post(client, "/settings/profile/remembered/forget", {"id": str(row.id)}, htmx=htmx)
    if htmx:
        assert r.status_code == 200 and 'id="sessions"' in r.get_data(as_text=True)
        assert "data-no-remembered" in r.get_data(as_text=True)
    else:
        assert r.status_code == 303
    assert rows()[0].forgotten_reason == "forgotten"
    sign_out(client)
    assert second_step_asked(client)


def test_forget_refuses_another_persons_row_and_bad_ids(app):
    owner = app.test_client()
    signin_remembering(owner, "owner@example.com")
    (theirs,) = rows("owner@example.com")
    member = app.test_client()
    signin(member)
    r = post(member, "/settings/profile/remembered/forget", {"id": str(theirs.id)})
    assert r.status_code == 409
    for bad in ("", "abc", "-1", "1" * 30):
        assert post(member, "/settings/profile/remembered/forget",
                    {"id": bad}).status_code == 400
    assert live("owner@example.com")  # untouched


@pytest.mark.parametrize("htmx", [False, True])
def test_forget_all(app, htmx):
    first, second = app.test_client(), app.test_client()
    signin_remembering(first)
    signin_remembering(second)
    assert len(live()) == 2
    r = post(second, "/settings/profile/remembered/forget-all", htmx=htmx)
    assert r.status_code == (200 if htmx else 303)
    assert live() == [] and {r.forgotten_reason for r in rows()} == {"forget_all"}
    sign_out(first)
    assert second_step_asked(first)


def test_forget_all_function_for_secure_my_account(client, dbconn):
    signin_remembering(client)
    member = User.by_email("member@example.com")
    with client.application.test_request_context():
        assert remember.forget_all(member, "secure_account") == 1
        assert remember.forget_all(member, "secure_account") == 0
    assert rows()[0].forgotten_reason == "secure_account"


# --- forgotten when a credential changes ----------------------------------------------------------


def _step_up(client, path, email="member@example.com", data=None):
    """POST a step-up action and pass its verification with an email code (no JavaScript)."""
    r = post(client, path, data)
    assert r.status_code == 303 and "/verify/" in r.headers["Location"], r.get_data(as_text=True)
    verify = r.headers["Location"]
    token = csrf(client, verify)
    assert client.post(verify + "/channel",
                       data={"channel": "email", "csrf_token": token}).status_code == 303
    return client.post(verify + "/code", data={"code": last_code(email), "csrf_token": token})


def _password_change(client, app):
    r = post(client, "/settings/profile/password", {
        "current_password": PASSWORD, "new_password": "a brand new passphrase 42",
        "confirm_password": "a brand new passphrase 42"})
    assert r.status_code == 303
    return "password", "a brand new passphrase 42"


def _phone_change(client, app):
    r = _step_up(client, "/settings/profile", data={
        "name": "Mia Member", "email": "member@example.com", "phone": "+12025550177"})
    assert r.status_code == 303
    return "factor", PASSWORD


def _email_change(client, app):
    r = _step_up(client, "/settings/profile", data={
        "name": "Mia Member", "email": "mia.new@example.com", "phone": "+12025550103"})
    assert r.status_code == 303
    return "factor", PASSWORD


def _totp_added(client, app):
    html = open_setup(client).get_data(as_text=True)
    code, _ = next_code(secret_in(html))
    r = client.post(SETUP, data={"code": code, "csrf_token": token_in(html)})
    assert r.status_code == 200 and "backup-codes" in r.get_data(as_text=True)
    return "factor", PASSWORD


def _totp_removed(client, app):
    enable_totp(app, "member@example.com")
    assert _step_up(client, "/settings/profile/2fa/remove").status_code == 303
    return "factor", PASSWORD


def _backup_codes_regenerated(client, app):
    enable_totp(app, "member@example.com")
    assert _step_up(client, "/settings/profile/2fa/backup-codes").status_code == 200
    return "factor", PASSWORD


@pytest.mark.parametrize("change", [_password_change, _phone_change, _email_change, _totp_added,
                                    _totp_removed, _backup_codes_regenerated],
                         ids=lambda f: f.__name__.strip("_"))
def test_a_credential_change_forgets_every_remembered_browser(app, change):
    other = app.test_client()
    signin_remembering(other)
    client = app.test_client()
    signin_remembering(client)
    assert len(live()) == 2
    member_id = user("member@example.com").id
    reason, password = change(client, app)
    with db.connection_context():
        email = User.get_by_id(member_id).email
    assert live(email) == [] and {r.forgotten_reason for r in rows(email)} == {reason}
    # The other browser signs in with a code again (its session was signed out, or sign out).
    if other.get("/settings/profile").status_code == 200:
        sign_out(other)
    assert second_step_asked(other, email, password)


# --- the organisation may turn remembering off ----------------------------------------------------


def test_an_organisation_that_forbids_remembering_hides_the_checkbox_and_ignores_cookies(client):
    signin_remembering(client)
    sign_out(client)
    with db.connection_context():
        from webapp.models import Organization

        Organization.update(allow_remember_browser=False).execute()
    assert second_step_asked(client)
    r = password_step(client)
    verify = r.headers["Location"]
    token = csrf(client, verify)
    client.post(verify + "/channel", data={"channel": "email", "csrf_token": token})
    assert 'name="remember"' not in client.get(verify).get_data(as_text=True)
    # A forged tick is ignored too.
    r = client.post(verify + "/code", data={"code": last_code("member@example.com"),
                                            "remember": "y", "csrf_token": token})
    assert r.status_code == 303 and len(rows()) == 1
