"""The PostgreSQL pool never hands out a connection the server has ended.

A pooled connection is killed server-side (pg_terminate_backend) between two requests; the
next request must still answer, signed in, on a fresh connection. And a healthy pooled
connection is reused.
"""

import pytest
from conftest import signin

from webapp.db import is_sqlite
from webapp.extensions import db

pytestmark = pytest.mark.services


def _backends(app) -> list[int]:
    """Server pids of this database's other connections (the pool's), via a connection of
    its own."""
    import psycopg2

    conn = psycopg2.connect(app.config["DATABASE_URL"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def _terminate(app, pids) -> None:
    import psycopg2

    conn = psycopg2.connect(app.config["DATABASE_URL"])
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for pid in pids:
                cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    finally:
        conn.close()
    # pg_terminate_backend only signals: wait until the backends are gone (their sockets
    # closed), which is what "killed between two requests" means.
    import time

    deadline = time.monotonic() + 10
    while set(pids) & set(_backends(app)) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_connection_killed_server_side_is_not_handed_out(app, client):
    assert not is_sqlite(), "this test needs TEST_DATABASE_URL (PostgreSQL)"
    signin(client)
    assert client.get("/settings/profile").status_code == 200
    assert db.is_closed()  # the request gave its connection back to the pool
    pooled = _backends(app)
    assert pooled, "the pool should hold the request's connection"
    _terminate(app, pooled)

    for _ in range(3):  # every pooled connection was killed: each request still works
        r = client.get("/settings/profile")
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        assert "member@example.com" in r.get_data(as_text=True)
    assert set(_backends(app)).isdisjoint(pooled)


def test_a_live_pooled_connection_is_reused(app, client):
    """The check before reuse does not throw healthy connections away."""
    assert not is_sqlite(), "this test needs TEST_DATABASE_URL (PostgreSQL)"
    signin(client)
    assert client.get("/healthz").status_code == 200
    pooled = set(_backends(app))
    for _ in range(3):
        assert client.get("/settings/profile").status_code == 200
    assert set(_backends(app)) == pooled
