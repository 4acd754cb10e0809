"""Server-side session rows behind Flask-Login's id: the token check itself."""

import datetime as dt

from webapp.models import User, UserSession, token_digest

NOW = dt.datetime(2026, 11, 28, 12, 0)


def open_session(user, lifetime=3600):
    return UserSession.open(user, ip="127.0.0.1", user_agent="pytest", now=NOW,
                            lifetime=lifetime)


def test_token_is_stored_only_as_a_digest(dbconn):
    member = User.by_email("member@example.com")
    row, token = open_session(member)
    assert row.token_hash == token_digest(token) and token not in row.token_hash
    assert len(token) >= 43  # 32 random bytes


def test_load_accepts_live_token_and_refuses_others(dbconn):
    member = User.by_email("member@example.com")
    row, token = open_session(member)
    loaded = UserSession.load(token, NOW)
    assert loaded.id == row.id and loaded.user.email == "member@example.com"
    assert UserSession.load(token + "x", NOW) is None
    assert UserSession.load(token, NOW + dt.timedelta(seconds=3600)) is None  # expired


def test_revoke_all_keeps_only_the_named_session(dbconn):
    member = User.by_email("member@example.com")
    keep, keep_token = open_session(member)
    _, other_token = open_session(member)
    admin = User.by_email("admin@example.com")
    _, admin_token = open_session(admin)
    assert UserSession.revoke_all(member, NOW, keep=keep) == 1
    assert UserSession.load(keep_token, NOW) is not None
    assert UserSession.load(other_token, NOW) is None
    assert UserSession.load(admin_token, NOW) is not None  # other users untouched
    UserSession.revoke_all(member, NOW)
    assert UserSession.load(keep_token, NOW) is None


# --- through the app ---------------------------------------------------------------------------

from conftest import post, signin  # noqa: E402
from twofactor.helpers import next_code, open_setup, secret_in, token_in  # noqa: E402


def _age_sessions(minutes):
    for row in UserSession.select():
        (UserSession.update(last_seen_at=row.last_seen_at - dt.timedelta(minutes=minutes))
         .where(UserSession.id == row.id).execute())


def test_idle_session_signs_out_after_thirty_minutes(client, dbconn):
    signin(client)
    assert client.get("/settings/profile").status_code == 200
    _age_sessions(minutes=31)
    assert client.get("/settings/profile").status_code == 303
    assert UserSession.select().where(UserSession.revoked_at.is_null()).count() == 0


def test_activity_keeps_the_session_alive(client, dbconn):
    signin(client)
    _age_sessions(minutes=29)
    assert client.get("/settings/profile").status_code == 200
    row = UserSession.get(UserSession.revoked_at.is_null())
    assert row.last_seen_at >= row.created_at  # refreshed (it was aged to 29 minutes before)


def test_devices_list_and_sign_out_others(app, dbconn):
    mine, other = app.test_client(), app.test_client()
    signin(mine)
    signin(other)
    page = mine.get("/settings/profile").get_data(as_text=True)
    assert page.count("<li data-session") == 2 and "This device" in page
    r = post(mine, "/settings/profile/sessions/sign-out-others", {}, htmx=True)
    assert r.status_code == 200 and "Signed out 1 other device" in r.headers["HX-Trigger"]
    assert "<html" not in r.get_data(as_text=True)
    assert other.get("/settings/profile").status_code == 303
    assert mine.get("/settings/profile").status_code == 200
    r = post(mine, "/settings/profile/sessions/sign-out-others", {})
    assert r.status_code == 303


def test_turning_on_the_authenticator_signs_out_other_devices(app, dbconn):
    mine, other = app.test_client(), app.test_client()
    signin(mine)
    signin(other)
    html = open_setup(mine).get_data(as_text=True)
    code, _ = next_code(secret_in(html))
    r = mine.post("/settings/profile/2fa/setup", data={"code": code, "csrf_token": token_in(html)})
    assert r.status_code == 200
    assert other.get("/settings/profile").status_code == 303
    assert mine.get("/settings/profile").status_code == 200
