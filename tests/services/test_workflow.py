"""services.workflow and services.access on each database: every transition rule (allowed and
refused), closing evidence, reopening, the referral handshake, services, appointments, visits,
notes, deadlines, the notifications queued with each change, and scoping."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from models import (
    AuditEntry,
    Case,
    CaseGuardian,
    OutboxMessage,
    Referral,
    TimelineEntry,
)
from services import access, workflow
from services.access import Actor, NotFound
from services.workflow import WorkflowError
from tests import factories as f


@pytest.fixture
def volunteer(s):
    return f.line_user(s)


@pytest.fixture
def learn(s):
    """An officer of the district learning-promotion office of น้ำพอง (4007)."""
    return f.actor(f.officer(s, agency="LEARN", area="4007"))


@pytest.fixture
def case(s, app, volunteer):
    """An out-of-school case in ตำบลน้ำพอง: owned by LEARN of district 4007."""
    return f.report(s, app.config["SECRET_KEY"], volunteer)


def notifications(s, kind: str | None = None) -> list[tuple[str, str, dict]]:
    rows = s.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    return [(r.recipient, r.kind, json.loads(r.payload)) for r in rows
            if r.kind != "messages" and (kind is None or r.kind == kind)]


def error(call) -> WorkflowError:
    with pytest.raises(WorkflowError) as info:
        call()
    return info.value


# -- the new case ----------------------------------------------------------------------------

def test_a_new_case_is_received_owned_by_the_routed_agency_and_due_in_seven_days(case):
    assert case.stage == "received"
    assert (case.owner_agency_code, case.owner_area_code) == ("LEARN", "4007")
    assert case.due_at == case.created_at + dt.timedelta(days=7)
    assert case.first_action_at is None


# -- transitions -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    ["verifying", "in_support", "follow_up", "in_support", "follow_up"],
    ["in_support"],
])
def test_allowed_transitions_each_leave_a_public_entry_an_audit_row_and_a_volunteer_update(
        s, case, learn, volunteer, path):
    for stage in path:
        workflow.transition(s, learn, case, stage, note="โทรคุยกับแม่แล้ว")
        s.commit()
        assert case.stage == stage
    entries = s.scalars(sa.select(TimelineEntry).where(
        TimelineEntry.case_id == case.id, TimelineEntry.kind.in_(("verified", "status")))
        .order_by(TimelineEntry.id)).all()
    assert [e.detail["to"] for e in entries] == path
    assert all(e.public and e.actor == learn.name for e in entries)
    notes = s.scalars(sa.select(TimelineEntry).where(TimelineEntry.case_id == case.id,
                                                     TimelineEntry.kind == "note")).all()
    assert len(notes) == len(path) and not any(n.public for n in notes)
    audits = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case.transition")
                      .order_by(AuditEntry.id)).all()
    assert [(a.actor, a.case_id, a.detail["to"]) for a in audits] == [
        (learn.name, case.id, stage) for stage in path]
    updates = notifications(s, "case.volunteer_update")
    assert [(r, p["stage"], p["reference"]) for r, _k, p in updates] == [
        (volunteer.line_user_id, stage, case.reference) for stage in path]
    assert case.first_action_at is not None


@pytest.mark.parametrize(("start", "to", "code", "status"), [
    ("received", "follow_up", "transition_not_allowed", 409),
    ("received", "closed", "transition_not_allowed", 409),
    ("received", "received", "same_stage", 409),
    ("verifying", "received", "transition_not_allowed", 409),
    ("verifying", "follow_up", "transition_not_allowed", 409),
    ("in_support", "verifying", "transition_not_allowed", 409),
    ("received", "referred", "use_referral", 422),
    ("received", "finished", "unknown_stage", 422),
    ("received", "", "unknown_stage", 422),
])
def test_refused_transitions_change_nothing(s, case, learn, start, to, code, status):
    for stage in {"received": [], "verifying": ["verifying"],
                  "in_support": ["in_support"]}[start]:
        workflow.transition(s, learn, case, stage)
    s.commit()
    before = len(notifications(s))
    err = error(lambda: workflow.transition(s, learn, case, to))
    assert (err.code, err.status) == (code, status)
    s.rollback()
    assert case.stage == start
    assert len(notifications(s)) == before


def test_an_uncommitted_change_queues_nothing(s, case, learn):
    workflow.transition(s, learn, case, "verifying")
    s.rollback()
    assert s.get(Case, case.id).stage == "received"
    assert notifications(s) == []
    assert s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


# -- closing and reopening -------------------------------------------------------------------

def test_closing_needs_a_service_and_then_a_confirming_visit(s, case, learn):
    workflow.transition(s, learn, case, "in_support")
    s.commit()
    assert error(lambda: workflow.transition(s, learn, case, "closed")).code == "evidence_required"
    s.rollback()
    today = workflow.local_today(dt.datetime.now(dt.UTC))
    workflow.record_service(s, learn, case, "learn_enrolment", provided_on=today)
    s.commit()
    assert error(lambda: workflow.transition(s, learn, case, "closed")).code == "evidence_required"
    s.rollback()
    workflow.record_visit(s, learn, case, "not_found", visited_on=today)
    s.commit()
    assert workflow.closing_evidence(s, case) == {"service": True, "visit": False,
                                                  "parent_confirmation": False}
    assert error(lambda: workflow.transition(s, learn, case, "closed")).code == "evidence_required"
    s.rollback()
    workflow.record_visit(s, learn, case, "back_in_school", visited_on=today)
    workflow.transition(s, learn, case, "follow_up")
    workflow.transition(s, learn, case, "closed")
    s.commit()
    assert case.stage == "closed" and case.closed_at is not None and case.due_at is None


def test_a_visit_before_the_service_does_not_confirm_it(s, app, volunteer, learn):
    now = dt.datetime.now(dt.UTC)
    case = f.report(s, app.config["SECRET_KEY"], volunteer, now=now - dt.timedelta(days=10))
    workflow.transition(s, learn, case, "in_support")
    workflow.record_visit(s, learn, case, "found", visited_on=(now - dt.timedelta(days=5)).date())
    workflow.record_service(s, learn, case, "scholarship", provided_on=now.date())
    s.commit()
    assert workflow.closing_evidence(s, case) == {"service": True, "visit": False,
                                                  "parent_confirmation": False}
    assert error(lambda: workflow.transition(s, learn, case, "closed")).code == "evidence_required"


def test_the_parents_confirmation_is_enough_evidence_with_a_service(s, case, learn):
    workflow.transition(s, learn, case, "in_support")
    service = workflow.record_service(s, learn, case, "scholarship")
    parent = f.line_user(s, role="parent")
    s.add(CaseGuardian(case_id=case.id, line_user_id=parent.id))
    s.commit()
    who = Actor(kind="parent", name=parent.line_user_id, line_user_id=parent.id, via="line")
    assert workflow.confirm_service(s, who, case, service) is True
    assert workflow.confirm_service(s, who, case, service) is False  # once
    workflow.transition(s, learn, case, "closed")
    s.commit()
    assert case.stage == "closed"
    kinds = [e.kind for e in case.timeline]
    assert kinds.count("confirmation") == 1


def test_a_closed_case_moves_only_by_reopening_with_a_reason(s, case, learn):
    workflow.transition(s, learn, case, "in_support")
    workflow.record_service(s, learn, case, "scholarship")
    workflow.record_visit(s, learn, case, "found")
    workflow.transition(s, learn, case, "closed")
    s.commit()
    for stage in ("verifying", "in_support", "follow_up"):
        assert error(lambda st=stage: workflow.transition(s, learn, case, st)).code == "case_closed"
    assert error(lambda: workflow.record_service(s, learn, case, "other")).code == "case_closed"
    assert error(lambda: workflow.reopen(s, learn, case, "  ")).status == 422
    s.rollback()
    workflow.reopen(s, learn, case, "แม่แจ้งว่าน้องหยุดเรียนอีก")
    s.commit()
    assert case.stage == "verifying" and case.closed_at is None
    assert case.timeline[-2].kind == "reopened" and case.timeline[-2].public
    assert case.timeline[-1].kind == "note" and not case.timeline[-1].public
    assert error(lambda: workflow.reopen(s, learn, case, "again")).code == "not_closed"


# -- referrals -------------------------------------------------------------------------------

def test_the_referral_handshake_moves_ownership_only_on_acceptance(s, app, volunteer):
    young = f.report(s, app.config["SECRET_KEY"], volunteer, group="early_childhood")
    assert (young.owner_agency_code, young.owner_area_code) == ("LOCAL", "400701")
    local = f.actor(f.officer(s, agency="LOCAL", area="400701"))
    phc = f.actor(f.officer(s, agency="PHC", area="400701"))
    social = f.actor(f.officer(s, agency="SOCIAL", area="40"))
    workflow.transition(s, local, young, "verifying")
    referral = workflow.refer(s, local, young, "PHC", "ต้องตรวจพัฒนาการ")
    s.commit()
    assert young.stage == "referred" and young.owner_agency_code == "LOCAL"
    assert (referral.to_agency_code, referral.to_area_code) == ("PHC", "400701")
    # pending: visible to both agencies, not to a third
    assert access.get_case(s, local, young.reference).id == young.id
    assert access.get_case(s, phc, young.reference).id == young.id
    with pytest.raises(NotFound):
        access.get_case(s, social, young.reference)
    # the receiver may not change the case yet, only answer
    assert error(lambda: workflow.transition(s, phc, young, "in_support")).code == "not_owner"
    assert error(lambda: workflow.transition(s, local, young, "in_support")).code == \
        "referral_pending"
    assert error(lambda: workflow.refer(s, local, young, "SOCIAL", "x")).code == "referral_pending"
    assert error(lambda: workflow.accept_referral(s, local, referral)).code == "not_receiver"
    s.rollback()
    workflow.accept_referral(s, phc, referral)
    s.commit()
    assert referral.status == "accepted" and referral.decided_by == phc.name
    assert (young.owner_agency_code, young.owner_area_code) == ("PHC", "400701")
    assert error(lambda: workflow.accept_referral(s, phc, referral)).code == \
        "referral_not_pending"
    s.rollback()
    # the old owner no longer sees the case; the new one acts on it
    with pytest.raises(NotFound):
        access.get_case(s, local, young.reference)
    workflow.transition(s, phc, young, "in_support")
    s.commit()
    kinds = [e.kind for e in young.timeline]
    assert kinds[2:] == ["verified", "referred", "note", "accepted", "status"]
    assert young.due_at is not None


def test_a_declined_referral_returns_the_case_to_its_stage_and_owner(s, case, learn):
    workflow.transition(s, learn, case, "in_support")
    social = f.actor(f.officer(s, agency="SOCIAL", area="40"))
    referral = workflow.refer(s, learn, case, "SOCIAL", "ครอบครัวต้องการเงินช่วยเหลือ")
    s.commit()
    assert case.stage == "referred"
    assert error(lambda: workflow.decline_referral(s, social, referral, "")).status == 422
    s.rollback()
    workflow.decline_referral(s, social, referral, "ไม่อยู่ในเกณฑ์")
    s.commit()
    assert referral.status == "declined" and referral.decision_reason == "ไม่อยู่ในเกณฑ์"
    assert (case.stage, case.owner_agency_code) == ("in_support", "LEARN")
    declined = [e for e in case.timeline if e.kind == "declined"]
    assert len(declined) == 1 and not declined[0].public  # the reason stays internal
    assert error(lambda: workflow.decline_referral(s, social, referral, "x")).code == \
        "referral_not_pending"


@pytest.mark.parametrize(("agency", "code", "status"), [
    ("LEARN", "same_agency", 422), ("NOPE", "unknown_agency", 422), ("", "unknown_agency", 422),
])
def test_bad_referrals_are_refused(s, case, learn, agency, code, status):
    err = error(lambda: workflow.refer(s, learn, case, agency, "เหตุผล"))
    assert (err.code, err.status) == (code, status)
    s.rollback()
    assert s.scalar(sa.select(sa.func.count()).select_from(Referral)) == 0


def test_the_receiving_agencys_linked_officers_are_told_of_a_referral(s, case, learn):
    line = f.line_user(s, role="officer")
    f.officer(s, agency="SOCIAL", area="40", line=line)
    far = f.line_user(s, role="officer")
    f.officer(s, agency="SOCIAL", area="4018", line=far)  # another district: not told
    workflow.refer(s, learn, case, "SOCIAL", "ขอเงินช่วยเหลือ")
    s.commit()
    told = notifications(s, "referral.received")
    assert [(r, p["reference"], p["reason"]) for r, _k, p in told] == [
        (line.line_user_id, case.reference, "ขอเงินช่วยเหลือ")]


# -- services, appointments, visits, notes ---------------------------------------------------

def test_services_appointments_and_visits_validate_their_values(s, case, learn, volunteer):
    now = dt.datetime.now(dt.UTC)
    assert error(lambda: workflow.record_service(s, learn, case, "teleport")).status == 422
    assert error(lambda: workflow.record_service(
        s, learn, case, "scholarship", provided_on=now.date() + dt.timedelta(days=5))).code == \
        "date_in_future"
    assert error(lambda: workflow.set_appointment(
        s, learn, case, dt.datetime(2030, 1, 1, 9, 0))).code == "naive_time"
    assert error(lambda: workflow.set_appointment(
        s, learn, case, now - dt.timedelta(days=2))).code == "date_in_past"
    assert error(lambda: workflow.record_visit(s, learn, case, "abducted")).code == \
        "unknown_outcome"
    assert error(lambda: workflow.record_visit(
        s, learn, case, "found", visited_on=now.date() + dt.timedelta(days=9))).code == \
        "date_in_future"
    assert error(lambda: workflow.add_note(s, learn, case, "x" * 2001)).status == 422
    assert error(lambda: workflow.add_note(s, learn, case, " \n ")).status == 422
    s.rollback()
    assert s.scalar(sa.select(sa.func.count()).select_from(TimelineEntry)
                    .where(TimelineEntry.case_id == case.id)) == 2  # created, consent


def test_an_appointment_tells_linked_parents_and_the_volunteer(s, case, learn, volunteer):
    parent = f.line_user(s, role="parent")
    s.add(CaseGuardian(case_id=case.id, line_user_id=parent.id))
    s.commit()
    at = dt.datetime(2030, 3, 2, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    workflow.set_appointment(s, learn, case, at, place="สกร.อำเภอน้ำพอง")
    s.commit()
    told = {(r, k): p for r, k, p in notifications(s)}
    parent_update = told[(parent.line_user_id, "case.parent_update")]
    assert parent_update["event"] == "appointment"
    assert parent_update["at"] == "2030-03-02T02:30:00+00:00"
    assert parent_update["place"] == "สกร.อำเภอน้ำพอง"
    assert (volunteer.line_user_id, "case.volunteer_update") in told


def test_only_the_reporting_volunteer_may_record_a_visit_from_line(s, case, volunteer):
    me = Actor(kind="volunteer", name=volunteer.line_user_id, line_user_id=volunteer.id,
               via="line")
    other = f.line_user(s)
    stranger = Actor(kind="volunteer", name=other.line_user_id, line_user_id=other.id)
    assert error(lambda: workflow.record_visit(s, stranger, case, "found")).code == "not_owner"
    line = f.line_user(s, role="officer")
    f.officer(s, agency="LEARN", area="4007", line=line)
    workflow.record_visit(s, me, case, "found", note="น้องอยู่บ้านกับยาย")
    s.commit()
    visits = [e for e in case.timeline if e.kind == "visit"]
    assert len(visits) == 1 and visits[0].actor == volunteer.line_user_id
    told = notifications(s, "case.visit_recorded")
    assert [(r, p["outcome"]) for r, _k, p in told] == [(line.line_user_id, "found")]


def test_notes_are_internal_and_allowed_on_a_closed_case(s, case, learn):
    workflow.transition(s, learn, case, "in_support")
    workflow.record_service(s, learn, case, "scholarship")
    workflow.record_visit(s, learn, case, "found")
    workflow.transition(s, learn, case, "closed")
    entry = workflow.add_note(s, learn, case, "บันทึกภายใน")
    s.commit()
    assert entry.kind == "note" and not entry.public


# -- deadlines -------------------------------------------------------------------------------

def test_deadlines_follow_the_stage(s, case, learn):
    t0 = dt.datetime.now(dt.UTC)
    workflow.transition(s, learn, case, "in_support", now=t0)
    s.commit()
    assert abs(case.due_at - (t0 + dt.timedelta(days=30))) < dt.timedelta(seconds=2)
    assert not workflow.is_overdue(case, t0)
    assert workflow.is_overdue(case, t0 + dt.timedelta(days=31))
    later = t0 + dt.timedelta(days=20)
    # made that day in Khon Kaen (after 17:00 UTC its date is a day ahead of UTC's)
    workflow.record_visit(s, learn, case, "found", visited_on=workflow.local_today(later),
                          now=later)
    s.commit()
    assert case.due_at == later + dt.timedelta(days=30)
    social = f.actor(f.officer(s, agency="SOCIAL", area="40"))
    referral = workflow.refer(s, learn, case, "SOCIAL", "ขอทุน", now=later)
    s.commit()
    assert case.due_at == later + dt.timedelta(days=7)
    workflow.accept_referral(s, social, referral, now=later)
    s.commit()
    assert case.due_at == later + dt.timedelta(days=14)


# -- scope -----------------------------------------------------------------------------------

def test_scope_officers_see_their_agency_in_their_area_supervisors_the_whole_area(
        s, app, volunteer):
    secret = app.config["SECRET_KEY"]
    far_volunteer = f.line_user(s, subdistrict=f.CHONNABOT)
    mine = f.report(s, secret, volunteer)  # LEARN 4007
    young = f.report(s, secret, volunteer, group="early_childhood")  # LOCAL 400701
    far = f.report(s, secret, far_volunteer, subdistrict=f.CHONNABOT)  # LEARN 4018
    learn = f.actor(f.officer(s, agency="LEARN", area="4007"))
    supervisor = f.actor(f.officer(s, role="supervisor", agency="LEARN", area="4007"))
    admin = f.actor(f.officer(s, role="admin", agency="EEF", area="40"))
    local_other = f.actor(f.officer(s, agency="LOCAL", area=f.WANG_CHAI))

    def visible(who):
        return {c.reference for c in s.scalars(access.scoped_cases(who))}

    assert visible(learn) == {mine.reference}
    assert visible(supervisor) == {mine.reference, young.reference}
    assert visible(admin) == {mine.reference, young.reference, far.reference}
    assert visible(local_other) == set()  # LOCAL, but another subdistrict
    volunteer_actor = Actor(kind="volunteer", name=volunteer.line_user_id)
    assert visible(volunteer_actor) == set()
    for who, ref in ((learn, far.reference), (learn, young.reference),
                     (learn, "KK-2569-99999")):
        with pytest.raises(NotFound):
            access.get_case(s, who, ref)
    # a supervisor of the area may act on another agency's case there
    workflow.transition(s, supervisor, young, "verifying")
    s.commit()
    assert young.stage == "verifying"


# -- answers to the helpers' review ------------------------------------------------------------

def test_a_referral_answered_meanwhile_elsewhere_cannot_be_answered_again(s, case, learn):
    social = f.actor(f.officer(s, agency="SOCIAL", area="40"))
    referral = workflow.refer(s, learn, case, "SOCIAL", "ขอเงินช่วยเหลือ")
    s.commit()
    # another officer declines it in another transaction, after this one read it as pending
    s.execute(sa.update(Referral).where(Referral.id == referral.id)
              .values(status="declined", decided_by="someone")
              .execution_options(synchronize_session=False))
    s.commit()
    assert referral.status == "declined"
    set_committed_value(referral, "status", "pending")  # what this officer's screen read
    err = error(lambda: workflow.accept_referral(s, social, referral))
    assert err.code == "referral_not_pending"
    s.rollback()
    assert s.get(Case, case.id).owner_agency_code == "LEARN"
    assert [e.kind for e in s.get(Case, case.id).timeline].count("accepted") == 0


def test_only_the_receiving_agency_or_an_administrator_answers_a_referral(s, case, learn):
    referral = workflow.refer(s, learn, case, "SOCIAL", "ขอเงินช่วยเหลือ")
    s.commit()
    other_supervisor = f.actor(f.officer(s, role="supervisor", agency="HEALTH", area="40"))
    assert error(lambda: workflow.accept_referral(s, other_supervisor, referral)).code == \
        "not_receiver"
    s.rollback()
    admin = f.actor(f.officer(s, role="admin", agency="EEF", area="40"))
    workflow.accept_referral(s, admin, referral)
    s.commit()
    assert case.owner_agency_code == "SOCIAL"


def test_a_declined_referral_tells_the_volunteer_the_case_is_back(s, case, learn, volunteer):
    social = f.actor(f.officer(s, agency="SOCIAL", area="40"))
    workflow.transition(s, learn, case, "verifying")
    referral = workflow.refer(s, learn, case, "SOCIAL", "ขอทุน")
    workflow.decline_referral(s, social, referral, "ไม่อยู่ในเกณฑ์")
    s.commit()
    updates = notifications(s, "case.volunteer_update")
    assert [p["stage"] for _r, _k, p in updates] == ["verifying", "referred", "verifying"]
    assert all("ไม่อยู่ในเกณฑ์" not in json.dumps(p, ensure_ascii=False) for _r, _k, p in updates)


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800", "bell\x07"])
def test_control_characters_are_refused(s, case, learn, bad):
    err = error(lambda: workflow.add_note(s, learn, case, bad))
    assert (err.code, err.status) == ("text_invalid", 422)


def test_appointment_places_and_years_have_limits(s, case, learn):
    at = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert error(lambda: workflow.set_appointment(s, learn, case, at, place="x" * 301)).code \
        == "place_too_long"
    far = dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert error(lambda: workflow.set_appointment(s, learn, case, far)).code == \
        "date_out_of_range"


def test_a_service_recorded_early_in_the_morning_in_khon_kaen_is_dated_that_day(s, case, learn):
    workflow.transition(s, learn, case, "in_support")
    # 06:30 in Khon Kaen is still yesterday in UTC
    morning = dt.datetime.now(workflow.BANGKOK).replace(hour=6, minute=30) + dt.timedelta(days=1)
    service = workflow.record_service(s, learn, case, "scholarship", now=morning)
    assert service.provided_on == morning.date()
    assert morning.astimezone(dt.UTC).date() != morning.date()
