"""Exports of the case queue: CSV and XLSX read back (csv, openpyxl) hold exactly the cases of
the queue's filters, every page, in its order; the officer's scope only; personal columns in
full only for the officer in charge and supervisors; Thai headers, ISO and Buddhist-era dates,
a UTF-8 BOM; formula-looking text kept as text; the row cap; an audit row for each export.
Also the queue's escalated and stale filters, which the export shares."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import openpyxl
import pytest
import sqlalchemy as sa

from models import AuditEntry, Case
from services import consent, exports, workflow
from tests import factories as f
from tests.console.conftest import Console

REF = re.compile(r'href="/console/cases/(KK-\d{4}-\d{5})"')
BOM = b"\xef\xbb\xbf"
HEADERS = ["เลขที่เรื่อง", "กลุ่มเป้าหมาย", "สถานะ", "หน่วยงานที่ดูแล"]


def queue_refs(console, query: str = "") -> list[str]:
    """Every reference the queue shows for `query`, following its pages."""
    seen, url = [], f"/console/cases?{query}"
    while url:
        page = console.get(url)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        seen += REF.findall(text)
        found = re.search(r'href="([^"]+)" rel="next"', text)
        url = found.group(1).replace("&amp;", "&") if found else None
    return seen


def fetch(console, url: str):
    """GET a download, reading it whole and closing it (its file goes away)."""
    with console.get(url) as response:
        response.get_data()
    return response


def read_csv(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=samoe-")
    assert response.data.startswith(BOM)
    text = response.data[len(BOM):].decode("utf-8")
    assert "\r\n" in text  # Excel's line ends
    return list(csv.DictReader(io.StringIO(text, newline="")))


def read_xlsx(response) -> tuple[list[str], list[dict], list[list]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == exports.MIMETYPES["xlsx"]
    book = openpyxl.load_workbook(io.BytesIO(response.data), read_only=True)
    assert book.sheetnames == ["เรื่อง", "เกี่ยวกับไฟล์นี้"]
    rows = [list(r) for r in book["เรื่อง"].iter_rows(values_only=True)]
    about = [list(r) for r in book["เกี่ยวกับไฟล์นี้"].iter_rows(values_only=True)]
    book.close()
    headers = rows[0]
    return headers, [dict(zip(headers, row, strict=True)) for row in rows[1:]], about


def exports_audited(session) -> list[AuditEntry]:
    session.expire_all()
    return list(session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case.export")
                                .order_by(AuditEntry.id)))


@pytest.fixture
def cases(app, session, volunteer):
    """Seven cases LEARN of อำเภอน้ำพอง owns (one in ตำบลวังชัย), one in อำเภอชนบท."""
    secret = app.config["SECRET_KEY"]
    made = [f.report(session, secret, volunteer, name=f"เด็กหญิงทดสอบ{n} ใจงาม",
                     id_kind="citizen_id" if n == 0 else "none",
                     id_number="1103700012346" if n == 0 else None)
            for n in range(6)]
    made.append(f.report(session, secret, volunteer, name="มะลิ หอมดี", subdistrict=f.WANG_CHAI))
    far = f.report(session, secret, volunteer, name="ไกล บ้านไกล", subdistrict=f.CHONNABOT)
    return {"ours": made, "far": far}


def test_csv_holds_every_page_of_the_filtered_queue_in_its_order(
        console, session, cases, monkeypatch):
    monkeypatch.setattr("handlers.console.pages.PAGE_SIZE", 2)
    monkeypatch.setattr("handlers.console.exports.BATCH", 3)  # several batches too
    ours = cases["ours"]
    officer = f.officer(session, agency="LEARN", area="4007", username="learn.two")
    workflow.transition(session, f.actor(officer), ours[1], "verifying")
    session.commit()

    for query in ("", "sort=oldest", "stage=received&subdistrict=400701", "sort=due_late"):
        rows = read_csv(fetch(console, f"/console/exports/cases.csv?{query}"))
        shown = queue_refs(console, query)
        assert [row["เลขที่เรื่อง"] for row in rows] == shown, query
    assert len(queue_refs(console, "")) == 7
    assert cases["far"].reference not in [r["เลขที่เรื่อง"] for r in rows]

    rows = read_csv(fetch(console, "/console/exports/cases.csv?stage=verifying"))
    assert [r["เลขที่เรื่อง"] for r in rows] == [ours[1].reference]
    [row] = rows
    assert list(row)[:4] == HEADERS
    assert row["สถานะ"] == "ตรวจสอบข้อมูล" and row["กลุ่มเป้าหมาย"] == "ไม่ได้เรียน 6-24 ปี"
    assert row["หน่วยงานที่ดูแล"] == "สกร." or row["หน่วยงานที่ดูแล"].startswith("สกร")
    assert row["อำเภอ"] == "น้ำพอง" and row["ตำบล"] == "น้ำพอง"
    # the officer in charge gets the personal fields in full
    assert row["ชื่อเด็ก"] == "เด็กหญิงทดสอบ1 ใจงาม"
    assert row["ชื่อผู้ปกครอง"] == "บัวพันธ์ ใจดี" and row["เบอร์โทรผู้ปกครอง"] == "0812345678"
    assert row["หมู่บ้าน"] == "บ้านโนน" and row["หมู่ที่"] == "3"
    assert row["ข้อมูลส่วนบุคคล"] == "แสดง"
    # dates: ISO and Buddhist era
    assert row["วันเกิด (ISO)"] == "2011-05-01" and row["วันเกิด (พ.ศ.)"] == "1 พ.ค. 2554"
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=7))).date()
    assert row["วันที่แจ้ง (ISO)"] == today.isoformat()
    assert row["วันที่แจ้ง (พ.ศ.)"].endswith(str(today.year + 543))
    assert row["อายุ (ปี)"].isdigit()

    audited = exports_audited(session)
    assert len(audited) == 5
    last = audited[-1]
    assert last.actor == "learn.np" and last.detail["via"] == "console"
    assert last.detail["format"] == "csv" and last.detail["rows"] == 1
    assert last.detail["filters"] == {"stage": "verifying"}
    assert last.detail["personal_rows"] == 1 and last.detail["masked_rows"] == 0


def test_xlsx_holds_the_same_rows_with_date_cells_and_a_note_on_the_file(
        console, session, cases):
    csv_rows = read_csv(fetch(console, "/console/exports/cases.csv?subdistrict=400701"))
    headers, rows, about = read_xlsx(fetch(console, "/console/exports/cases.xlsx?"
                                                       "subdistrict=400701"))
    assert headers[:4] == HEADERS and headers == list(csv_rows[0])
    assert [r["เลขที่เรื่อง"] for r in rows] == [r["เลขที่เรื่อง"] for r in csv_rows]
    assert len(rows) == 6
    for got, want in zip(rows, csv_rows, strict=True):
        assert isinstance(got["วันที่แจ้ง (ISO)"], dt.datetime)  # a date cell
        assert got["วันที่แจ้ง (ISO)"].date().isoformat() == want["วันที่แจ้ง (ISO)"]
        assert got["วันที่แจ้ง (พ.ศ.)"] == want["วันที่แจ้ง (พ.ศ.)"]
        assert got["ชื่อเด็ก"] == want["ชื่อเด็ก"]
        assert got["อายุ (ปี)"] == int(want["อายุ (ปี)"])
    first = next(r for r in rows if r["เลขที่เรื่อง"] == cases["ours"][0].reference)
    assert first["เลขประจำตัว"] == "1103700012346"
    labels = {line[0]: line[1] for line in about}
    assert labels["ส่งออกโดย"] == "learn.np"
    assert "subdistrict=400701" in labels["ตัวกรอง"] and labels["จำนวนเรื่อง"] == "6"
    [_, audited] = exports_audited(session)
    assert audited.detail["format"] == "xlsx" and audited.detail["rows"] == 6


def test_scope_and_masking_by_role(app, client, session, cases):
    ours = cases["ours"]
    learn = f.officer(session, agency="LEARN", area="4007", username="learn.np")
    social = f.officer(session, agency="SOCIAL", area="40", username="social.kk")
    workflow.refer(session, f.actor(learn), ours[0], "SOCIAL", "needs a grant")
    session.commit()

    # an agency a case is only referred to (not yet accepted): masked
    rows = read_csv(fetch(Console(client, social), "/console/exports/cases.csv"))
    assert [r["เลขที่เรื่อง"] for r in rows] == [ours[0].reference]
    [row] = rows
    assert row["ชื่อเด็ก"] == "ทดสอบ0 จ."  # the title left out, as in the queue
    assert row["เลขประจำตัว"] == "••••• 2346" and row["เบอร์โทรผู้ปกครอง"] == "••••• 5678"
    assert row["ชื่อผู้ปกครอง"] == "บัวพันธ์ จ." and row["หมู่บ้าน"] == "•••••"
    assert row["วันเกิด (ISO)"] == "•••••" and row["ข้อมูลส่วนบุคคล"] == "ปิดบัง"
    assert row["ส่งต่อรอตอบรับจาก"].startswith("พมจ") or row["ส่งต่อรอตอบรับจาก"]
    assert "1103700012346" not in str(rows) and "0812345678" not in str(rows)
    [audited] = exports_audited(session)
    assert audited.actor == "social.kk" and audited.detail["masked_rows"] == 1

    # a supervisor of the province: every case, in full
    boss = f.officer(session, role="supervisor", agency="EDU", area="40", username="boss.kk")
    rows = read_csv(fetch(Console(app.test_client(), boss), "/console/exports/cases.csv"))
    assert len(rows) == 8 and all(r["ข้อมูลส่วนบุคคล"] == "แสดง" for r in rows)
    assert {r["ชื่อเด็ก"] for r in rows} >= {"ไกล บ้านไกล", "มะลิ หอมดี"}

    # an administrator manages accounts: masked
    admin = f.officer(session, role="admin", agency="EDU", area="40", username="admin.kk")
    rows = read_csv(fetch(Console(app.test_client(), admin), "/console/exports/cases.csv"))
    assert len(rows) == 8 and all(r["ข้อมูลส่วนบุคคล"] == "ปิดบัง" for r in rows)
    assert "0812345678" not in str(rows)

    # a withdrawn consent masks the case even for its officer in charge
    consent.withdraw(session, f.actor(learn), ours[2], "the family asked")
    session.commit()
    rows = read_csv(fetch(Console(app.test_client(), learn), "/console/exports/cases.csv"))
    masked = {r["เลขที่เรื่อง"] for r in rows if r["ข้อมูลส่วนบุคคล"] == "ปิดบัง"}
    assert masked == {ours[2].reference}


def test_text_a_spreadsheet_would_run_stays_text_and_long_emoji_names_survive(
        app, console, session, cases):
    ours = cases["ours"]
    long_name = ("น้องมะม่วง 🥭👧🏽 " * 12)[:200]  # the column holds 200 characters
    session.execute(sa.update(Case).where(Case.id == ours[0].id).values(
        child_name='=HYPERLINK("http://evil.example/x","คลิก")'))
    session.execute(sa.update(Case).where(Case.id == ours[1].id).values(
        child_name="+66 123", guardian_name="@SUM(A1:A9)", village="-1+2"))
    session.execute(sa.update(Case).where(Case.id == ours[2].id).values(child_name=long_name))
    session.commit()

    rows = {r["เลขที่เรื่อง"]: r for r in read_csv(fetch(console, "/console/exports/cases.csv"))}
    assert rows[ours[0].reference]["ชื่อเด็ก"] == "'=HYPERLINK(\"http://evil.example/x\",\"คลิก\")"
    assert rows[ours[1].reference]["ชื่อเด็ก"] == "'+66 123"
    assert rows[ours[1].reference]["ชื่อผู้ปกครอง"] == "'@SUM(A1:A9)"
    assert rows[ours[1].reference]["หมู่บ้าน"] == "'-1+2"
    assert rows[ours[2].reference]["ชื่อเด็ก"] == long_name

    _headers, xrows, _about = read_xlsx(fetch(console, "/console/exports/cases.xlsx"))
    by_ref = {r["เลขที่เรื่อง"]: r for r in xrows}
    assert by_ref[ours[0].reference]["ชื่อเด็ก"].startswith("'=HYPERLINK(")
    assert by_ref[ours[1].reference]["หมู่บ้าน"] == "'-1+2"
    assert by_ref[ours[2].reference]["ชื่อเด็ก"] == long_name


def test_the_writers_keep_5000_character_names_and_guard_every_formula_start():
    name = "น้องฟ้าใส 🌈 " * 500
    assert len(name) >= 5000
    rows = [[name, "=1+1", "+1", "-1", "@x", "\tx", "\rx", "ok", 7, dt.date(2026, 8, 13)]]
    out, count = exports.write_csv(["ชื่อ", *"abcdefghi"], rows)
    with out:
        text = out.read().decode("utf-8-sig")
    [back] = list(csv.reader(io.StringIO(text, newline="")))[1:]
    assert count == 1
    assert back == [name, "'=1+1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "ok", "7", "2026-08-13"]
    out, count = exports.write_xlsx(["ชื่อ", *"abcdefghi"], rows + [["x\x00\x07y"]])
    with out:
        book = openpyxl.load_workbook(out, read_only=True)
        got = [list(r) for r in book["cases"].iter_rows(values_only=True)]
        book.close()
    assert got[1][:6] == [name, "'=1+1", "'+1", "'-1", "'@x", "'\tx"]
    assert got[1][6].startswith("'") and got[1][7] == "ok"  # (a CR is stored as _x000D_)
    assert got[1][8] == 7 and got[1][9] == dt.datetime(2026, 8, 13)
    assert got[2][0] == "xy"  # characters XML cannot hold are dropped, the file opens
    huge, _count = exports.write_xlsx(["a"], [["ก" * 40_000]])
    with huge:
        book = openpyxl.load_workbook(huge, read_only=True)
        cell = next(book["cases"].iter_rows(min_row=2, values_only=True))[0]
        book.close()
    assert len(cell) == exports.CELL_MAX  # Excel's limit for a cell


def test_more_than_the_cap_is_refused_with_the_count(app, console, session, cases,
                                                     monkeypatch):
    monkeypatch.setitem(app.config, "EXPORT_MAX_ROWS", 5)
    response = fetch(console, "/console/exports/cases.xlsx")
    assert response.status_code == 422 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "ไฟล์เดียวใส่ได้ไม่เกิน 5 เรื่อง" in page and "7 เรื่อง" in page
    assert exports_audited(session) == []
    assert read_csv(fetch(console, "/console/exports/cases.csv?subdistrict=400702"))
    assert fetch(console, "/console/exports/cases.pdf").status_code == 404


def test_an_export_needs_a_signed_in_officer(client, cases):
    response = client.get("/console/exports/cases.csv")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_the_queue_and_the_export_filter_escalated_and_stale_cases(console, session, cases):
    ours = cases["ours"]
    now = dt.datetime.now(dt.UTC)
    session.execute(sa.update(Case).where(Case.id == ours[0].id).values(escalation=1))
    session.execute(sa.update(Case).where(Case.id == ours[1].id).values(escalation=2))
    session.execute(sa.update(Case).where(Case.id == ours[2].id).values(
        updated_at=now - dt.timedelta(days=31)))
    session.execute(sa.update(Case).where(Case.id == ours[3].id).values(
        updated_at=now - dt.timedelta(days=40), stage="closed"))
    session.commit()

    district = [ours[1].reference, ours[0].reference]
    assert queue_refs(console, "escalated=district") == district
    assert queue_refs(console, "escalated=province") == [ours[1].reference]
    assert queue_refs(console, "stale=1") == [ours[2].reference]  # a closed case is not stale
    assert len(queue_refs(console, "escalated=nope")) == 7  # unknown: ignored
    page = console.get("/console/cases?escalated=province&stale=1").get_data(as_text=True)
    assert '<option value="province" selected>' in page
    assert 'name="stale" value="1" checked' in page
    assert "/console/exports/cases.xlsx?escalated=province&amp;stale=1" in page

    rows = read_csv(fetch(console, "/console/exports/cases.csv?escalated=district"))
    assert [r["เลขที่เรื่อง"] for r in rows] == district
    assert [r["แจ้งผู้บังคับบัญชาแล้ว"] for r in rows] == ["จังหวัด", "อำเภอ"]
    [stale] = read_csv(fetch(console, "/console/exports/cases.csv?stale=1"))
    assert stale["ไม่มีความเคลื่อนไหว 30 วัน"] == "ใช่"
    assert exports_audited(session)[-1].detail["filters"] == {"stale": True}
