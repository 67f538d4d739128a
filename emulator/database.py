"""Engine creation for SQLite (WAL, busy timeout, immediate transactions) and PostgreSQL."""

from __future__ import annotations

import os

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sqlite_writers import begin_immediate, connection_class

DEFAULT_DATABASE_URL = "sqlite:///instance/emulator.db"
SQLITE_BUSY_TIMEOUT_MS = 15_000


def normalize_url(url: str) -> str:
    """Rewrite ``postgresql://`` and ``postgres://`` URLs to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> sa.Engine:
    """Create an engine for ``url``; for SQLite make the file's folder and set WAL mode."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        folder = os.path.dirname(os.path.abspath(parsed.database))
        os.makedirs(folder, exist_ok=True)
    # writers take turns (sqlite_writers): woken when the write before them ends
    engine = sa.create_engine(url, connect_args={"factory": connection_class(parsed.database)})
    sa.event.listen(engine, "connect", _configure_sqlite_connection)
    sa.event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite_connection(dbapi_connection, _record) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _begin_immediate), then set WAL and a busy timeout.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


#: Execution option for a transaction that only reads: a plain (deferred) BEGIN, which in WAL
#: mode neither waits for nor blocks the writers.
READ_ONLY = {"emulator_read_only": True}


def _begin_immediate(connection) -> None:
    # Take the write lock at BEGIN so that two writers wait for each other (busy_timeout)
    # instead of failing when a read lock is upgraded.
    if connection.get_execution_options().get("emulator_read_only"):
        connection.exec_driver_sql("BEGIN")
        return
    begin_immediate(connection, SQLITE_BUSY_TIMEOUT_MS / 1000)
