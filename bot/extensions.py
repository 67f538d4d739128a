"""Flask extensions, created unbound and bound to the app in `create_app`."""

from __future__ import annotations

import os

from flask_babel import Babel
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from models import Base
from sqlite_writers import begin_immediate, connection_class

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
babel = Babel()


#: How long a transaction waits for SQLite's write lock (ms; the busy timeout).
SQLITE_BUSY_TIMEOUT_MS = 30_000


def sqlite_connections(config: dict, instance_path: str) -> None:
    """Connections to the SQLite file that take turns to write: a web request's insert is
    woken as soon as a worker's batch commits, instead of sleeping in SQLite's busy handler
    (bench/README.md). Set before the engine is made."""
    database = make_url(config["SQLALCHEMY_DATABASE_URI"]).database
    if database and database != ":memory:" and not os.path.isabs(database):
        database = os.path.join(instance_path, database)  # as Flask-SQLAlchemy places it
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args.setdefault("factory", connection_class(database))
    options["connect_args"] = connect_args
    config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def sqlite_pragmas(engine: Engine) -> None:
    """WAL, a busy timeout and BEGIN IMMEDIATE, so web and worker processes share one file.

    Python's sqlite3 begins transactions lazily and a read that later writes cannot wait for
    the lock; BEGIN IMMEDIATE takes the write lock up front and waits for it (busy_timeout).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")  # durable commits
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        begin_immediate(connection, SQLITE_BUSY_TIMEOUT_MS / 1000)


def postgresql_settings(engine: Engine) -> None:
    """No JIT compilation on Samoe's PostgreSQL connections.

    PostgreSQL compiles a query with LLVM when its estimated cost is high (jit_above_cost);
    the console's counts over a province's cases crossed that line and spent 80-650 ms
    compiling to save a few (bench/console.py), every time, since nothing is cached. Samoe's
    queries are short and many: the interpreter is faster for all of them."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # a SET outside any transaction
        dbapi_connection.execute("SET jit = off")
        dbapi_connection.autocommit = autocommit
