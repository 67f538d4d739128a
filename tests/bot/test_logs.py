"""Logs without personal data (bot.logs): the redaction rules, JSON lines, and a whole report
through the webhook — a Latin-script child's and guardian's name, a G-code, phone numbers typed
in several forms, a LINE API call failing (the emulator's fault) and the database refusing the
report once (a real error, logged by the worker with its traceback) — whose logs, in JSON and
in text, hold none of what was typed."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging

import pytest
import sqlalchemy as sa

from bot import logs
from models import Case, InboxEvent
from tests.handlers.test_report import _press, bangkok_today, be_date
from tests.handlers.test_report import volunteer as volunteer  # noqa: F401 (fixture)


@pytest.mark.parametrize("raw, kept", [
    ("child น้องสมชาย ดีมาก reported", "child [redacted] reported"),
    ("phone 081-234-5678 and 0812345678", "phone [redacted] and [redacted]"),
    ("call me on 08-1234-5678.", "call me on [redacted]."),
    ("tel (081) 234-5678, +66 81 234 5678 or +66812345678", "tel [redacted], [redacted] or "
     "[redacted]"),
    ("office 02-123-4567 ok", "office [redacted] ok"),
    ("id 1-1017-00203-45-1 or 1101700203451", "id [redacted] or [redacted]"),
    ("school code G123456789012, g 1234 5678 9012", "school code [redacted], [redacted]"),
    ("child Somchai Deemak reported by Mali Sriphan", "child [redacted] reported by [redacted]"),
    ("mail somchai@example.com", "mail [redacted]"),
    ('{"type": "text", "text": "hello there"}', '{"type": "text", "text": "[redacted]"}'),
    ('{"displayName": "somchai", "text": "\\u0e2a\\u0e21"}',
     '{"displayName": "[redacted]", "text": "[redacted]"}'),
    ("escaped \\u0e2a\\u0e21\\u0e0a here", "escaped [redacted] here"),
    ("{'child_name': 'nong ploy', 'stage': 'received'}",
     "{'child_name': \"[redacted]\", 'stage': 'received'}"),
    ("CaseDraft(guardian_name='buaphan jaidee', village_no=3)",
     "CaseDraft(guardian_name=\"[redacted]\", village_no=3)"),
    ("Input should be a valid date [type=date_type, input_value='mali', input_type=str]",
     "Input should be a valid date [type=date_type, input_value=\"[redacted]\", "
     "input_type=str]"),
    ("[SQL: INSERT INTO cases (child_name) VALUES (?)]\n[parameters: ('nong ploy',)]",
     "[SQL: INSERT INTO cases (child_name) VALUES (?)]\n[parameters: [redacted]]"),
    ("case KK-2569-00042 user U1234567890abcdef", "case KK-2569-00042 user U1234567890abcdef"),
    ("took 1234 ms, 3 rows, port 8000", "took 1234 ms, 3 rows, port 8000"),
    ("LINE reply answered 500: Internal Server Error", "LINE reply answered 500: Internal "
     "Server Error"),
    ("slot 2026-12-01 08:00:00 from 127.0.0.1, worker host-123456789",
     "slot 2026-12-01 08:00:00 from 127.0.0.1, worker host-123456789"),
    ("event 01HQ3G123456789012ABCDEFGH handled", "event 01HQ3G123456789012ABCDEFGH handled"),
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


CHILD = "Somchai Deemak"
GUARDIAN = "buaphan jaidee"  # typed in lower case: no pattern could tell it is a name
G_CODE = "G123456789012"
TYPED = ["call me on 08-1234-5678.", f"{GUARDIAN} 08-1234-567", f"{GUARDIAN} +66 81 234 5678"]


def _refuse_new_cases(session, on: bool) -> None:
    """The database refuses to store a case (a trigger), as a broken disk or a bad migration
    would: the worker's real error path, with the real driver's error."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text(
            "CREATE TRIGGER refuse_cases BEFORE INSERT ON cases BEGIN "
            "SELECT RAISE(ABORT, 'cases refused by the test'); END" if on
            else "DROP TRIGGER IF EXISTS refuse_cases"))
    elif on:
        session.execute(sa.text(
            "CREATE FUNCTION refuse_cases() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'cases refused by the test'; END $$ LANGUAGE plpgsql"))
        session.execute(sa.text("CREATE TRIGGER refuse_cases BEFORE INSERT ON cases "
                                "FOR EACH ROW EXECUTE FUNCTION refuse_cases()"))
    else:
        session.execute(sa.text("DROP TRIGGER IF EXISTS refuse_cases ON cases"))
        session.execute(sa.text("DROP FUNCTION IF EXISTS refuse_cases()"))
    session.commit()


def test_a_whole_report_leaves_no_personal_data_in_the_logs(volunteer, session,  # noqa: F811
                                                            emulator):
    streams = {"json": io.StringIO(), "text": io.StringIO()}
    handlers = [logs.handler(stream, fmt) for fmt, stream in streams.items()]
    root = logging.getLogger()
    level = root.level
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        emulator.fault("reply", status=500, count=1, when="after")  # the sender logs it
        volunteer.say(TYPED[0])  # not understood: the text goes nowhere but the inbox
        volunteer.say("แจ้งเด็ก")
        volunteer.tap("ไม่ได้เรียน 6-24 ปี")
        volunteer.say(CHILD)
        volunteer.tap("ชาย")
        volunteer.say(be_date(bangkok_today().replace(year=bangkok_today().year - 15)
                              - dt.timedelta(days=30)))
        volunteer.say(G_CODE)
        assert volunteer.say(TYPED[1])[0]["text"].startswith("เบอร์โทรนี้ยังไม่ถูกต้อง")
        volunteer.say(TYPED[2])
        volunteer.tap("ปู่ย่าตายาย")
        volunteer.tap("หมู่บ้านเดียวกับฉัน")
        volunteer.tap("ออกกลางคัน")
        volunteer.tap("เสร็จ")
        volunteer.tap("ข้าม")
        [summary] = volunteer.tap("ยินยอม")
        _refuse_new_cases(session, True)
        try:
            _press(volunteer, summary, "ส่งเรื่อง")  # the worker fails on it, and logs why
        finally:
            _refuse_new_cases(session, False)
        assert session.scalar(sa.select(Case)) is None
        session.execute(sa.update(InboxEvent).where(InboxEvent.status == "pending")
                        .values(available_at=None))  # its retry, now
        session.commit()
        answer = volunteer._answer()
        assert answer[0]["text"].startswith("ส่งเรื่องเรียบร้อยแล้วค่ะ")
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(level)
    case = session.scalar(sa.select(Case))
    assert (case.child_name, case.guardian_name, case.id_number, case.guardian_phone) == (
        CHILD, GUARDIAN, G_CODE, "0812345678")
    for fmt, stream in streams.items():
        output = stream.getvalue()
        assert output.count("\n") > 10, fmt  # the run did log
        assert "cases refused by the test" in output and "INSERT INTO cases" in output, fmt
        assert "LINE reply answered 500" in output, fmt
        for secret in ("Somchai", "Deemak", "buaphan", "jaidee", G_CODE, G_CODE[1:], "call me",
                       "08-1234-5678", "08-1234-567", "+66 81 234 5678", "0812345678",
                       "081-234-5678", "สมศรี", "แจ้งเด็ก", "ไม่ได้เรียน", "ปู่ย่าตายาย"):
            assert secret not in output, (fmt, secret)
    assert all(json.loads(line)["level"] for line in streams["json"].getvalue().splitlines())
