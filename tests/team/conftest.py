"""Team fixtures: signed-in owner and admin, another organisation, a query counter."""

import contextlib

import pytest
from conftest import PASSWORD, signin

from webapp.cli import create_user
from webapp.extensions import db


@pytest.fixture
def admin_client(app):
    client = app.test_client()
    signin(client, "admin@example.com")
    return client


@pytest.fixture
def owner_client(app):
    client = app.test_client()
    signin(client, "owner@example.com")
    return client


@pytest.fixture
def other_org(app):
    """A second organisation with one member, who must stay invisible to the demo team."""
    with app.app_context(), db.connection_context():
        return create_user("stranger@elsewhere.example", PASSWORD, name="Sam Stranger",
                           org_name="Elsewhere Ltd", role="member", phone="+12025550199",
                           email_verified=True, phone_verified=True)


@contextlib.contextmanager
def count_queries():
    """Record the (sql, params) peewee runs: every query goes through execute_sql."""
    real = db.obj.execute_sql
    seen = []

    def counting(sql, params=None, *args, **kwargs):
        seen.append((sql, params))
        return real(sql, params, *args, **kwargs)

    db.obj.execute_sql = counting
    try:
        yield seen
    finally:
        del db.obj.execute_sql
