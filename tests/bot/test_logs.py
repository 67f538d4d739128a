"""Logs without personal data (bot.logs): the redaction rules, JSON lines, and a whole report
through the webhook — with a failing LINE call and a handler error on the way — whose logs
hold none of the child's name, the guardian's name and phone, the ID number or the text typed."""

from __future__ import annotations

import io
import json
import logging

import pytest
import sqlalchemy as sa

from bot import logs
from models import Case
from tests.handlers.test_report import _press, report_until_summary, valid_id
from tests.handlers.test_report import volunteer as volunteer  # noqa: F401 (fixture)


@pytest.mark.parametrize("raw, kept", [
    ("child น้องสมชาย ดีมาก reported", "child [redacted] reported"),
    ("phone 081-234-5678 and 0812345678", "phone [redacted] and [redacted]"),
    ("id 1-1017-00203-45-1 or 1101700203451", "id [redacted] or [redacted]"),
    ("mail somchai@example.com", "mail [redacted]"),
    ('{"type": "text", "text": "hello there"}', '{"type": "text", "text": "[redacted]"}'),
    ("case KK-2569-00042 user U1234567890abcdef", "case KK-2569-00042 user U1234567890abcdef"),
    ("took 1234 ms, 3 rows, port 8000", "took 1234 ms, 3 rows, port 8000"),
])
def test_what_is_redacted_and_what_stays(raw, kept):
    assert logs.redact(raw) == kept


def test_json_lines_with_the_traceback_redacted():
    stream = io.StringIO()
    logger = logging.getLogger("samoe.test.json")
    logger.addHandler(logs.handler(stream, "json"))
    logger.propagate = False
    try:
        raise ValueError("cannot read น้องมะลิ 0899999999")
    except ValueError:
        logger.exception("event %s failed for %s", 42, "สมศรี ใจดี")
    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "samoe.test.json"
    assert entry["message"] == "event 42 failed for [redacted]"
    assert "ValueError: cannot read [redacted] [redacted]" in entry["exc"]
    assert "มะลิ" not in line and "0899999999" not in line


def test_a_whole_report_leaves_no_personal_data_in_the_logs(volunteer, session,  # noqa: F811
                                                            emulator):
    stream = io.StringIO()
    root = logging.getLogger()
    handler = logs.handler(stream, "json")
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        emulator.fault("reply", status=500, count=1, when="after")  # the sender logs it
        summary = report_until_summary(volunteer, name="สมชาย ดีมาก", id_answer=valid_id())
        logging.getLogger("samoe.test").error("handler failed on %s", json.dumps(
            {"message": {"type": "text", "text": "บัวผัน ใจดี 081-234-5678"}},
            ensure_ascii=False))
        _press(volunteer, summary[0], "ส่งเรื่อง")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    case = session.scalar(sa.select(Case))
    assert case is not None and case.id_number == valid_id()
    output = stream.getvalue()
    assert output.count("\n") > 10  # the run did log
    for secret in ("สมชาย", "ดีมาก", "บัวผัน", "081-234-5678", "0812345678", valid_id(),
                   "สมศรี", "แจ้งเด็ก", "ไม่ได้เรียน"):
        assert secret not in output, secret
    assert all(json.loads(line)["level"] for line in output.splitlines())
