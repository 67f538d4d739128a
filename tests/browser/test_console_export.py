"""Exports in Debian's chromium: the officer of อำเภอน้ำพอง filters the queue, downloads it as
Excel and as CSV through the browser's own download, and the files read back (openpyxl, csv)
hold the queue's cases with Thai headers; the export is in the audit log."""

from __future__ import annotations

import csv
import io

import openpyxl
import sqlalchemy as sa
from playwright.sync_api import expect

from models import AuditEntry
from tests.browser.test_console import CHILD, DESKTOP, a_queue, sign_in


def download(page, name: str):
    with page.expect_download() as info:
        page.get_by_role("link", name=name).click()
    return info.value


def test_an_officer_downloads_the_filtered_queue_as_excel_and_csv(app, page, session,
                                                                   tmp_path):
    reference = a_queue(app)
    page.set_viewport_size(DESKTOP)
    sign_in(page)
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(4)
    shown = [text.strip() for text in page.locator("table.queue tbody td:first-child")
             .all_inner_texts()]

    excel = download(page, "ไฟล์ Excel (.xlsx)")
    assert excel.suggested_filename.startswith("samoe-cases-")
    assert excel.suggested_filename.endswith(".xlsx")
    saved = tmp_path / excel.suggested_filename
    excel.save_as(saved)
    book = openpyxl.load_workbook(saved, read_only=True)
    sheet = [list(r) for r in book["เรื่อง"].iter_rows(values_only=True)]
    book.close()
    assert sheet[0][:3] == ["เลขที่เรื่อง", "กลุ่มเป้าหมาย", "สถานะ"]
    assert [r[0] for r in sheet[1:]] == shown
    names = {r[0]: r[sheet[0].index("ชื่อเด็ก")] for r in sheet[1:]}
    assert names[reference] == CHILD  # the officer in charge: in full

    # the same filters as the page: the stage chip, then the CSV
    page.locator(".chip", has_text="รับเรื่อง").click()
    expect(rows).to_have_count(3)
    file = download(page, "ไฟล์ CSV")
    data = file.path().read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert len(table) == 3 and {r["สถานะ"] for r in table} == {"รับเรื่อง"}
    assert reference in {r["เลขที่เรื่อง"] for r in table}

    session.expire_all()
    logged = list(session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "case.export").order_by(AuditEntry.id)))
    assert [(e.detail["format"], e.detail["rows"]) for e in logged] == [("xlsx", 4), ("csv", 3)]
    assert logged[1].detail["filters"] == {"stage": "received"}
