"""Data-subject rights (services.subject_rights) on each database: the export holds every kind
of data held about the child and is audited, refused outside the actor's scope or charge; an
erasure is asked by an officer in charge and decided by another supervisor of the area
(never the one who asked, never an officer), a rejection changes nothing, an approval erases
the personal fields, photos, LINE links and messages once (two approvals at the same moment
erase once), keeps the province's counts and the audit trail (whose chain still verifies), and
the case is never changed again."""

from __future__ import annotations

import base64
import json
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.config import normalise_database_url
from models import (
    Appointment,
    AuditEntry,
    Case,
    CaseGuardian,
    CasePhoto,
    CaseService,
    Consent,
    ErasureRequest,
    LinkCode,
    OutboxMessage,
    Referral,
    TimelineEntry,
    Visit,
)
from services import access, audit, cases, stats, subject_rights, workflow
from services.subject_rights import RightsError
from tests import factories as f
from tests.rights_support import CHILD, ID_NUMBER, NOTES, PHOTO, full_case


@pytest.fixture
def full(s, app):
    return full_case(s, app.config["SECRET_KEY"])


def supervisor(s, area: str = "4007", agency: str = "EDU"):
    return f.actor(f.officer(s, role="supervisor", agency=agency, area=area))


def count(s, model, case_id: int) -> int:
    return s.scalar(sa.select(sa.func.count()).select_from(model)
                    .where(model.case_id == case_id))


# -- export ----------------------------------------------------------------------------------

def test_the_export_holds_every_kind_of_data_and_is_audited(s, full):
    data = subject_rights.export_case(s, full.learn, full.reference)
    s.commit()
    case = data["case"]
    assert case["child"]["name"] == CHILD and case["child"]["id_number"] == ID_NUMBER
    assert case["note"] == NOTES["report"] and case["address"]["latitude"] == 16.7
    assert case["address"]["subdistrict"]["code"] == f.NAM_PHONG
    assert data["guardian"] == {"name": "บัวพันธ์ ใจดี", "phone": "0812345678",
                                "relation": "mother"}
    assert [a["line_user_id"] for a in data["linked_line_accounts"]] == [full.parent_line_id]
    assert data["reporter"]["line_user_id"] == full.volunteer_line_id
    assert data["consents"][0]["purposes"] == ["share_with_agencies", "photo",
                                               "follow_up_contact"]
    assert (data["consents"][0]["withdrawn_by"], data["consents"][0]["withdrawal_channel"]) == (
        None, None)
    assert data["consents"][0]["recorded_at"] is not None
    # the words the guardian heard, of the version recorded with the consent, in Thai
    assert data["consents"][0]["statement_version"] == cases.CONSENT_STATEMENT_VERSION
    assert data["consents"][0]["statement"].startswith("(อสม. อ่านให้ผู้ปกครองฟังก่อนนะคะ)")
    assert "รายละเอียด: ชื่อ อายุ ที่อยู่" in data["consents"][0]["statement"]
    kinds = [e["kind"] for e in data["timeline"]]
    for kind in ("created", "consent", "link_code", "guardian_linked", "status", "service",
                 "confirmation", "visit", "appointment", "note", "referred"):
        assert kind in kinds, kind
    assert {n["text"] for n in data["notes"]} >= {NOTES["stage"], NOTES["internal"],
                                                  NOTES["referral"]}
    assert data["referrals"][0]["to_agency"] == "SOCIAL"
    assert data["referrals"][0]["reason"] == NOTES["referral"]
    assert data["services"][0]["note"] == NOTES["service"]
    assert data["services"][0]["confirmed_by"] == full.parent_line_id
    assert data["visits"][0]["note"] == NOTES["visit"]
    assert data["appointments"][0]["place"] == NOTES["place"]
    assert data["photos"][0]["data_base64"] == PHOTO
    assert len(data["link_codes"]) == 1 and "code_hash" not in data["link_codes"][0]
    assert data["link_codes"][0]["used_by"] == full.parent_line_id
    assert data["line_messages"] and all(
        full.reference in json.dumps(m["payload"], ensure_ascii=False)
        for m in data["line_messages"])
    assert {a["action"] for a in data["audit"]} >= {"case.transition", "case.service",
                                                    "case.visit", "referral.create"}
    assert data["counts"]["photos"] == 1 and data["counts"]["timeline"] == len(kinds)
    # as JSON: ISO times, the photo in base64
    as_json = json.loads(json.dumps(subject_rights.as_json(data)))
    assert base64.b64decode(as_json["photos"][0]["data_base64"]) == PHOTO
    assert as_json["case"]["created_at"].endswith("+00:00")
    assert as_json["case"]["child"]["birth_date"] == case["child"]["birth_date"].isoformat()
    row = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "subject.export")).one()
    assert row.case_id == full.case.id and row.actor == full.learn.name
    assert row.detail["format"] == "json" and row.detail["counts"]["photos"] == 1


def test_the_export_is_refused_outside_the_scope_and_to_an_agency_not_in_charge(s, full):
    elsewhere = f.actor(f.officer(s, agency="LEARN", area="4018"))  # another district
    with pytest.raises(access.NotFound):
        subject_rights.export_case(s, elsewhere, full.reference)
    with pytest.raises(access.NotFound):
        subject_rights.export_case(s, full.learn, "KK-2500-99999")
    social = f.actor(f.officer(s, agency="SOCIAL", area="40"))  # only a referral pending
    assert access.get_case(s, social, full.reference)  # sees it, to answer the referral
    with pytest.raises(RightsError) as refused:
        subject_rights.export_case(s, social, full.reference)
    assert refused.value.code == "not_in_charge"
    assert subject_rights.export_case(s, supervisor(s), full.reference)["reference"] == \
        full.reference
    s.commit()
    actors = list(s.scalars(sa.select(AuditEntry.actor)
                            .where(AuditEntry.action == "subject.export")))
    assert len(actors) == 1  # only the export that happened


# -- asking and deciding ---------------------------------------------------------------------

def test_a_request_needs_a_reason_of_at_most_2000_characters(s, full):
    for reason, code in (("", "reason_required"), ("   ", "reason_required"),
                         ("x" * 5000, "reason_too_long"), ("a\x00b", "reason_invalid")):
        with pytest.raises(workflow.WorkflowError) as refused:
            subject_rights.request_erasure(s, full.learn, full.reference, reason)
        assert refused.value.code == code and refused.value.status == 422
    row = subject_rights.request_erasure(s, full.learn, full.reference,
                                         "แม่ขอให้ลบข้อมูล 🙏 โทรมาเมื่อเช้า")
    s.commit()
    assert row.status == "pending" and row.reason == "แม่ขอให้ลบข้อมูล 🙏 โทรมาเมื่อเช้า"
    with pytest.raises(RightsError) as twice:
        subject_rights.request_erasure(s, full.learn, full.reference, "again")
    assert twice.value.code == "erasure_pending"
    social = f.actor(f.officer(s, agency="SOCIAL", area="40"))
    with pytest.raises(RightsError) as not_ours:
        subject_rights.request_erasure(s, social, full.reference, "please")
    assert not_ours.value.code == "not_in_charge"
    audited = s.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "subject.erasure_request")).one()
    assert audited.detail["request_id"] == row.id and "reason" not in audited.detail


def test_only_another_supervisor_of_the_area_decides(s, full):
    boss = supervisor(s)
    row = subject_rights.request_erasure(s, boss, full.reference, "ผู้ปกครองขอ")
    s.commit()
    with pytest.raises(RightsError) as officer:
        subject_rights.approve(s, full.learn, row)
    assert (officer.value.code, officer.value.status) == ("not_supervisor", 403)
    with pytest.raises(RightsError) as own:
        subject_rights.approve(s, boss, row)
    assert (own.value.code, own.value.status) == ("own_request", 409)
    other_district = supervisor(s, area="4018")
    with pytest.raises(access.NotFound):
        subject_rights.get_request(s, other_district, row.id)
    assert subject_rights.pending_requests(s, other_district) == []
    with pytest.raises(RightsError):
        subject_rights.pending_requests(s, full.learn)
    province = supervisor(s, area="40", agency="LOCAL")
    assert [r.id for r in subject_rights.pending_requests(s, province)] == [row.id]
    s.rollback()
    assert s.get(ErasureRequest, row.id).status == "pending"
    assert s.get(Case, full.case.id).erased_at is None


def test_a_rejection_leaves_everything_as_it_was(s, full):
    row = subject_rights.request_erasure(s, full.learn, full.reference, "ผู้ปกครองขอ")
    s.commit()
    before = subject_rights.collect(s, s.get(Case, full.case.id))
    boss = supervisor(s)
    subject_rights.reject(s, boss, row, "ต้องใช้ข้อมูลส่งต่อทุน")
    s.commit()
    assert (row.status, row.decided_by, row.decision_reason) == (
        "rejected", boss.name, "ต้องใช้ข้อมูลส่งต่อทุน")
    after = subject_rights.collect(s, s.get(Case, full.case.id))
    for key in ("case", "guardian", "linked_line_accounts", "consents", "photos", "visits",
                "services", "referrals", "appointments", "link_codes", "notes"):
        assert after[key] == before[key], key
    assert after["case"]["erased_at"] is None
    with pytest.raises(RightsError) as again:
        subject_rights.approve(s, supervisor(s), row)
    assert again.value.code == "already_decided"
    assert s.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.action.like("subject.erasure_%")).order_by(AuditEntry.id)).all() == [
        "subject.erasure_request", "subject.erasure_reject"]


def test_an_approval_erases_personal_data_and_keeps_counts_and_the_audit_trail(s, full):
    case_id, reference = full.case.id, full.reference
    province = supervisor(s, area="40")
    counts_before = stats.case_stats(s, province)
    birth = full.case.birth_date
    audit_before = s.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    row = subject_rights.request_erasure(s, full.learn, reference, "ผู้ปกครองขอให้ลบ")
    s.commit()
    boss = supervisor(s)
    subject_rights.approve(s, boss, row)
    s.commit()
    s.expire_all()
    assert (row.status, row.decided_by) == ("done", boss.name)
    assert row.done_at is not None and row.decided_at is not None
    case = s.get(Case, case_id)
    assert case.erased_at is not None and case.pseudonymised_at is not None
    assert case.child_name == reference and case.child_name_norm == ""
    assert case.birth_date == birth.replace(month=1, day=1)
    assert (case.id_number, case.id_hash, case.guardian_name, case.guardian_phone,
            case.guardian_relation, case.village, case.village_no, case.note, case.latitude,
            case.longitude, case.location_address, case.due_at) == (None,) * 12
    # kept: what the province's figures count
    assert (case.stage, case.target_group, case.subdistrict_code, case.owner_agency_code) == (
        "referred", "out_of_school", f.NAM_PHONG, "LEARN")
    counts_after = stats.case_stats(s, province)
    assert (counts_after.total, counts_after.by_stage, counts_after.by_group,
            counts_after.by_subdistrict) == (counts_before.total, counts_before.by_stage,
                                             counts_before.by_group,
                                             counts_before.by_subdistrict)
    # photos, LINE links, link codes and messages about the child: gone
    for model in (CasePhoto, CaseGuardian, LinkCode):
        assert count(s, model, case_id) == 0, model
    assert s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                    .where(OutboxMessage.payload.contains(reference))) == 0
    # free text and the guardian's LINE id: gone from what stays (but the audit log, kept as
    # it was written: append-only)
    left = subject_rights.as_json(subject_rights.collect(s, case))
    assert full.parent_line_id in json.dumps(left.pop("audit"))
    left = json.dumps(left, ensure_ascii=False)
    for text in (CHILD, ID_NUMBER, "0812345678", "บัวพันธ์", full.parent_line_id,
                 *NOTES.values()):
        assert text not in left, text
    assert s.scalar(sa.select(Visit.note).where(Visit.case_id == case_id)) is None
    assert s.scalar(sa.select(CaseService.confirmed_by)
                    .where(CaseService.case_id == case_id)) is None
    assert s.scalar(sa.select(Referral.reason).where(Referral.case_id == case_id)) == ""
    assert s.scalar(sa.select(Appointment.place).where(Appointment.case_id == case_id)) is None
    assert s.scalar(sa.select(Consent.guardian_name).where(Consent.case_id == case_id)) is None
    kinds = list(s.scalars(sa.select(TimelineEntry.kind).where(TimelineEntry.case_id == case_id)
                           .order_by(TimelineEntry.at, TimelineEntry.id)))
    assert kinds[-2:] == ["erasure_requested", "erased"] and "referred" in kinds
    # the audit trail: every row kept, each step added, and the chain still verifies
    actions = list(s.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.action.like("subject.%")).order_by(AuditEntry.id)))
    assert actions == ["subject.erasure_request", "subject.erasure_approve", "subject.erase"]
    assert s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == audit_before + 3
    erased = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "subject.erase")).one()
    assert erased.detail["photos"] == 1 and erased.detail["line_links"] == 1
    assert erased.detail["link_codes"] == 1 and erased.detail["line_messages"] >= 1
    assert audit.seal(s) > 0
    assert audit.verify(s).ok
    # never changed again
    with pytest.raises(workflow.WorkflowError) as frozen:
        workflow.add_note(s, full.learn, s.get(Case, case_id), "อีกครั้ง")
    assert frozen.value.code == "case_erased"
    s.rollback()
    with pytest.raises(RightsError) as again:
        subject_rights.request_erasure(s, full.learn, reference, "again")
    assert again.value.code == "already_erased"
    assert subject_rights.erase_case(s, boss, s.get(Case, case_id)) is None  # once
    # what is left can still be exported for the guardian
    assert subject_rights.export_case(s, full.learn, reference)["case"]["erased_at"]


def test_two_supervisors_approving_at_the_same_moment_erase_once(app, s, full):
    row = subject_rights.request_erasure(s, full.learn, full.reference, "ผู้ปกครองขอ")
    first, second = supervisor(s), supervisor(s, area="40", agency="LOCAL")
    s.commit()
    request_id = row.id
    s.close()
    engine = sa.create_engine(normalise_database_url(app.config["SQLALCHEMY_DATABASE_URI"]))
    if engine.dialect.name == "sqlite":
        @sa.event.listens_for(engine, "connect")
        def _sqlite(dbapi_connection, _record):  # as the app: BEGIN IMMEDIATE, a busy wait
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

        @sa.event.listens_for(engine, "begin")
        def _begin(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def approve(name, actor):
        with Session(engine) as session:
            barrier.wait()
            try:
                subject_rights.approve(session, actor,
                                       subject_rights.get_request(session, actor, request_id))
                session.commit()
                results[name] = "done"
            except RightsError as exc:
                session.rollback()
                results[name] = exc.code

    threads = [threading.Thread(target=approve, args=(name, who))
               for name, who in (("first", first), ("second", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    engine.dispose()
    assert sorted(results.values()) == ["already_decided", "done"]
    assert s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                    .where(AuditEntry.action == "subject.erase")) == 1
    assert s.scalar(sa.select(sa.func.count()).select_from(TimelineEntry)
                    .where(TimelineEntry.kind == "erased")) == 1
    assert s.get(ErasureRequest, request_id).status == "done"


def test_a_decision_on_a_stale_request_is_refused_by_the_conditional_update(app, s, full):
    """The second supervisor's page still said "pending" when they approved: the database
    decides, once."""
    row = subject_rights.request_erasure(s, full.learn, full.reference, "ผู้ปกครองขอ")
    first, second = supervisor(s), supervisor(s, area="40", agency="LOCAL")
    s.commit()
    engine = sa.create_engine(normalise_database_url(app.config["SQLALCHEMY_DATABASE_URI"]))
    with Session(engine, expire_on_commit=False) as late:
        stale = subject_rights.get_request(late, second, row.id)
        assert stale.case.reference == full.reference  # loaded while pending
        late.commit()
        subject_rights.approve(s, first, subject_rights.get_request(s, first, row.id))
        s.commit()
        assert stale.status == "pending"
        with pytest.raises(RightsError) as refused:
            subject_rights.approve(late, second, stale)
        assert refused.value.code == "already_decided"
        assert stale.status == "done" and stale.decided_by == first.name
        late.rollback()
    engine.dispose()
    assert s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                    .where(AuditEntry.action == "subject.erase")) == 1
