"""The emulator's write path: one write transaction per successful send, its log entry in it
(its SQLite writers take turns: tests/test_sqlite_writers.py)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

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
