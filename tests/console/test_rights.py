"""A guardian's data-subject rights in the console on each database: from the case page, the
export as a printable Thai page (Buddhist-era dates, the app's Thai font, the photo) and as a
JSON file, both audited and refused outside the officer's scope; an erasure asked with a
reason and confirmed (an empty, a 5,000-character and an emoji reason), decided by another
supervisor of the area on the requests page (confirmed), a rejection that changes nothing,
and the erased case flagged on its page."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from models import AuditEntry, Case, CasePhoto, ErasureRequest
from tests import factories as f
from tests.console.conftest import Console
from tests.rights_support import CHILD, ID_NUMBER, NOTES, PHOTO, full_case


@pytest.fixture
def full(app, session, learn_officer):
    return full_case(session, app.config["SECRET_KEY"], owner=learn_officer)


def actions(session, prefix: str) -> list[str]:
    session.rollback()
    return list(session.scalars(sa.select(AuditEntry.action)
                                .where(AuditEntry.action.like(prefix + "%"))
                                .order_by(AuditEntry.id)))


def signed_in(app, session, role: str, agency: str = "EDU", area: str = "4007") -> Console:
    return Console(app.test_client(), f.officer(session, role=role, agency=agency, area=area))


def test_the_case_page_offers_the_export_and_the_printable_page_is_thai(console, full,
                                                                          session):
    url = f"/console/cases/{full.reference}"
    page = console.get(url).get_data(as_text=True)
    assert 'id="rights"' in page
    assert f'href="{url}/export"' in page and f'href="{url}/export.json"' in page
    assert f'href="{url}/erasure"' in page

    response = console.get(url + "/export")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    printable = response.get_data(as_text=True)
    assert "ข้อมูลทั้งหมดที่เสมอเก็บไว้เกี่ยวกับน้อง" in printable
    assert CHILD in printable and ID_NUMBER in printable and "0812345678" in printable
    assert "ข้อความขอความยินยอม ฉบับ 2569-2 ที่อ่านให้ผู้ปกครองฟัง:" in printable
    assert "(อสม. อ่านให้ผู้ปกครองฟังก่อนนะคะ)" in printable
    for note in (NOTES["report"], NOTES["visit"], NOTES["internal"], NOTES["referral"]):
        assert note in printable, note
    assert "1 พ.ค. 2554" in printable  # the birth date, Buddhist era
    assert re.search(r"\d{1,2} [ก-ฮ]\.[ก-ฮ]\.(ค\.)? 25\d\d \d\d:\d\d น\.", printable)
    assert "<style" not in printable and " style=" not in printable  # the CSP allows neither
    assert "<script>" not in printable
    css = re.search(r'href="(/console/static/rights\.css)"', printable).group(1)
    with console.get(css) as sheet:
        assert "../fonts/noto-sans-thai.ttf" in sheet.get_data(as_text=True)
    assert console.get("/console/fonts/noto-sans-thai.ttf").status_code == 200
    photo_id = session.scalar(sa.select(CasePhoto.id).where(CasePhoto.case_id == full.case.id))
    photo_url = f"{url}/export/photos/{photo_id}"
    assert f'src="{photo_url}"' in printable
    photo = console.get(photo_url)
    assert photo.status_code == 200 and photo.data == PHOTO and photo.mimetype == "image/jpeg"
    assert console.get(f"{url}/export/photos/{photo_id + 1000}").status_code == 404
    assert actions(session, "subject.") == ["subject.export"]
    assert actions(session, "case.photo") == ["case.photo"]

    download = console.get(url + "/export.json")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == \
        f'attachment; filename="samoe-{full.reference}.json"'
    data = json.loads(download.get_data(as_text=True))
    assert data["case"]["child"]["name"] == CHILD and data["counts"]["photos"] == 1
    rows = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "subject.export")
                           .order_by(AuditEntry.id)).all()
    assert [r.detail["format"] for r in rows] == ["html", "json"]
    assert all(r.actor == "learn.np" and r.detail["via"] == "console" for r in rows)


def test_an_export_outside_the_scope_is_the_same_404_as_a_missing_case(app, session, full):
    elsewhere = signed_in(app, session, "officer", agency="LEARN", area="4018")
    for path in (f"/console/cases/{full.reference}/export",
                 f"/console/cases/{full.reference}/export.json",
                 f"/console/cases/{full.reference}/erasure",
                 "/console/cases/KK-2569-99999/export"):
        response = elsewhere.get(path)
        assert response.status_code == 404, path
        assert "ไม่พบ" in response.get_data(as_text=True)
    social = signed_in(app, session, "officer", agency="SOCIAL", area="40")  # a referral only
    refused = social.get(f"/console/cases/{full.reference}/export")
    assert refused.status_code == 409
    assert "เฉพาะหน่วยงานที่ดูแลเรื่องนี้และหัวหน้าในพื้นที่" in refused.get_data(as_text=True)
    assert actions(session, "subject.") == []


def test_an_erasure_is_asked_with_a_reason_and_confirmed(console, full, session):
    url = f"/console/cases/{full.reference}/erasure"
    form = console.get(url)
    assert form.status_code == 200
    assert "ขอลบข้อมูลของน้อง" in form.get_data(as_text=True)
    empty = console.post(url, {"reason": "   "})
    assert empty.status_code == 422 and "กรุณาระบุเหตุผลค่ะ" in empty.get_data(as_text=True)
    long = console.post(url, {"reason": "ก" * 5000})
    assert long.status_code == 422
    assert "เหตุผลยาวเกินไปค่ะ" in long.get_data(as_text=True)
    assert "ก" * 5000 in long.get_data(as_text=True)  # what was typed is kept
    reason = "แม่โทรมาขอให้ลบข้อมูล 🙏 ครอบครัวย้ายไปอยู่ลำปาง"
    asked = console.post(url, {"reason": reason})
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert f"ส่งคำขอลบข้อมูลของเรื่อง {full.reference} ใช่ไหมคะ" in page
    assert reason in page and 'name="confirm" value="1"' in page
    assert session.scalar(sa.select(sa.func.count()).select_from(ErasureRequest)) == 0
    no_csrf = console.client.post(url, data={"reason": reason, "confirm": "1"})
    assert no_csrf.status_code == 400
    done = console.post(url, {"reason": reason, "confirm": "1"})
    assert done.status_code == 302 and done.headers["Location"].endswith(
        f"/console/cases/{full.reference}#rights")
    session.rollback()
    row = session.scalars(sa.select(ErasureRequest)).one()
    assert (row.status, row.reason, row.requested_by) == ("pending", reason, "learn.np")
    case_page = console.get(f"/console/cases/{full.reference}").get_data(as_text=True)
    assert "กำลังรอหัวหน้าพิจารณาค่ะ" in case_page
    assert f'href="{url}"' not in case_page  # no second request while one waits
    again = console.post(url, {"reason": "อีกครั้ง", "confirm": "1"})
    assert again.status_code == 409
    assert "รอหัวหน้าพิจารณาอยู่แล้ว" in again.get_data(as_text=True)
    assert actions(session, "subject.") == ["subject.erasure_request"]


def test_another_supervisor_approves_on_the_requests_page_and_the_case_shows_it(
        app, console, full, session):
    console.post(f"/console/cases/{full.reference}/erasure",
                 {"reason": "ผู้ปกครองขอ", "confirm": "1"})
    session.rollback()
    request_id = session.scalar(sa.select(ErasureRequest.id))
    officer_page = console.get("/console/erasure-requests")
    assert officer_page.status_code == 403
    assert "เฉพาะหัวหน้าหรือผู้ดูแลระบบ" in officer_page.get_data(as_text=True)
    assert console.post(f"/console/erasure-requests/{request_id}/approve",
                        {"confirm": "1"}).status_code == 403

    boss = signed_in(app, session, "supervisor")
    listing = boss.get("/console/erasure-requests").get_data(as_text=True)
    assert "คำขอลบข้อมูล" in boss.get("/console/cases").get_data(as_text=True)  # in the menu
    assert full.reference in listing and "ผู้ปกครองขอ" in listing
    assert f"/console/erasure-requests/{request_id}/approve" in listing
    asked = boss.post(f"/console/erasure-requests/{request_id}/approve")
    assert asked.status_code == 200
    assert "อนุมัติการลบข้อมูลใช่ไหมคะ" in asked.get_data(as_text=True)
    session.rollback()
    assert session.get(ErasureRequest, request_id).status == "pending"  # asked, not done
    done = boss.post(f"/console/erasure-requests/{request_id}/approve", {"confirm": "1"})
    assert done.status_code == 302
    session.rollback()
    assert session.get(ErasureRequest, request_id).status == "done"
    case = session.get(Case, full.case.id)
    assert case.erased_at is not None and case.child_name == full.reference
    assert "ไม่มีคำขอที่รอพิจารณาค่ะ" in boss.get("/console/erasure-requests").get_data(
        as_text=True)

    page = console.get(f"/console/cases/{full.reference}").get_data(as_text=True)
    assert "ลบข้อมูลส่วนบุคคลแล้ว" in page and CHILD not in page
    assert "จึงแก้ไขเรื่องนี้ไม่ได้อีกค่ะ" in page
    assert 'id="note-form"' not in page and "/erasure\"" not in page
    late = signed_in(app, session, "supervisor", agency="LOCAL", area="40")
    again = late.post(f"/console/erasure-requests/{request_id}/approve", {"confirm": "1"})
    assert again.status_code == 409
    assert "ได้รับการพิจารณาไปแล้วค่ะ" in again.get_data(as_text=True)
    assert actions(session, "subject.") == [
        "subject.erasure_request", "subject.erasure_list", "subject.erasure_approve",
        "subject.erase", "subject.erasure_list"]


def test_a_supervisor_never_decides_their_own_request_and_a_rejection_keeps_the_data(
        app, session, full):
    asker = signed_in(app, session, "supervisor")
    asker.post(f"/console/cases/{full.reference}/erasure",
               {"reason": "ผู้ปกครองขอ", "confirm": "1"})
    session.rollback()
    request_id = session.scalar(sa.select(ErasureRequest.id))
    listing = asker.get("/console/erasure-requests").get_data(as_text=True)
    assert "คำขอของคุณเอง" in listing
    assert f"/console/erasure-requests/{request_id}/approve" not in listing
    own = asker.post(f"/console/erasure-requests/{request_id}/approve", {"confirm": "1"})
    assert own.status_code == 409
    assert "ต้องให้หัวหน้าคนอื่นพิจารณาค่ะ" in own.get_data(as_text=True)

    other = signed_in(app, session, "admin", agency="EDU", area="40")
    asked = other.post(f"/console/erasure-requests/{request_id}/reject",
                       {"reason": "ยังต้องใช้ข้อมูลส่งต่อทุน"})
    assert asked.status_code == 200 and "ยังต้องใช้ข้อมูลส่งต่อทุน" in asked.get_data(
        as_text=True)
    rejected = other.post(f"/console/erasure-requests/{request_id}/reject",
                          {"reason": "ยังต้องใช้ข้อมูลส่งต่อทุน", "confirm": "1"})
    assert rejected.status_code == 302
    session.rollback()
    row = session.get(ErasureRequest, request_id)
    assert (row.status, row.decision_reason) == ("rejected", "ยังต้องใช้ข้อมูลส่งต่อทุน")
    case = session.get(Case, full.case.id)
    assert case.erased_at is None and case.child_name == CHILD
    assert case.guardian_phone == "0812345678"
    assert session.scalar(sa.select(sa.func.count()).select_from(CasePhoto)) == 1
