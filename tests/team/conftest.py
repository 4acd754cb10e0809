"""Team fixtures: signed-in owner and admin, another organisation, a query counter."""

import contextlib
import re

import pytest
from conftest import HTMX, PASSWORD, signin

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


def counted_get(client, url) -> tuple[int, str]:
    """An htmx GET that must answer 200: (queries it ran, body)."""
    with count_queries() as seen:
        r = client.get(url, headers=HTMX)
    assert r.status_code == 200
    return len(seen), r.get_data(as_text=True)


def query_plan(sql, params) -> str:
    """The plan as text; PostgreSQL's Sort node is named as SQLite's temp b-tree.

    PostgreSQL plans from statistics that autovacuum keeps in any real database; a table
    filled a moment ago has none yet, so they are taken first.
    """
    from webapp.db import is_sqlite

    if is_sqlite():
        return " ".join(str(r) for r in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))
    db.execute_sql("ANALYZE")
    plan = " ".join(r[0] for r in db.execute_sql("EXPLAIN " + sql, params))
    return re.sub(r"\bSort\b", "TEMP B-TREE", plan)
