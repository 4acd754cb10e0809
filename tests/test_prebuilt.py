"""Prebuilt queries return exactly what Peewee's own query returns, read fresh every call."""

import datetime as dt

import pytest
from conftest import signin, user

from webapp.extensions import db
from webapp.models import FIRST_SEAT, LIVE_SESSION, Membership, User, UserSession, utcnow
from webapp.prebuilt import Prebuilt


def _same(a, b):
    assert type(a) is type(b)
    assert a.__data__ == b.__data__
    assert a._dirty == b._dirty == set()


def test_session_load_matches_peewee_and_sees_each_change(app, client):
    signin(client)
    with app.app_context(), db.connection_context():
        row = UserSession.select().order_by(UserSession.id.desc()).first()
        now = utcnow()
        peewee = UserSession.live_query(row.token_hash, now).first()
        mine = LIVE_SESSION.first(row.token_hash, now)
        _same(mine, peewee)
        _same(mine.user, peewee.user)
        assert isinstance(mine.expires_at, dt.datetime)
        assert mine.user.email == "member@example.com"
        # Nothing is cached but the text: a revocation is seen by the very next call.
        UserSession.update(revoked_at=now).where(UserSession.id == row.id).execute()
        assert LIVE_SESSION.first(row.token_hash, now) is None
        assert UserSession.live_query(row.token_hash, now).first() is None


def test_seat_matches_peewee(app):
    with app.app_context(), db.connection_context():
        member = user("member@example.com")
        _same(FIRST_SEAT.first(member.id), Membership.first_of(member.id).first())
        assert FIRST_SEAT.first(10**9) is None


def test_a_parameter_the_query_does_not_use_is_refused(app):
    unused = Prebuilt(lambda email, other: User.select().where(User.email == email), (str, str))
    with app.app_context(), db.connection_context(), pytest.raises(ValueError):
        unused.first("member@example.com", "x")
