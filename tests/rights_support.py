"""A case holding every kind of data (for the data-subject rights tests): a photo, consent, a
parent linked on LINE with a link code and confirming a service, a stage change with a note,
a service, a home visit, an appointment, an internal note and a referral; made through the
real services and committed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from models import Case, CaseService, Officer
from services import cases, guardians, workflow
from services.access import Actor
from tests import factories as f

PHOTO = b"\xff\xd8\xff\xe0 a tiny jpeg of the child"
CHILD = "เด็กชายต้นกล้า ใจดี"
ID_NUMBER = "1103700012346"
NOTES = {
    "report": "แม่ไปทำงานกรุงเทพ อยู่กับยาย",
    "stage": "ยายบอกว่าน้องอยากเรียนต่อ",
    "service": "ลงทะเบียนที่ สกร. น้ำพอง",
    "visit": "เจอน้องที่บ้านยาย ซอย 3",
    "internal": "พ่อเคยติดคุก อย่าบอกใคร",
    "referral": "ครอบครัวต้องการเงินช่วยเหลือ",
    "place": "บ้านยายบัวพันธ์ หมู่ 3",
}


@dataclass
class Full:
    case: Case
    reference: str
    owner: Officer
    owner_name: str
    learn: Actor
    parent_line_id: str
    volunteer_line_id: str


def full_case(session, secret: str, subdistrict: str = f.NAM_PHONG,
              owner: Officer | None = None,
              photo: tuple[str, bytes] = ("image/jpeg", PHOTO)) -> Full:
    now = dt.datetime.now(dt.UTC)
    volunteer = f.line_user(session, subdistrict=subdistrict)
    parent = f.line_user(session, role=None, name="แม่ของต้นกล้า")
    owner = owner or f.officer(session, agency="LEARN", area="4007")
    learn = f.actor(owner)
    case = f.report(session, secret, volunteer, name=CHILD, subdistrict=subdistrict,
                    id_kind="citizen_id", id_number=ID_NUMBER, note=NOTES["report"],
                    latitude=16.7, longitude=102.8, location_address="บ้านโนน หมู่ 3",
                    photo=photo, now=now - dt.timedelta(days=3))
    code = cases.issue_link_code(session, secret, case, owner.username, now=now)
    assert guardians.redeem_link_code(session, secret, parent, code, now=now).case is not None
    workflow.transition(session, learn, case, "in_support", note=NOTES["stage"])
    service = workflow.record_service(session, learn, case, "learn_enrolment",
                                      note=NOTES["service"])
    session.flush()
    parent_actor = Actor(kind="parent", name=parent.line_user_id, line_user_id=parent.id,
                         via="line")
    workflow.confirm_service(session, parent_actor, case, session.get(CaseService, service.id))
    workflow.record_visit(session, learn, case, "found", note=NOTES["visit"], latitude=16.71,
                          longitude=102.81)
    workflow.set_appointment(session, learn, case, now + dt.timedelta(days=5),
                             place=NOTES["place"], purpose="สมัครเรียน")
    workflow.add_note(session, learn, case, NOTES["internal"])
    workflow.refer(session, learn, case, "SOCIAL", NOTES["referral"])
    session.commit()
    return Full(case=case, reference=case.reference, owner=owner, owner_name=owner.username,
                learn=learn,
                parent_line_id=parent.line_user_id, volunteer_line_id=volunteer.line_user_id)
