"""Withdrawing consent (services.consent) on each database: by a linked parent on LINE, by the
officer in charge through the API; the consents keep their history (who withdrew, through which
channel), sharing stops (no referral, a pending one cancelled and its answer refused in the
API, the console and LINE, no new photos, a second report of the child restoring nothing), the
case is flagged, the officers are told, and who may not."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from models import (
    AuditEntry,
    Case,
    CaseGuardian,
    CasePhoto,
    Consent,
    LineUser,
    Officer,
    OutboxMessage,
    Referral,
    TimelineEntry,
    utcnow,
)
from services import cases, consent, visits, workflow
from services.access import Actor
from services.workflow import WorkflowError
from tests import factories as f
from tests.support import Chat

PARENT = "U" + "d8" * 16



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
    assert (record.withdrawn_by, record.withdrawal_channel) == (PARENT, "line_parent")
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
    [record] = answer.get_json()["records"]
    assert (record["withdrawn_by"], record["withdrawal_channel"]) == (
        s.get(Officer, world["learn"].officer_id).username, "api")
    assert answer.get_json()["do_not_contact"] is True
    assert answer.get_json()["by_purpose"] == {"share_with_agencies": False, "photo": False,
                                               "follow_up_contact": False}
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


# -- a referral waiting when consent is withdrawn ----------------------------------------------

SOCIAL_LINE = "U" + "5c" * 16


@pytest.fixture
def referred(s, world):
    """The world's case referred by LEARN to SOCIAL (whose officer has LINE), waiting."""
    social_line = LineUser(line_user_id=SOCIAL_LINE, role="officer", followed=True)
    s.add(social_line)
    s.flush()
    social = f.officer(s, agency="SOCIAL", area="40", line=social_line)
    case = s.get(Case, world["case_id"])
    referral = workflow.refer(s, world["learn"], case, "SOCIAL", "ครอบครัวลำบาก")
    s.commit()
    made = {**world, "social": f.actor(social), "social_account": social,
            "referral_id": referral.id}
    s.rollback()
    return made


def parent_actor(s) -> Actor:
    parent = s.scalar(sa.select(LineUser).where(LineUser.line_user_id == PARENT))
    return Actor(kind="parent", name=PARENT, line_user_id=parent.id, via="line")


def test_a_withdrawal_cancels_the_pending_referral_and_tells_its_agency(s, referred):
    case = s.get(Case, referred["case_id"])
    assert case.stage == "referred"
    consent.withdraw(s, parent_actor(s), case)
    s.commit()
    referral = s.get(Referral, referred["referral_id"])
    assert (referral.status, referral.decided_by) == ("cancelled", PARENT)
    assert referral.decided_at is not None
    assert case.stage == "received"  # back where it was referred from
    assert case.owner_agency_code == "LEARN"
    [entry] = s.scalars(sa.select(TimelineEntry).where(
        TimelineEntry.case_id == case.id, TimelineEntry.kind == "referral_cancelled"))
    assert entry.public is False
    assert entry.detail == {"referral_id": referral.id, "to_agency": "SOCIAL",
                            "because": "consent_withdrawn", "from": "referred",
                            "to": "received"}
    told = {(row.kind, row.recipient) for row in s.scalars(sa.select(OutboxMessage))}
    assert ("referral.cancelled", SOCIAL_LINE) in told
    assert ("case.consent_withdrawn", referred["officer_line"]) in told
    assert "referral.cancel" in s.scalars(sa.select(AuditEntry.action)).all()
    # the deadline is the stage's again, not the referral's
    assert case.due_at == workflow.due_after(case, s)
    for answer in (lambda: workflow.accept_referral(s, referred["social"], referral),
                   lambda: workflow.decline_referral(s, referred["social"], referral, "x")):
        with pytest.raises(WorkflowError) as refused:
            answer()
        assert (refused.value.code, refused.value.status) == ("consent_withdrawn", 409)
    s.rollback()
    assert s.get(Case, referred["case_id"]).owner_agency_code == "LEARN"


def test_a_referral_of_a_withdrawn_case_is_never_answered(s, referred):
    """Even one left pending (withdrawn before withdrawals cancelled referrals): the answer is
    refused, and the receiving agency never becomes the owner."""
    s.execute(sa.update(Consent).where(Consent.case_id == referred["case_id"])
              .values(withdrawn_at=utcnow()))
    s.commit()
    referral = s.get(Referral, referred["referral_id"])
    assert referral.status == "pending"
    with pytest.raises(WorkflowError) as refused:
        workflow.accept_referral(s, referred["social"], referral)
    assert refused.value.code == "consent_withdrawn"
    s.rollback()
    case = s.get(Case, referred["case_id"])
    assert (case.owner_agency_code, s.get(Referral, referral.id).status) == ("LEARN", "pending")


def test_the_receiving_agency_is_refused_with_the_reason_in_the_api(s, referred, client):
    consent.withdraw(s, parent_actor(s), s.get(Case, referred["case_id"]))
    s.commit()
    token = f.token(s, referred["social_account"])
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "th"}
    base = f"/api/v1/referrals/{referred['referral_id']}"
    for path, body in ((base + "/accept", None), (base + "/decline", {"reason": "ไม่ใช่งานเรา"})):
        answer = client.post(path, json=body, headers=headers)
        assert answer.status_code == 409, answer.get_json()
        error = answer.get_json()["error"]
        assert error["code"] == "consent_withdrawn"
        assert error["message"].startswith("ผู้ปกครองถอนความยินยอมแล้ว")
    # the case itself is out of their scope now, and another agency learns nothing
    assert client.get(f"/api/v1/cases/{referred['reference']}",
                      headers=headers).status_code == 404
    other = f.token(s, f.officer(s, agency="HEALTH", area="4007"))
    answer = client.post(base + "/accept", headers={"Authorization": f"Bearer {other}"})
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (
        404, "referral_not_found")
    assert s.get(Referral, referred["referral_id"]).status == "cancelled"


def test_the_receiving_officer_tapping_accept_on_line_is_told_why(s, referred, emulator,
                                                                  worker, session):
    chat = Chat(emulator, worker, SOCIAL_LINE)
    consent.withdraw(s, parent_actor(s), s.get(Case, referred["case_id"]))
    s.commit()
    chat._answer()  # the notifications go out
    assert any(t.startswith("เรื่องส่งต่อของน้องสมชาย") and "ยกเลิกแล้วค่ะ" in t
               for t in chat.texts()), chat.texts()
    emulator.events(user=SOCIAL_LINE, type="postback",
                    postback={"data": f"a=accept_referral&r={referred['referral_id']}"})
    [answer] = chat._answer()
    assert answer["text"].startswith("ผู้ปกครองของน้องสมชาย")
    assert "ถอนความยินยอมแล้ว" in answer["text"] and "ไม่มีอะไรเปลี่ยนแปลง" in answer["text"]
    assert session.get(Case, referred["case_id"]).owner_agency_code == "LEARN"


# -- a second report of a child whose guardian withdrew consent ---------------------------------

def test_a_second_report_does_not_undo_the_withdrawal(s, app, world):
    case = s.get(Case, world["case_id"])
    consent.withdraw(s, parent_actor(s), case)
    s.commit()
    other = f.line_user(s)
    draft = cases.CaseDraft(
        target_group=case.target_group, child_name="ด.ช. สมชาย ใจดี",
        subdistrict_code=case.subdistrict_code, submission_key="again-1",
        birth_date=case.birth_date, birth_precision="day", guardian_name="ยายบัว",
        situations=["poverty"], photo=("image/jpeg", b"\xff\xd8 a photo"), consent=True)
    result = cases.submit_report(s, app.config["SECRET_KEY"], other, draft)
    s.commit()
    assert (result.case.id, result.duplicate, result.created) == (case.id, True, False)
    assert consent.is_withdrawn(s, case) and consent.active(s, case) == []
    assert consent.sharing_refused(s, case) == "consent_withdrawn"
    assert s.scalar(sa.select(sa.func.count()).select_from(Consent)) == 1
    assert s.scalar(sa.select(sa.func.count()).select_from(CasePhoto)) == 0
    [entry] = s.scalars(sa.select(TimelineEntry).where(
        TimelineEntry.case_id == case.id, TimelineEntry.kind == "duplicate_report"))
    assert entry.detail["consent_withdrawn"] is True
    assert entry.detail["purposes_offered"] == list(cases.CONSENT_PURPOSES)
    assert "situations" in entry.detail["filled"] and "photo" not in entry.detail["filled"]
    told = s.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.kind == "case.reported_again")).all()
    assert [row.recipient for row in told] == [world["officer_line"]]
    with pytest.raises(WorkflowError) as refused:
        workflow.refer(s, world["learn"], case, "SOCIAL", "welfare")
    assert refused.value.code == "consent_withdrawn"
    # the same report confirmed twice is linked once, and tells the officers once
    cases.submit_report(s, app.config["SECRET_KEY"], other, draft)
    s.commit()
    assert len(s.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.kind == "case.reported_again")).all()) == 1


def test_a_second_report_of_a_case_with_consent_adds_its_own(s, app, world):
    case = s.get(Case, world["case_id"])
    other = f.line_user(s)
    draft = cases.CaseDraft(
        target_group=case.target_group, child_name=case.child_name,
        subdistrict_code=case.subdistrict_code, submission_key="again-2",
        birth_date=case.birth_date, birth_precision="day", consent=True,
        purposes=("share_with_agencies",), photo=("image/jpeg", b"\xff\xd8 a photo"))
    cases.submit_report(s, app.config["SECRET_KEY"], other, draft)
    s.commit()
    assert len(consent.active(s, case)) == 2
    assert s.scalar(sa.select(sa.func.count()).select_from(CasePhoto)) == 0  # not this one's
    assert s.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.kind == "case.reported_again")).all() == []


# -- what each purpose controls ------------------------------------------------------------

def test_without_a_sharing_purpose_the_case_is_not_referred(s, world, client):
    s.execute(sa.update(Consent).where(Consent.case_id == world["case_id"])
              .values(purposes=["photo"]))
    s.commit()
    case = s.get(Case, world["case_id"])
    assert consent.sharing_refused(s, case) == "no_sharing_consent"
    assert not consent.may_contact(s, case)
    token = f.token(s, s.get(Officer, world["learn"].officer_id))
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "th"}
    refer = client.post(f"/api/v1/cases/{case.reference}/referrals",
                        json={"to_agency": "SOCIAL", "reason": "x"}, headers=headers)
    assert (refer.status_code, refer.get_json()["error"]["code"]) == (409, "no_sharing_consent")
    assert refer.get_json()["error"]["message"].startswith("ผู้ปกครองไม่ได้ยินยอมให้ส่ง")
    detail = client.get(f"/api/v1/cases/{case.reference}", headers=headers).get_json()
    assert detail["consent"]["by_purpose"] == {"share_with_agencies": False, "photo": True,
                                               "follow_up_contact": False}
    assert detail["consent"]["do_not_contact"] is True and detail["consent"]["active"] is True
    [record] = detail["consent"]["records"]
    assert record["statement_version"] == cases.CONSENT_STATEMENT_VERSION
    assert (record["channel"], record["withdrawn_at"]) == ("line_volunteer", None)


def test_without_follow_up_consent_a_parent_who_linked_still_gets_line_news(s, world):
    """follow_up_contact is about officers phoning the guardian; a parent who linked their
    own LINE account to the case asked for its news themselves."""
    s.execute(sa.update(Consent).where(Consent.case_id == world["case_id"])
              .values(purposes=["share_with_agencies"]))
    s.commit()
    case = s.get(Case, world["case_id"])
    assert not consent.may_contact(s, case)
    workflow.transition(s, world["learn"], case, "verifying")
    s.commit()
    told = s.scalars(sa.select(OutboxMessage.recipient).where(
        OutboxMessage.kind == "case.parent_update")).all()
    assert told == [PARENT]
