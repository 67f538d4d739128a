"""The API of a guardian's data-subject rights on each database: the export as JSON and as a
printable Thai page (everything held, audited, refused outside the caller's scope), erasure
requests (reason checked: empty, 5,000 characters, emoji), decisions by another supervisor of
the area only, a rejection that changes nothing, an approval that erases once — also when two
supervisors approve over HTTP at the same moment — and the clear errors of each refusal."""

from __future__ import annotations

import base64
import re
import threading

import pytest
import requests
import sqlalchemy as sa

from bot.extensions import db
from models import AuditEntry, Case, CasePhoto, LineUser, TimelineEntry
from services import consent
from services.access import Actor
from tests import factories as f
from tests.api.conftest import Api, error_of
from tests.rights_support import CHILD, ID_NUMBER, NOTES, PHOTO, full_case


@pytest.fixture
def full(app, client):
    """The case with every kind of data, and the API of the officer in charge of it."""
    with app.app_context():
        made = full_case(db.session, app.config["SECRET_KEY"])
        token = f.token(db.session, made.owner)
        made.api = Api(client, token, "th")
        db.session.remove()
    return made


def audit_actions(app, action: str) -> list[AuditEntry]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)
                                       .order_by(AuditEntry.id)))
        db.session.remove()
    return rows


def test_the_json_export_holds_everything_and_is_audited(app, full):
    response = full.api.get(f"/cases/{full.reference}/export")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["format"] == "samoe.subject-export" and body["reference"] == full.reference
    assert body["case"]["child"]["name"] == CHILD
    assert body["case"]["child"]["id_number"] == ID_NUMBER
    assert body["guardian"]["phone"] == "0812345678"
    assert base64.b64decode(body["photos"][0]["data_base64"]) == PHOTO
    for key in ("consents", "timeline", "notes", "referrals", "services", "appointments",
                "visits", "photos", "link_codes", "linked_line_accounts", "line_messages",
                "audit"):
        assert body[key], key
        assert body["counts"][key] == len(body[key])
    assert body["visits"][0]["note"] == NOTES["visit"]
    assert body["generated_by"] == full.owner_name
    # typed as people type it: Thai digits, no prefix
    typed = full.reference[3:].translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))
    assert full.api.get(f"/cases/{typed}/export").status_code == 200
    rows = audit_actions(app, "subject.export")
    assert len(rows) == 2 and rows[0].detail["format"] == "json"
    assert rows[0].actor == full.owner_name


def test_the_printable_page_is_thai_with_buddhist_era_dates_and_the_photo(app, full):
    response = full.api.get(f"/cases/{full.reference}/export.html")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<html lang="th">' in page
    assert "ข้อมูลทั้งหมดที่เสมอเก็บไว้เกี่ยวกับน้อง" in page
    assert CHILD in page and ID_NUMBER in page and NOTES["internal"] in page
    assert re.search(r"\d{1,2} (ม\.ค\.|ก\.พ\.|มี\.ค\.|เม\.ย\.|พ\.ค\.|มิ\.ย\.|ก\.ค\.|ส\.ค\.|"
                     r"ก\.ย\.|ต\.ค\.|พ\.ย\.|ธ\.ค\.) 25\d\d", page)
    assert "2554" in page  # born 1 May 2011: 1 พ.ค. 2554
    assert "data:image/jpeg;base64," + base64.b64encode(PHOTO).decode() in page
    assert "/console/static/rights.css" in page
    with full.api.client.get("/console/static/rights.css") as css:
        assert "../fonts/noto-sans-thai.ttf" in css.get_data(as_text=True)
    font = full.api.client.get("/console/fonts/noto-sans-thai.ttf")
    assert font.status_code == 200 and font.mimetype == "font/ttf"
    assert audit_actions(app, "subject.export")[0].detail["format"] == "html"


def test_an_export_outside_the_scope_is_not_found_like_a_missing_case(app, world, full):
    elsewhere = world.api("officer", "LEARN", "4018", language="th")
    for path in (f"/cases/{full.reference}/export", f"/cases/{full.reference}/export.html",
                 "/cases/KK-2569-99999/export", "/cases/not-a-reference/export"):
        response = elsewhere.get(path)
        assert response.status_code == 404, path
        error = error_of(response)
        assert error["code"] == "case_not_found" and error["message"] == "ไม่พบเรื่องนี้ค่ะ"
    social = world.api("officer", "SOCIAL", "40", language="th")  # only a pending referral
    refused = social.get(f"/cases/{full.reference}/export")
    assert refused.status_code == 409 and error_of(refused)["code"] == "not_in_charge"
    assert "ผู้ดูแลเคส" in error_of(refused)["message"] or "หน่วยงาน" in \
        error_of(refused)["message"]
    assert audit_actions(app, "subject.export") == []


def test_a_request_is_checked_and_decided_by_another_supervisor(app, world, full):
    ref = full.reference
    path = f"/cases/{ref}/erasure-requests"
    too_long = full.api.post(path, {"reason": "ก" * 5000})
    assert too_long.status_code == 422
    assert error_of(too_long)["code"] == "reason_too_long"
    assert error_of(too_long)["message"] == "เหตุผลยาวเกินไปค่ะ"
    empty = full.api.post(path, {"reason": "  "})
    assert empty.status_code == 422 and error_of(empty)["code"] == "reason_required"
    missing = full.api.post(path, {})
    assert missing.status_code == 422
    unknown = full.api.post("/cases/KK-2569-99999/erasure-requests", {"reason": "x"})
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "case_not_found"
    reason = "แม่โทรมาขอให้ลบข้อมูลทั้งหมด 🙏🏽 (ย้ายไปต่างจังหวัด)"
    made = full.api.post(path, {"reason": reason})
    assert made.status_code == 201, made.get_json()
    request = made.get_json()
    assert (request["status"], request["reason"], request["requested_by"]) == (
        "pending", reason, full.owner_name)
    twice = full.api.post(path, {"reason": "again"})
    assert twice.status_code == 409 and error_of(twice)["code"] == "erasure_pending"
    one = f"/erasure-requests/{request['id']}"

    listed = full.api.get("/erasure-requests")  # an officer does not decide
    assert listed.status_code == 403 and error_of(listed)["code"] == "not_supervisor"
    officer = full.api.post(one + "/approve")
    assert officer.status_code == 403 and error_of(officer)["code"] == "not_supervisor"
    assert "หัวหน้า" in error_of(officer)["message"] or "ผู้ดูแลระบบ" in \
        error_of(officer)["message"]
    far = world.api("supervisor", "EDU", "4018", language="th")
    assert far.post(one + "/approve").status_code == 404
    assert error_of(far.post(one + "/approve"))["code"] == "erasure_request_not_found"
    assert far.get("/erasure-requests").get_json() == {"items": []}
    for bad in ("/erasure-requests/0/approve", "/erasure-requests/99999999999999999999/approve",
                "/erasure-requests/424242/reject"):
        response = world.api("supervisor", "EDU", "40").post(bad)
        assert response.status_code == 404, bad

    boss = world.api("supervisor", "EDU", "4007", language="th")
    assert [r["id"] for r in boss.get("/erasure-requests").get_json()["items"]] == [
        request["id"]]
    rejected = boss.post(one + "/reject", {"reason": "ยังต้องใช้ข้อมูลส่งต่อทุน"})
    assert rejected.status_code == 200, rejected.get_json()
    assert rejected.get_json()["status"] == "rejected"
    assert rejected.get_json()["decided_by"] == boss.username
    late = world.api("supervisor", "LOCAL", "40", language="th").post(one + "/approve")
    assert late.status_code == 409 and error_of(late)["code"] == "already_decided"
    detail = full.api.get(f"/cases/{ref}").get_json()
    assert detail["child"]["name"] == CHILD and detail["erased_at"] is None  # intact

    again = full.api.post(path, {"reason": "ขออีกครั้ง"}).get_json()
    own = world.api("supervisor", "EDU", "4007", language="th")
    asked = own.post(path.replace(ref, ref), {"reason": "x"})
    assert asked.status_code == 409  # one waiting request per case
    approved = boss.post(f"/erasure-requests/{again['id']}/approve")
    assert approved.status_code == 200, approved.get_json()
    body = approved.get_json()
    assert body["status"] == "done" and body["case_erased_at"]
    erased = full.api.get(f"/cases/{ref}").get_json()
    assert erased["erased_at"] and erased["child"]["name"] == ref
    assert erased["guardian"] == {"name": None, "phone": None, "relation": None}
    assert erased["photos_count"] == 0
    frozen = full.api.post(f"/cases/{ref}/notes", {"text": "อีกครั้ง"})
    assert frozen.status_code == 409 and error_of(frozen)["code"] == "case_erased"
    erased_twice = full.api.post(path, {"reason": "x"})
    assert erased_twice.status_code == 409
    assert error_of(erased_twice)["code"] == "already_erased"
    assert [r.action for r in audit_actions(app, "subject.erase")] == ["subject.erase"]


def test_a_supervisor_cannot_approve_their_own_request(world, full):
    boss = world.api("supervisor", "EDU", "4007", language="th")
    request = boss.post(f"/cases/{full.reference}/erasure-requests",
                        {"reason": "ผู้ปกครองขอ"}).get_json()
    own = boss.post(f"/erasure-requests/{request['id']}/approve")
    assert own.status_code == 409
    error = error_of(own)
    assert error["code"] == "own_request" and "คุณ" in error["message"]
    assert boss.get(f"/erasure-requests/{request['id']}").get_json()["status"] == "pending"


def test_two_supervisors_approving_over_http_at_once_erase_once(app, world, full, base_url):
    request = full.api.post(f"/cases/{full.reference}/erasure-requests",
                            {"reason": "ผู้ปกครองขอ"}).get_json()
    tokens = [world.api("supervisor", "EDU", "4007").token,
              world.api("supervisor", "LOCAL", "40").token]
    barrier = threading.Barrier(2)
    answers: list[tuple[int, str]] = []

    def approve(token):
        barrier.wait()
        response = requests.post(f"{base_url}/api/v1/erasure-requests/{request['id']}/approve",
                                 headers={"Authorization": f"Bearer {token}"}, timeout=60)
        body = response.json()
        answers.append((response.status_code, body.get("status") or body["error"]["code"]))

    threads = [threading.Thread(target=approve, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert sorted(answers) == [(200, "done"), (409, "already_decided")]
    assert len(audit_actions(app, "subject.erase")) == 1
    with app.app_context():
        case_id = db.session.scalar(sa.select(Case.id).where(Case.reference == full.reference))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEntry).where(
            TimelineEntry.case_id == case_id, TimelineEntry.kind == "erased")) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CasePhoto).where(
            CasePhoto.case_id == case_id)) == 0
        db.session.remove()


def test_the_export_says_who_withdrew_consent_and_how(app, full):
    with app.app_context():
        parent = db.session.scalar(sa.select(LineUser).where(
            LineUser.line_user_id == full.parent_line_id))
        consent.withdraw(db.session, Actor(kind="parent", name=parent.line_user_id,
                                           line_user_id=parent.id, via="line"),
                         db.session.scalar(sa.select(Case).where(
                             Case.reference == full.reference)))
        db.session.commit()
        db.session.remove()
    body = full.api.get(f"/cases/{full.reference}/export").get_json()
    [record] = body["consents"]
    assert (record["withdrawn_by"], record["withdrawal_channel"]) == (full.parent_line_id,
                                                                      "line_parent")
    assert record["withdrawn_at"] is not None
    # the referral waiting for SOCIAL was cancelled by the withdrawal, and says so
    assert [r["status"] for r in body["referrals"]] == ["cancelled"]
    assert "referral_cancelled" in [e["kind"] for e in body["timeline"]]
    page = full.api.get(f"/cases/{full.reference}/export.html").get_data(as_text=True)
    assert "ถอนความยินยอมทางใด" in page and "ผู้ปกครองแจ้งเองทาง LINE" in page
    assert "ยกเลิกการส่งต่อ (ถอนความยินยอม)" in page  # the audit row, in words
