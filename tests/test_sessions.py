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
