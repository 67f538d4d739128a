"""The emulator's write path: one write transaction per successful send, its log entry in it,
and SQLite writers that queue on a lock and are woken when it is given back."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from emulator.database import WriterLock, make_engine
from tests.emulator.helpers import BACKENDS, USER, text_messages

PUSH = {"to": USER, "messages": text_messages("สวัสดี")}


def _writes(engine: sa.Engine) -> list[str]:
    """Record each transaction the engine begins that is not read-only."""
    begun: list[str] = []

    def on_begin(connection) -> None:
        if not connection.get_execution_options().get("emulator_read_only"):
            begun.append("write")

    sa.event.listen(engine, "begin", on_begin)
    return begun


@pytest.mark.parametrize("emu_database", BACKENDS, indirect=True)
def test_a_reply_and_a_push_each_write_once_with_their_log_entry(emulator):
    token = emulator.reply_token()
    begun = _writes(emulator.store.engine)
    assert emulator.reply(token, "หนึ่ง").status_code == 200
    assert emulator.push(PUSH, retry_key=str(uuid.uuid4())).status_code == 200
    assert begun == ["write", "write"]
    log = emulator.requests()
    assert [(r["endpoint"], r["status"], r["error"]) for r in log] == [
        ("reply", 200, None), ("push", 200, None)]
    assert all(r["request_id"] for r in log)


@pytest.mark.parametrize("emu_database", BACKENDS, indirect=True)
def test_a_send_that_fails_is_logged_with_its_answer_and_sends_nothing(emulator):
    token = emulator.reply_token()
    assert emulator.reply(token).status_code == 200
    assert emulator.reply(token).status_code == 400  # used: the send rolls back
    emulator.quota(type="limited", value=0)
    assert emulator.push(PUSH).status_code == 429
    log = emulator.requests()
    assert [(r["endpoint"], r["status"]) for r in log] == [
        ("reply", 200), ("reply", 400), ("push", 429)]
    assert log[1]["error"] == "Invalid reply token"
    assert len(emulator.sent()) == 1


@pytest.mark.parametrize("emu_database", BACKENDS, indirect=True)
def test_a_narrowcast_is_logged_as_answered_202(emulator):
    answer = emulator.api("POST", "/v2/bot/message/narrowcast", {"messages": text_messages("n")})
    assert answer.status_code == 202
    assert [r["status"] for r in emulator.requests("narrowcast")] == [202]


def test_a_fault_after_a_send_is_logged_with_the_faults_status_not_200(emulator):
    emulator.fault("push", status=503, when="after")
    assert emulator.push(PUSH).status_code == 503
    assert [r["status"] for r in emulator.requests("push")] == [503]
    assert len(emulator.sent()) == 1  # carried out, then answered 503


def _hold(path: str, held, release) -> None:
    lock = WriterLock(path)
    assert lock.acquire()
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
        assert lock.acquire()
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
