"""Prebuilt queries return exactly what Peewee's own query returns, read fresh every call."""

import datetime as dt

import pytest
from conftest import signin, user
from flask_login import login_user

from webapp.extensions import db
from webapp.models import (
    LIVE_SESSION,
    SEAT,
    Membership,
    Organization,
    User,
    UserSession,
    utcnow,
)
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
        session_row, member, seat, organization = LIVE_SESSION.instances(row.token_hash, now)
        _same(session_row, peewee)
        _same(member, peewee.user)
        _same(seat, Membership.first_of(member.id).first())
        _same(organization, Organization.get_by_id(seat.organization_id))
        assert isinstance(session_row.expires_at, dt.datetime)
        assert member.email == "member@example.com"
        # Nothing is cached but the text: a revocation is seen by the very next call.
        UserSession.update(revoked_at=now).where(UserSession.id == row.id).execute()
        assert LIVE_SESSION.instances(row.token_hash, now) is None
        assert UserSession.live_query(row.token_hash, now).first() is None


def test_session_load_brings_the_first_live_seat_or_none(app, client):
    """The seat that comes with the session is own_seat()'s: removed ones are left out."""
    signin(client)
    with app.app_context(), db.connection_context():
        row = UserSession.select().order_by(UserSession.id.desc()).first()
        now = utcnow()
        member = user("member@example.com")
        Membership.update(removed_at=now).where(Membership.user == member.id).execute()
        session_row, loaded, seat, organization = LIVE_SESSION.instances(row.token_hash, now)
        assert loaded.id == member.id and seat is None and organization is None
        Membership.update(removed_at=None).where(Membership.user == member.id).execute()
        _, _, seat, _ = LIVE_SESSION.instances(row.token_hash, now)
        _same(seat, SEAT.first(member.id))


def test_seat_matches_peewee(app):
    with app.app_context(), db.connection_context():
        member = user("member@example.com")
        seat = SEAT.first(member.id)
        _same(seat, Membership.first_of(member.id).first())
        assert "organization" in seat.__rel__  # attached: reading it costs no query
        _same(seat.organization, Organization.get_by_id(seat.organization_id))
        assert SEAT.first(10**9) is None


def test_a_parameter_the_query_does_not_use_is_refused(app):
    unused = Prebuilt(lambda email, other: User.select().where(User.email == email), (str, str))
    with app.app_context(), db.connection_context(), pytest.raises(ValueError):
        unused.first("member@example.com", "x")


@pytest.mark.parametrize("args", [
    {}, {"person": "member@example.com"}, {"event": "login.succeeded"},
    {"from": "2000-01-01"}, {"to": "2999-12-31"},
    {"person": "member@example.com", "event": "login.succeeded", "from": "2000-01-01",
     "to": "2999-12-31"},
])
@pytest.mark.parametrize("team", [True, False])
def test_each_shape_of_the_activity_page_matches_peewee(app, client, args, team):
    """One prebuilt text per set of filters (PrebuiltByShape): the same events as the
    peewee query, actor and subject attached, with and without a page marker."""
    from webapp.activity import routes as activity

    signin(client)
    with app.test_request_context("/"), db.connection_context():
        member = user("member@example.com")
        login_user(member)
        seat = Membership.first_of(member.id).first()
        organization_id = seat.organization_id if team else None
        filters = activity.Filters(args, organization_id)
        assert not filters.errors
        for before in (None, 10**6):
            mine = activity.page_events(organization_id, filters, before)
            peewee = list(activity.events_query(organization_id, filters, before))
            assert mine and [e.id for e in mine] == [e.id for e in peewee]
            for a, b in zip(mine, peewee, strict=True):
                _same(a, b)
                for who in ("actor", "subject"):
                    if getattr(b, f"{who}_id") is not None:
                        assert getattr(a, who).email == getattr(b, who).email
