"""Database binding: one connection per request, SQLite pragmas, versioned migrations."""

import contextlib
import os
import select
from pathlib import Path

from flask import g
from peewee import SqliteDatabase
from playhouse import db_url
from playhouse.migrations import Runner
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

from .config import INSTANCE, private_dir
from .extensions import db

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    ("busy_timeout", 10000),
    ("synchronous", "normal"),
)


def connect(url: str, pool_size: int = 8):
    """A peewee database for a playhouse.db_url URL, with the pragmas we rely on.

    Both get a bounded per-process pool (playhouse.pool): a request borrows one connection
    and gives it back at teardown instead of paying a new connection (and, on SQLite, its
    pragmas) each time.
    """
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if str(path) != ":memory:":
            _owner_only_database(path)
        # A pooled connection may serve another thread later (never two at once).
        return _OwnerOnlySqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS, timeout=10,
                                        max_connections=pool_size, stale_timeout=300,
                                        check_same_thread=False)
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgres", "postgresql"):
        return _CheckedPostgresqlDatabase(**db_url.parse(f"postgresql://{rest}"),
                                          max_connections=pool_size, stale_timeout=300,
                                          timeout=10)
    return db_url.connect(url)


def _owner_only_database(path: Path) -> None:
    """The SQLite file (password hashes, sessions, the outbox) and instance/: owner only.

    The file is created 0o600 before SQLite opens it (SQLite would use 0o644 under the usual
    umask) and tightened if it exists already. Only instance/ or a directory made here is
    chmod-ed: an existing directory elsewhere (say /srv) belongs to the operator.
    """
    if path.parent.resolve() == INSTANCE.resolve() or not path.parent.exists():
        private_dir(path.parent)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    path.chmod(0o600)


class _OwnerOnlySqliteDatabase(PooledSqliteDatabase):
    """Pooled SQLite whose -wal and -shm side files are owner-only like the database."""

    def _add_conn_hooks(self, conn):
        # Runs once per new connection, after the pragmas: WAL mode has made the side files.
        # SQLite copies the database file's mode to them; this also tightens older ones.
        super()._add_conn_hooks(conn)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(self.database + suffix, 0o600)


class _CheckedPostgresqlDatabase(PooledPostgresqlDatabase):
    """Pooled PostgreSQL that never hands out a connection the server has closed.

    playhouse.pool asks the server (`SELECT 1`, a round trip) before each reuse. An idle
    connection has nothing to read, so here the socket is polled instead, without waiting:
    one the server ended (pg_terminate_backend, a restart, idle_session_timeout) has its
    goodbye or end-of-file waiting, and is dropped for a fresh one; so is one with anything
    unexpected to read. A connection not idle (left in a transaction) is rolled back first,
    as playhouse.pool does, and dropped if that fails.
    """

    def _is_closed(self, conn):
        if conn.closed:
            return True
        status = self._adapter.txn_status(conn)
        if status == self._adapter.txn_unknown:
            return True
        if status != self._adapter.txn_idle:
            try:
                self._adapter.rollback(conn)
            except Exception:  # noqa: BLE001 - any failure means the connection is unusable
                return True
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable)


def init_app(app) -> None:
    """Bind the proxy and open/close a connection around each request."""
    db.initialize(connect(app.config["DATABASE_URL"], app.config.get("DATABASE_POOL_SIZE", 8)))

    @app.before_request
    def _open():
        # Close at teardown only what this request opened (a caller may hold one already).
        g.db_opened = db.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc):
        if g.pop("db_opened", False) and not db.is_closed():
            db.close()


def migrate() -> list[str]:
    """Apply pending migrations in order; returns the names applied (idempotent)."""
    with db.connection_context():
        return Runner(db.obj, directory=str(MIGRATIONS)).up()


def is_sqlite() -> bool:
    return isinstance(db.obj, SqliteDatabase)


def atomic_write():
    """A write transaction; on SQLite take the write lock up front so racing writers queue."""
    if is_sqlite():
        return db.obj.atomic(lock_type="IMMEDIATE")
    return db.atomic()
