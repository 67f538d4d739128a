"""Backup and restore of Samoe's database (`flask --app wsgi backup PATH` / `restore PATH`).

SQLite: SQLite's online backup API copies the whole file in one step under one read
transaction, so the copy is a consistent snapshot while the service goes on writing (WAL lets
writers continue meanwhile); the copy is checked (`PRAGMA integrity_check`) and written as a
single self-contained file (rollback journal, no -wal file beside it).

PostgreSQL: `pg_dump -Fc` (custom format, compressed), run inside a snapshot this module
exports, so the counts it reports are those of the dump; `pg_restore --no-owner` into an empty
database, in one transaction. pg_dump must not be older than the server (its major version),
nor pg_restore than the pg_dump that made the file.

Both write to `PATH.partial` and rename it to PATH when complete: a failed backup never leaves
a file that looks like a good one. A restore goes only into an empty database (no tables but
the development emulator's `emu_` ones) unless forced. The LINE emulator's tables are not
backed up. Encrypted fields stay encrypted: DATA_ENCRYPTION_KEYS are needed to read a restored
copy, and they are not in the backup.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import psycopg
import sqlalchemy as sa

EMULATOR_PREFIX = "emu_"
COUNTED = ("cases", "timeline_entries", "audit_log")
PG_DUMP = os.environ.get("PG_DUMP", "pg_dump")
PG_RESTORE = os.environ.get("PG_RESTORE", "pg_restore")


class BackupError(RuntimeError):
    """A backup or restore that could not be done; `code` for the JSON line, the message for
    the operator."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# -- the database URL ------------------------------------------------------------------------

def _url(database_url: str) -> sa.engine.URL:
    return sa.engine.make_url(database_url)


def engine_of(database_url: str) -> str:
    backend = _url(database_url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupError("unsupported", f"backups support SQLite and PostgreSQL, not {backend}")
    return backend


def _sqlite_path(database_url: str) -> Path:
    database = _url(database_url).database
    if not database or database == ":memory:":
        raise BackupError("unsupported", "an in-memory SQLite database cannot be backed up")
    return Path(database)


def libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and an environment carrying it (so the password is
    never on a command line that `ps` shows)."""
    url = _url(database_url).set(drivername="postgresql")
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return url.set(password=None).render_as_string(hide_password=False), env


# -- files -----------------------------------------------------------------------------------

def _partial_for(path: Path) -> Path:
    """Where the backup is written until complete; fails clearly if PATH cannot be written."""
    if path.exists() and path.is_dir():
        raise BackupError("unwritable", f"{path} is a directory: give a file name")
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb"):
            pass
    except OSError as exc:
        raise BackupError("unwritable",
                          f"cannot write the backup to {path}: {exc.strerror or exc}") from None
    return partial


def _readable(path: Path) -> None:
    if not path.exists():
        raise BackupError("missing", f"no backup file at {path}")
    if not path.is_file():
        raise BackupError("missing", f"{path} is not a file")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise BackupError("unreadable", f"cannot read {path}: {exc.strerror or exc}") from None


# -- counts ----------------------------------------------------------------------------------

def _counts_sqlite(conn: sqlite3.Connection) -> dict:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    counts = {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
              for name in COUNTED if name in tables}
    revision = (conn.execute("SELECT version_num FROM alembic_version").fetchone()
                if "alembic_version" in tables else None)
    return {**counts, "revision": revision[0] if revision else None}


def _counts_pg(conn: psycopg.Connection) -> dict:
    tables = {row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    counts = {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
              for name in COUNTED if name in tables}
    revision = (conn.execute("SELECT version_num FROM alembic_version").fetchone()
                if "alembic_version" in tables else None)
    return {**counts, "revision": revision[0] if revision else None}


# -- backup ----------------------------------------------------------------------------------

def backup(database_url: str, path: str | os.PathLike) -> dict:
    """Back up the database at `database_url` to `path`; return what the backup holds."""
    started = time.monotonic()
    engine = engine_of(database_url)
    target = Path(path)
    partial = _partial_for(target)
    try:
        counts = (_backup_sqlite(database_url, partial) if engine == "sqlite"
                  else _backup_pg(database_url, partial))
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return {"backup": str(target), "engine": engine, "bytes": target.stat().st_size, **counts,
            "seconds": round(time.monotonic() - started, 2)}


def _backup_sqlite(database_url: str, partial: Path) -> dict:
    source_path = _sqlite_path(database_url)
    if not source_path.is_file():
        raise BackupError("no_database", f"no SQLite database at {source_path}")
    source = sqlite3.connect(source_path, timeout=30)
    copy = sqlite3.connect(partial)
    try:
        source.execute("PRAGMA busy_timeout=30000")
        source.backup(copy)  # one step: one read transaction, a consistent snapshot
        for (name,) in copy.execute("SELECT name FROM sqlite_master WHERE type='table' AND "
                                    "name LIKE 'emu\\_%' ESCAPE '\\'").fetchall():
            copy.execute(f'DROP TABLE "{name}"')
        copy.commit()
        copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
        problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError("corrupt", "the copy failed SQLite's integrity check: "
                              + "; ".join(problems[:3]))
        return _counts_sqlite(copy)
    except sqlite3.Error as exc:
        raise BackupError("failed", f"SQLite backup failed: {exc}") from None
    finally:
        copy.close()
        source.close()


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError("no_tool", f"{name} is not installed (Debian: apt-get install "
                                     f"postgresql-client)")
    return found


def _major(version_text: str) -> int:
    match = re.search(r"(\d+)(?:\.\d+)?", version_text)
    if match is None:
        raise BackupError("no_tool", f"cannot read the version in {version_text!r}")
    return int(match.group(1))


def check_versions(tool: str, conn: psycopg.Connection) -> tuple[int, int]:
    """The client's and the server's major versions; a pg_dump older than the server refuses
    to dump it."""
    done = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30)
    client = _major(done.stdout)
    server = conn.info.server_version // 10000
    if client < server:
        raise BackupError("version_mismatch",
                          f"{Path(tool).name} {client} is older than the PostgreSQL {server} "
                          f"server: install postgresql-client-{server}")
    return client, server


def _backup_pg(database_url: str, partial: Path) -> dict:
    tool = _tool(PG_DUMP)
    url, env = libpq(database_url)
    try:
        conn = psycopg.connect(url, autocommit=False)
    except psycopg.Error as exc:
        raise BackupError("no_database", f"cannot connect to PostgreSQL: {exc}") from None
    with conn:
        check_versions(tool, conn)
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        counts = _counts_pg(conn)  # in the snapshot pg_dump will read
        done = subprocess.run(
            [tool, "--format=custom", f"--snapshot={snapshot}",
             f"--exclude-table={EMULATOR_PREFIX}*", f"--file={partial}", f"--dbname={url}"],
            capture_output=True, text=True, env=env, timeout=6 * 3600)
        conn.rollback()
    if done.returncode != 0:
        raise BackupError("failed", "pg_dump failed: " + _last_lines(done.stderr))
    return counts


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or "no message"


# -- restore ---------------------------------------------------------------------------------

def restore(database_url: str, path: str | os.PathLike, force: bool = False) -> dict:
    """Restore the backup at `path` into the (empty) database at `database_url`."""
    started = time.monotonic()
    engine = engine_of(database_url)
    source = Path(path)
    _readable(source)
    counts = (_restore_sqlite(database_url, source, force) if engine == "sqlite"
              else _restore_pg(database_url, source, force))
    return {"restored": str(source), "engine": engine, **counts,
            "seconds": round(time.monotonic() - started, 2)}


def _not_empty(tables: set[str], force: bool) -> None:
    ours = sorted(name for name in tables if not name.startswith(EMULATOR_PREFIX))
    if ours and not force:
        raise BackupError("not_empty", f"the target database is not empty ({len(ours)} "
                                       f"tables, e.g. {', '.join(ours[:3])}): restore into an "
                                       f"empty database, or add --force to replace it")


def _open_sqlite_backup(source: Path) -> sqlite3.Connection:
    backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        problems = [row[0] for row in backup_db.execute("PRAGMA integrity_check")]
        tables = {row[0] for row in backup_db.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        backup_db.close()
        raise BackupError("corrupt", f"{source} is not a readable SQLite backup ({exc})") \
            from None
    if problems != ["ok"] or "alembic_version" not in tables:
        backup_db.close()
        reason = ("it failed SQLite's integrity check" if problems != ["ok"]
                  else "it holds no Samoe schema (no alembic_version table)")
        raise BackupError("corrupt", f"{source} is not a usable Samoe backup: {reason}")
    return backup_db


def _restore_sqlite(database_url: str, source: Path, force: bool) -> dict:
    target_path = _sqlite_path(database_url)
    backup_db = _open_sqlite_backup(source)
    try:
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(target_path, timeout=30)
    except (OSError, sqlite3.Error) as exc:
        backup_db.close()
        raise BackupError("unwritable", f"cannot open {target_path}: {exc}") from None
    try:
        tables = {row[0] for row in target.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        _not_empty(tables, force)
        backup_db.backup(target)  # replaces the target's pages with the backup's
        target.execute("PRAGMA journal_mode=WAL")  # as the service runs it
        return _counts_sqlite(target)
    except sqlite3.Error as exc:
        raise BackupError("failed", f"SQLite restore failed: {exc}") from None
    finally:
        target.close()
        backup_db.close()


def _restore_pg(database_url: str, source: Path, force: bool) -> dict:
    tool = _tool(PG_RESTORE)
    listing = subprocess.run([tool, "--list", str(source)], capture_output=True, text=True,
                             timeout=600)
    if listing.returncode != 0:
        newer = re.search(r"unsupported version \((\d+)\.\d+\)", listing.stderr)
        if newer and int(newer.group(1)) >= 1:  # an archive of a newer pg_dump
            raise BackupError("version_mismatch", f"{Path(tool).name} is older than the "
                              f"pg_dump that made {source}: " + _last_lines(listing.stderr, 1))
        raise BackupError("corrupt", f"{source} is not a pg_dump archive pg_restore can read: "
                          + _last_lines(listing.stderr, 1))
    if " alembic_version " not in listing.stdout:
        raise BackupError("corrupt", f"{source} holds no Samoe schema (no alembic_version)")
    url, env = libpq(database_url)
    try:
        conn = psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise BackupError("no_database", f"cannot connect to PostgreSQL: {exc}") from None
    with conn:
        tables = {row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
        _not_empty(tables, force)
        command = [tool, "--no-owner", "--no-privileges", "--single-transaction",
                   "--exit-on-error", f"--dbname={url}", str(source)]
        if force:
            command[1:1] = ["--clean", "--if-exists"]
        done = subprocess.run(command, capture_output=True, text=True, env=env,
                              timeout=6 * 3600)
        if done.returncode != 0:
            raise BackupError("failed", "pg_restore failed (nothing was restored): "
                              + _last_lines(done.stderr))
        return _counts_pg(conn)
