"""A case carried from `received` to `closed` through the REST API alone, over real HTTP, on
each database — with the volunteer who reported the child told at each step on LINE (read
back from the emulator) and a linked parent told in parent words, asked to confirm the
service, and never shown the reporter, the ID number or an internal note.

The story of issue #5: a 15-year-old out of school in ตำบลน้ำพอง goes to the district
learning-promotion office (สกร.), which verifies the case and refers it to the area's school
office (OBEC) for enrolment; OBEC accepts, enrols him, sets an appointment, visits, follows up
and closes the case."""

from __future__ import annotations

import datetime as dt
import json

import requests
import sqlalchemy as sa

from bot.extensions import db
from models import AuditEntry, Case, CaseGuardian, LineUser
from tests import factories as f

ID_NUMBER = "1101700230708"
NOTE = "บันทึกภายใน: พ่อไม่ยอมให้เรียน"
REPORTER = "สมศรี อาสาดี"


def test_a_case_from_received_to_closed_through_the_api(app, base_url, emulator, worker,
                                                        session):
    with app.app_context():
        s = db.session
        volunteer = f.line_user(s, name=REPORTER)
        parent = f.line_user(s, role="parent", name="บัวเรียน ใจดี")
        case = f.report(s, app.config["SECRET_KEY"], volunteer, name="เด็กชายต้นกล้า ใจดี",
                        id_kind="citizen_id", id_number=ID_NUMBER)
        s.add(CaseGuardian(case_id=case.id, line_user_id=parent.id))
        learn = f.token(s, f.officer(s, agency="LEARN", area="4007", username="learn.np"))
        obec = f.token(s, f.officer(s, agency="OBEC", area="4007", username="obec.np"))
        ids = {"ref": case.reference, "volunteer": volunteer.line_user_id,
               "parent": parent.line_user_id}
        s.commit()
        s.remove()
    api = requests.Session()
    ref = ids["ref"]

    def call(token, method, path, body=None, status=200):
        response = api.request(method, f"{base_url}/api/v1{path}", json=body,
                               headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert response.status_code == status, response.text
        return response.json()

    def told(user) -> list[str]:
        worker.burst()
        return [json.dumps(m, ensure_ascii=False) for item in emulator.sent(user)
                for m in item["messages"]]

    steps = []

    def expect(words: str) -> None:
        """The volunteer got exactly one more message, and it says `words`."""
        messages = told(ids["volunteer"])
        assert len(messages) == len(steps) + 1, messages
        assert words in messages[-1] and ref in messages[-1]
        steps.append(words)

    # สกร. verifies
    assert call(learn, "POST", f"/cases/{ref}/transitions",
                {"to": "verifying", "note": NOTE})["case"]["stage"] == "verifying"
    expect("กำลังตรวจสอบข้อมูล")
    # and refers to the school office; OBEC sees the pending referral and accepts
    referral = call(learn, "POST", f"/cases/{ref}/referrals",
                    {"to_agency": "OBEC", "reason": "เด็กอยากกลับเข้าโรงเรียน"}, status=201)
    expect("ส่งเรื่องให้หน่วยงานแล้ว")
    pending = call(obec, "GET", "/referrals")["items"]
    assert [p["id"] for p in pending] == [referral["id"]]
    call(obec, "POST", f"/referrals/{referral['id']}/accept")
    expect("สพป./สพม.")
    # the old owner no longer sees the case: 404, as for a case that does not exist
    missing = call(learn, "GET", f"/cases/{ref}", status=404)
    assert missing == call(learn, "GET", "/cases/KK-2500-00001", status=404)
    # OBEC helps: in support, enrolment, an appointment, a visit, follow-up, closed
    call(obec, "POST", f"/cases/{ref}/transitions", {"to": "in_support"})
    expect("กำลังช่วยเหลือ")
    call(obec, "POST", f"/cases/{ref}/services", {"code": "school_enrolment"}, status=201)
    expect("เข้าเรียน")
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0)
    call(obec, "POST", f"/cases/{ref}/appointments",
         {"at": at.isoformat(), "place": "โรงเรียนบ้านน้ำพอง"}, status=201)
    expect("โรงเรียนบ้านน้ำพอง")
    closing = call(obec, "POST", f"/cases/{ref}/transitions", {"to": "closed"}, status=409)
    assert closing["error"]["code"] == "evidence_required"
    call(obec, "POST", f"/cases/{ref}/visits", {"outcome": "back_in_school"}, status=201)
    call(obec, "POST", f"/cases/{ref}/transitions", {"to": "follow_up"})
    expect("กำลังติดตามผล")
    call(obec, "POST", f"/cases/{ref}/transitions", {"to": "closed"})
    expect("น้องได้รับความช่วยเหลือแล้ว")

    detail = call(obec, "GET", f"/cases/{ref}")
    assert detail["stage"] == "closed" and detail["owner_agency"] == "OBEC"
    session.expire_all()
    stored = session.scalar(sa.select(Case).where(Case.reference == ref))
    assert stored.closed_at is not None and stored.first_action_at is not None
    reads = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case.read")).all()
    assert {r.actor for r in reads} == {"obec.np"}  # the refused read is not a read
    assert all(r.ip == "127.0.0.1" and r.case_id == stored.id for r in reads)

    # the parent heard of every step in parent words, was asked to confirm the service, and
    # never saw the reporter, the ID number or the internal note
    parent_messages = told(ids["parent"])
    assert len(parent_messages) == len(steps)
    assert any("ได้รับแล้วใช่ไหมคะ" in m for m in parent_messages)
    blob = "\n".join(parent_messages)
    for secret in (REPORTER, "อาสาดี", ID_NUMBER, NOTE, "พ่อไม่ยอมให้เรียน",
                   "เด็กอยากกลับเข้าโรงเรียน"):
        assert secret not in blob
    assert session.scalar(sa.select(LineUser.role).where(
        LineUser.line_user_id == ids["parent"])) == "parent"
