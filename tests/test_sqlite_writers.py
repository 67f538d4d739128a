"""sqlite_writers: writers of one SQLite file take turns (threads, then processes), are let in
as soon as the one before them is done, give their turn back however the transaction ends, and
give up after their timeout."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from emulator.database import make_engine
from sqlite_writers import WriterLock, connection_class


def _hold(path: str, held, release) -> None:
    lock = WriterLock(path)
    assert lock.acquire(10)
    held.set()
    release.wait(10)
    time.sleep(0.05)
    lock.release()


def test_a_writer_waits_for_another_process_and_is_woken_when_it_lets_go(tmp_path):
    path = str(tmp_path / "db.writer-lock")
    context = multiprocessing.get_context("spawn")
    held, release = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(path, held, release))
    holder.start()
    try:
        assert held.wait(20)
        lock = WriterLock(path)
        release.set()
        started = time.monotonic()
        assert lock.acquire(10)
        waited = time.monotonic() - started
        lock.release()
    finally:
        holder.join(10)
    assert holder.exitcode == 0
    assert waited >= 0.04  # it waited for the other process...
    assert waited < 1.0  # ...and took the lock once given back


def test_threads_of_one_process_take_turns_and_sqlite_keeps_every_write(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'e.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE n (i INTEGER)")

    def add(count: int) -> None:
        for i in range(count):
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO n VALUES (?)", (i,))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, [50] * 8))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM n").scalar() == 400
    assert (tmp_path / "e.db.writer-lock").exists()
    engine.dispose()


def test_a_connection_gives_the_lock_back_when_its_transaction_fails(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'e.db'}")
    with pytest.raises(sa.exc.OperationalError), engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO missing VALUES (1)")
    started = time.monotonic()
    with engine.begin() as conn:  # would wait the busy timeout (15 s) if the lock were kept
        conn.exec_driver_sql("CREATE TABLE t (i INTEGER)")
    assert time.monotonic() - started < 1.0
    engine.dispose()


def test_a_writer_that_does_not_get_its_turn_in_time_gives_up(tmp_path):
    path = str(tmp_path / "db.writer-lock")
    holder, other = WriterLock(path), WriterLock(path)  # two descriptors: two "processes"
    assert holder.acquire(1)
    started = time.monotonic()
    assert not other.acquire(0.1)
    assert 0.1 <= time.monotonic() - started < 1.0
    holder.release()
    assert other.acquire(0.1)
    other.release()


def test_an_in_memory_database_has_nothing_to_share():
    import sqlite3

    assert connection_class(":memory:") is sqlite3.Connection
    assert connection_class(None) is sqlite3.Connection


def test_a_begin_that_fails_gives_the_turn_back(tmp_path):
    """SQLite held by a writer that does not take turns: the BEGIN that gives up after its
    busy timeout starts no transaction, so no COMMIT or ROLLBACK will give the turn back; it
    is given back at once, or the pooled connection would keep every other writer waiting."""
    import sqlite3

    path = tmp_path / "e.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (i INTEGER)")

    @sa.event.listens_for(engine, "connect")
    def _short_busy_timeout(raw, _record):
        raw.execute("PRAGMA busy_timeout=100")

    engine.dispose()
    foreign = sqlite3.connect(path, isolation_level=None)
    foreign.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sa.exc.OperationalError), engine.begin():
            pass
    finally:
        foreign.rollback()
        foreign.close()
    other = WriterLock(str(path) + ".writer-lock")  # another process's descriptor
    assert other.acquire(0.2), "the failed BEGIN kept its turn"
    other.release()
    engine.dispose()
