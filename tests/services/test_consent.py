"""Withdrawing consent (services.consent) on each database: by a linked parent on LINE, by the
officer in charge through the API; the consents keep their history, sharing stops (no
referral, no new photos), the case is flagged, the officers are told, and who may not."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.extensions import db
from models import (
    AuditEntry,
    Case,
    CaseGuardian,
    Consent,
    LineUser,
    Officer,
    OutboxMessage,
    TimelineEntry,
)
from services import consent, visits, workflow
from services.access import Actor
from services.workflow import WorkflowError
from tests import factories as f
from tests.support import Chat

PARENT = "U" + "d8" * 16


@pytest.fixture
def s(app):
    with app.app_context():
        yield db.session
        db.session.rollback()
        db.session.remove()


@pytest.fixture
def world(s, app):
    volunteer = f.line_user(s)
    case = f.report(s, app.config["SECRET_KEY"], volunteer, name="เด็กชายสมชาย ใจดี")
    parent = LineUser(line_user_id=PARENT, role="parent", followed=True)
    s.add(parent)
    s.flush()
    s.add(CaseGuardian(case_id=case.id, line_user_id=parent.id))
    officer_line = f.line_user(s, role="officer")
    learn = f.officer(s, agency="LEARN", area="4007", line=officer_line)
    s.commit()
    made = {"case": case, "parent": parent, "learn": f.actor(learn),
            "officer_line": officer_line.line_user_id, "case_id": case.id,
            "reference": case.reference}
    s.rollback()  # SQLite: hold no lock while the webhook writes
    return made


def test_a_linked_parent_withdraws_on_line_and_sharing_stops(s, world, emulator, worker,
                                                             session):
    chat = Chat(emulator, worker, PARENT)
    asked = chat.say("ถอนความยินยอม")
    assert "หยุดส่งข้อมูลของน้องให้หน่วยงานอื่น" in asked[0]["text"]
    assert chat.labels() == ["น้องสมชาย"]
    confirm = chat.tap("น้องสมชาย")
    assert "ใช่ไหมคะ" in confirm[0]["text"] and chat.labels() == ["ถอนความยินยอม", "ไม่ถอน"]
    done = chat.tap("ถอนความยินยอม")
    assert done[0]["text"].startswith("เรียบร้อยค่ะ ถอนความยินยอมของน้องสมชายแล้ว")
    case = session.get(Case, world["case_id"])  # the test's own reads
    assert consent.is_withdrawn(session, case)
    [record] = session.scalars(sa.select(Consent).where(Consent.case_id == case.id)).all()
    assert record.withdrawn_at is not None and record.purposes  # history kept
    kinds = [e.kind for e in session.scalars(sa.select(TimelineEntry)
                                             .where(TimelineEntry.case_id == case.id))]
    assert "consent_withdrawn" in kinds
    told = session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.kind == "case.consent_withdrawn")).all()
    assert [r.recipient for r in told] == [world["officer_line"]]
    with pytest.raises(WorkflowError) as info:
        workflow.refer(session, world["learn"], case, "SOCIAL", "welfare")
    assert info.value.code == "consent_withdrawn"
    assert not visits.photo_consented(session, case)
    session.rollback()
    assert "ยังไม่มีความยินยอมของคุณ" in chat.say("ถอนความยินยอม")[0]["text"]


def test_the_officer_in_charge_records_a_withdrawal_through_the_api(s, world, client):
    token = f.token(s, s.get(Officer, world["learn"].officer_id))
    case = world["case"]
    url = f"/api/v1/cases/{case.reference}/consent/withdraw"
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "th"}
    answer = client.post(url, json={"reason": "แม่โทรมาแจ้ง 🙏"}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["withdrawn"] is True and answer.get_json()["active"] is False
    again = client.post(url, json={}, headers=headers)
    assert again.status_code == 409
    assert again.get_json()["error"]["message"].startswith("ผู้ปกครองถอนความยินยอมแล้ว")
    detail = client.get(f"/api/v1/cases/{case.reference}", headers=headers).get_json()
    assert detail["consent"]["withdrawn"] is True
    actions = s.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.action == "case.consent_withdraw")).all()
    assert actions == ["case.consent_withdraw"]
    refer = client.post(f"/api/v1/cases/{case.reference}/referrals",
                        json={"to_agency": "SOCIAL", "reason": "x"}, headers=headers)
    assert (refer.status_code, refer.get_json()["error"]["code"]) == (409, "consent_withdrawn")
    assert client.post(url, json={"reason": "x" * 5000}, headers=headers).status_code in (
        409, 422)


def test_who_may_not_withdraw(world, emulator, worker, session):
    other_agency = f.actor(f.officer(session, agency="SOCIAL", area="40"))
    case = session.get(Case, world["case_id"])
    with pytest.raises(consent.ConsentError):
        consent.withdraw(session, other_agency, case)
    with pytest.raises(consent.ConsentError):
        consent.withdraw(session, Actor(kind="volunteer", name="U1"), case)
    session.rollback()
    stranger = Chat(emulator, worker, "U" + "e9" * 16)
    assert "ยังไม่มีความยินยอมของคุณ" in stranger.say("ถอนความยินยอม")[0]["text"]
    emulator.events(user="U" + "e9" * 16, type="postback",
                    postback={"data": f"a=withdraw_consent&v={world['case_id']}&c=yes"})
    forged = stranger._answer()
    assert "เฉพาะผู้ปกครอง" in forged[0]["text"]
    assert not consent.is_withdrawn(session, case)
