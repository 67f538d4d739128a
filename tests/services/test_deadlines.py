"""services.deadlines and the deadlines services.workflow keeps in `cases.due_at`, on each
database: the default deadline of every stage, an agency's own deadlines (set, recomputed on
open cases, cleared), who may set them, bad values, and the overdue filter for each stage."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
import time_machine

from models import BANGKOK, Agency, AuditEntry, Case, LineUser, utcnow
from services import deadlines, queue, reminders, subject_rights, workflow
from services.access import Actor
from services.deadlines import DeadlineError
from services.workflow import WorkflowError
from tests import factories as f

DAY = dt.timedelta(days=1)
T0 = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)  # 10:00 in Khon Kaen



@pytest.fixture
def learn(s):
    return f.actor(f.officer(s, agency="LEARN", area="4007"))


@pytest.fixture
def social(s):
    return f.actor(f.officer(s, agency="SOCIAL", area="40"))


@pytest.fixture
def admin(s):
    return f.actor(f.officer(s, role="admin", agency="EDU", area="40"))


@pytest.fixture
def new_case(s, app):
    volunteer = f.line_user(s)

    def make(at: dt.datetime = T0) -> Case:
        return f.report(s, app.config["SECRET_KEY"], volunteer, now=at)

    return make


def overdue_refs(s, actor, now) -> set[str]:
    rows, _ = queue.list_cases(s, actor, queue.CaseFilters(overdue=True), now=now)
    return {c.reference for c in rows}


# -- the defaults of each stage --------------------------------------------------------------

def test_each_stage_has_its_default_deadline_and_is_overdue_just_after_it(s, new_case, learn,
                                                                          social):
    case = new_case()
    assert case.due_at == T0 + 7 * DAY  # verify within 7 days of the report
    assert overdue_refs(s, learn, T0 + 7 * DAY - dt.timedelta(minutes=1)) == set()
    assert overdue_refs(s, learn, T0 + 7 * DAY + dt.timedelta(minutes=1)) == {case.reference}

    workflow.transition(s, learn, case, "verifying", now=T0 + DAY)
    assert case.due_at == T0 + 7 * DAY  # still from the report

    referral = workflow.refer(s, learn, case, "SOCIAL", "needs welfare", now=T0 + 2 * DAY)
    assert case.due_at == T0 + 2 * DAY + 7 * DAY  # answer the referral within 7 days
    workflow.accept_referral(s, social, referral, now=T0 + 3 * DAY)
    assert case.due_at == T0 + 3 * DAY + 14 * DAY  # first action within 14 days
    assert overdue_refs(s, social, T0 + 17 * DAY + dt.timedelta(minutes=1)) == {case.reference}

    workflow.transition(s, social, case, "in_support", now=T0 + 4 * DAY)
    assert case.due_at == T0 + 4 * DAY + 30 * DAY  # a visit every 30 days
    workflow.record_visit(s, social, case, "found", now=T0 + 10 * DAY)
    assert case.due_at == T0 + 10 * DAY + 30 * DAY
    workflow.transition(s, social, case, "follow_up", now=T0 + 11 * DAY)
    assert case.due_at == T0 + 10 * DAY + 30 * DAY  # followed up: still 30 days from the visit
    assert overdue_refs(s, social, T0 + 40 * DAY + dt.timedelta(minutes=1)) == {case.reference}
    assert overdue_refs(s, social, T0 + 40 * DAY - dt.timedelta(minutes=1)) == set()


def test_a_closed_case_has_no_deadline_and_is_never_overdue(s, new_case, learn):
    case = new_case()
    workflow.transition(s, learn, case, "in_support", now=T0 + DAY)
    workflow.record_service(s, learn, case, "learn_enrolment", now=T0 + 2 * DAY)
    workflow.record_visit(s, learn, case, "back_in_school", now=T0 + 3 * DAY)
    workflow.transition(s, learn, case, "closed", now=T0 + 4 * DAY)
    assert case.due_at is None
    assert overdue_refs(s, learn, T0 + 400 * DAY) == set()


def test_reopening_gives_the_verify_deadline_from_the_reopening(s, new_case, learn):
    case = new_case()
    workflow.transition(s, learn, case, "in_support", now=T0 + DAY)
    workflow.record_service(s, learn, case, "learn_enrolment", now=T0 + 2 * DAY)
    workflow.record_visit(s, learn, case, "found", now=T0 + 3 * DAY)
    workflow.transition(s, learn, case, "closed", now=T0 + 4 * DAY)
    workflow.reopen(s, learn, case, "moved back", now=T0 + 40 * DAY)
    assert case.due_at == T0 + 47 * DAY
    assert workflow.due_after(case, s, T0 + 41 * DAY) == T0 + 47 * DAY  # derived the same way


# -- an agency's own deadlines ---------------------------------------------------------------

def test_an_agencys_own_deadlines_apply_to_new_cases_and_recompute_open_ones(s, new_case,
                                                                             learn, admin):
    waiting = new_case()
    helped = new_case()
    workflow.transition(s, learn, helped, "in_support", now=T0 + DAY)
    s.commit()
    touched = {c.id: c.updated_at for c in (waiting, helped)}

    result, changed = deadlines.set_deadlines(s, admin, "LEARN", {"verify": 3, "visit": 14})
    s.commit()
    assert (result.verify, result.visit, result.referral, result.first_action) == (3, 14, 7, 14)
    assert set(result.own) == {"verify", "visit"}
    assert changed == 2
    s.refresh(waiting)
    s.refresh(helped)
    assert waiting.due_at == T0 + 3 * DAY
    assert helped.due_at == T0 + DAY + 14 * DAY
    # a recomputation is not work on the case: "untouched for 30 days" stays true
    assert {c.id: c.updated_at for c in (waiting, helped)} == touched

    later = new_case(T0 + 5 * DAY)
    assert later.due_at == T0 + 8 * DAY
    audit = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "agency.deadlines")).one()
    assert audit.detail["after"]["verify"] == 3 and audit.detail["cases_changed"] == 2

    # back to the province's default
    result, changed = deadlines.set_deadlines(s, admin, "LEARN", {"verify": None})
    s.commit()
    assert result.verify == 7 and result.own == ("visit",)
    s.refresh(waiting)
    assert waiting.due_at == T0 + 7 * DAY


def test_the_receiving_agencys_referral_deadline_applies(s, new_case, learn, admin):
    deadlines.set_deadlines(s, admin, "SOCIAL", {"referral": 2})
    case = new_case()
    workflow.refer(s, learn, case, "SOCIAL", "welfare", now=T0 + DAY)
    assert case.due_at == T0 + 3 * DAY
    deadlines.set_deadlines(s, admin, "SOCIAL", {"referral": 5})
    s.refresh(case)
    assert case.due_at == T0 + 6 * DAY  # the pending referral's deadline moved with it


def test_a_later_deadline_ends_an_escalation(s, new_case, admin):
    case = new_case()
    case.escalation = 1
    s.commit()
    deadlines.set_deadlines(s, admin, "LEARN", {"verify": 365}, now=T0 + 10 * DAY)
    s.refresh(case)
    assert case.escalation == 0


@pytest.mark.parametrize("changes, code", [
    ({"verify": 0}, "days_out_of_range"),
    ({"verify": 366}, "days_out_of_range"),
    ({"verify": -3}, "days_out_of_range"),
    ({"verify": "7"}, "days_out_of_range"),
    ({"verify": True}, "days_out_of_range"),
    ({"verify": 2.5}, "days_out_of_range"),
    ({"sleep": 3}, "unknown_deadline"),
])
def test_bad_deadlines_are_refused_and_change_nothing(s, admin, changes, code):
    with pytest.raises(DeadlineError) as info:
        deadlines.set_deadlines(s, admin, "LEARN", changes)
    assert info.value.code == code
    s.rollback()
    assert s.get(Agency, "LEARN").verify_days is None


def test_only_an_administrator_sets_deadlines(s, learn):
    supervisor = f.actor(f.officer(s, role="supervisor", agency="LEARN", area="40"))
    for who in (learn, supervisor, Actor(kind="volunteer", name="U1")):
        with pytest.raises(WorkflowError) as info:
            deadlines.set_deadlines(s, who, "LEARN", {"verify": 3})
        assert info.value.status == 403
    admin = f.actor(f.officer(s, role="admin", agency="EDU", area="40"))
    with pytest.raises(WorkflowError) as info:
        deadlines.set_deadlines(s, admin, "NOPE", {"verify": 3})
    assert info.value.status == 404


# -- the first action after a referral's acceptance ----------------------------------------

def _act(s, actor, case, action: str, at: dt.datetime) -> None:
    if action == "service":
        workflow.record_service(s, actor, case, "welfare_grant", now=at)
    elif action == "appointment":
        workflow.set_appointment(s, actor, case, at + 3 * DAY, place="พมจ.", now=at)
    elif action == "visit":
        workflow.record_visit(s, actor, case, "found", now=at)
    else:
        workflow.transition(s, actor, case, "in_support", now=at)


@pytest.mark.parametrize("action", ["service", "appointment", "visit", "stage"])
def test_the_accepting_agencys_first_action_meets_the_first_action_deadline(
        s, new_case, learn, social, action):
    """Accepted on day 2 (first action due on day 16); the new owner acts on day 5: the case
    is never overdue for it, nor escalated, and the next deadline is the follow-up's (a
    visit within 30 days of that action) — derived again from history the same way."""
    case = new_case()
    referral = workflow.refer(s, learn, case, "SOCIAL", "needs welfare", now=T0 + DAY)
    workflow.accept_referral(s, social, referral, now=T0 + 2 * DAY)
    assert case.due_at == T0 + 16 * DAY
    _act(s, social, case, action, T0 + 5 * DAY)
    s.commit()
    assert case.due_at == T0 + 35 * DAY
    assert overdue_refs(s, social, T0 + 25 * DAY) == set()  # past day 16: met, not overdue
    assert workflow.due_after(case, s, T0 + 25 * DAY) == T0 + 35 * DAY
    assert reminders.escalate(s, T0 + 26 * DAY) == {"district": 0, "province": 0}


def test_only_the_accepting_agency_acting_after_acceptance_meets_it(s, new_case, learn,
                                                                    social, admin):
    """What came before the acceptance (the referring agency's service), a volunteer's visit,
    or a note does not meet the new owner's first-action deadline; it escalates on day 24."""
    case = new_case()
    workflow.transition(s, learn, case, "verifying", now=T0 + DAY)
    workflow.record_service(s, learn, case, "learn_enrolment", now=T0 + DAY)
    referral = workflow.refer(s, learn, case, "SOCIAL", "needs welfare", now=T0 + 2 * DAY)
    workflow.accept_referral(s, social, referral, now=T0 + 3 * DAY)
    volunteer = s.get(LineUser, case.reporter_id)
    workflow.record_visit(s, Actor(kind="volunteer", name=volunteer.line_user_id,
                                   line_user_id=volunteer.id), case, "found", now=T0 + 4 * DAY)
    workflow.add_note(s, social, case, "โทรหาแม่แล้ว", now=T0 + 5 * DAY)
    s.commit()
    assert case.due_at == T0 + 17 * DAY
    assert overdue_refs(s, social, T0 + 18 * DAY) == {case.reference}
    assert reminders.escalate(s, T0 + 25 * DAY) == {"district": 1, "province": 0}
    s.commit()
    # the agency acts at last (day 26): the escalation ends, the deadline is the follow-up's
    workflow.record_service(s, social, case, "welfare_grant", now=T0 + 26 * DAY)
    s.commit()
    assert (case.due_at, case.escalation) == (T0 + 56 * DAY, 0)
    # an agency's new first-action days are recomputed from history: the met deadline stays
    deadlines.set_deadlines(s, admin, "SOCIAL", {"first_action": 3}, now=T0 + 27 * DAY)
    s.commit()
    s.refresh(case)
    assert case.due_at == T0 + 56 * DAY


def test_a_second_referral_needs_its_own_first_action(s, new_case, learn, social, admin):
    """A case accepted, acted on, then referred on to a third agency: that agency's first
    action counts from its own acceptance; the earlier agency's actions do not meet it."""
    case = new_case()
    first = workflow.refer(s, learn, case, "SOCIAL", "welfare", now=T0 + DAY)
    workflow.accept_referral(s, social, first, now=T0 + 2 * DAY)
    workflow.record_service(s, social, case, "welfare_grant", now=T0 + 3 * DAY)
    health = f.actor(f.officer(s, agency="HEALTH", area="4007"))
    second = workflow.refer(s, social, case, "HEALTH", "health check", now=T0 + 4 * DAY)
    workflow.accept_referral(s, health, second, now=T0 + 5 * DAY)
    assert case.due_at == T0 + 19 * DAY
    workflow.set_appointment(s, health, case, T0 + 9 * DAY, now=T0 + 6 * DAY)
    assert case.due_at == T0 + 36 * DAY


# -- the visit deadline counts from the visit's date --------------------------------------

def test_the_visit_deadline_counts_from_the_latest_visit_date_not_its_entry(s, new_case,
                                                                            learn):
    case = new_case()
    workflow.transition(s, learn, case, "in_support", now=T0 + DAY)
    workflow.record_visit(s, learn, case, "found", now=T0 + 20 * DAY)
    assert case.due_at == T0 + 50 * DAY
    # an earlier visit entered late does not push the next one out
    earlier = (T0 + 10 * DAY).astimezone(BANGKOK).date()
    workflow.record_visit(s, learn, case, "found", visited_on=earlier, now=T0 + 25 * DAY)
    assert case.due_at == T0 + 50 * DAY


def test_a_back_dated_visit_counts_from_the_end_of_its_day(s, new_case, learn):
    """Visited on 6 Dec, entered on 26 Dec: the next visit is due by the end of 5 Jan
    (30 days after the visit's day), not 30 days after the typing."""
    case = new_case()
    workflow.transition(s, learn, case, "in_support", now=T0 + DAY)
    workflow.record_visit(s, learn, case, "not_found", visited_on=dt.date(2026, 12, 6),
                          now=T0 + 25 * DAY)
    due = case.due_at.astimezone(BANGKOK)
    assert (due.date(), due.hour, due.minute) == (dt.date(2027, 1, 5), 23, 59)
    assert workflow.due_after(case, s, T0 + 26 * DAY) == case.due_at


def test_moving_between_helped_and_followed_up_keeps_the_visit_clock(s, new_case, learn):
    """in_support -> follow_up (and back) is still a child to visit: the 30 days run from the
    last visit; only entering the visit stages (from checking or a referral) starts them."""
    case = new_case()
    workflow.transition(s, learn, case, "in_support", now=T0 + DAY)
    assert case.due_at == T0 + 31 * DAY  # entered the visit stages: 30 days from then
    workflow.record_visit(s, learn, case, "found", now=T0 + 10 * DAY)
    workflow.transition(s, learn, case, "follow_up", now=T0 + 35 * DAY)
    assert case.due_at == T0 + 40 * DAY  # the visit of day 10 still counts: due on day 40
    workflow.transition(s, learn, case, "in_support", now=T0 + 38 * DAY)
    assert case.due_at == T0 + 40 * DAY
    # referred, declined, back to in_support: the clock starts again at the return
    referral = workflow.refer(s, learn, case, "SOCIAL", "welfare", now=T0 + 39 * DAY)
    social = f.actor(f.officer(s, agency="SOCIAL", area="40"))
    workflow.decline_referral(s, social, referral, "not ours", now=T0 + 41 * DAY)
    assert case.stage == "in_support" and case.due_at == T0 + 71 * DAY


def test_an_erased_case_gets_no_deadline_back_from_a_recomputation(s, new_case, learn, admin):
    case = new_case()
    workflow.transition(s, learn, case, "in_support", now=T0 + DAY)
    subject_rights.erase_case(s, admin, case, now=T0 + 2 * DAY)
    s.commit()
    assert case.due_at is None
    deadlines.set_deadlines(s, admin, "LEARN", {"visit": 10}, now=T0 + 3 * DAY)
    s.commit()
    s.refresh(case)
    assert case.due_at is None
    assert workflow.due_after(case, s, T0 + 3 * DAY) is None


# -- the same rules on the clock itself (time-machine) ----------------------------------------

def test_each_stages_deadline_on_the_moving_clock(s, app, learn, social):
    """No `now` passed anywhere: the services read the clock, which time-machine moves; each
    stage's deadline makes the case overdue just after it, and acting ends it."""

    def overdue() -> bool:
        s.refresh(case)
        listed, _ = queue.list_cases(s, social if case.owner_agency_code == "SOCIAL" else learn,
                                     queue.CaseFilters(overdue=True))
        assert (case.reference in {c.reference for c in listed}) == workflow.is_overdue(case)
        return workflow.is_overdue(case)

    minute = dt.timedelta(minutes=1)
    with time_machine.travel(T0, tick=False) as clock:
        case = f.report(s, app.config["SECRET_KEY"], f.line_user(s))
        clock.move_to(T0 + 7 * DAY - minute)
        assert not overdue()
        clock.move_to(T0 + 7 * DAY + minute)
        assert overdue()  # verify: 7 days from the report
        workflow.transition(s, learn, case, "verifying")
        assert overdue()  # checking started, but the 7 days still run from the report
        referral = workflow.refer(s, learn, case, "SOCIAL", "welfare")
        s.commit()
        clock.move_to(T0 + 14 * DAY + 2 * minute)
        assert overdue()  # the referral: 7 days to answer
        workflow.accept_referral(s, social, referral)
        s.commit()
        clock.move_to(T0 + 28 * DAY + 3 * minute)
        assert overdue()  # the first action: 14 days from the acceptance
        clock.move_to(T0 + 36 * DAY)
        assert reminders.escalate(s, utcnow()) == {"district": 1, "province": 0}
        s.commit()  # (as the scheduler's run does: the case is read again after it)
        workflow.record_service(s, social, case, "welfare_grant")
        s.commit()
        assert not overdue() and case.escalation == 0  # acted: met, de-escalated
        workflow.transition(s, social, case, "in_support")
        s.commit()
        clock.move_to(T0 + 66 * DAY + minute)
        assert overdue()  # the visit: 30 days from entering the visit stages
        workflow.record_visit(s, social, case, "found")
        workflow.transition(s, social, case, "follow_up")
        s.commit()
        clock.move_to(T0 + 96 * DAY)
        assert not overdue()
        clock.move_to(T0 + 96 * DAY + 2 * minute)
        assert overdue()  # followed up: 30 days from the visit, not from the stage change
        workflow.transition(s, social, case, "closed")
        s.commit()
        clock.move_to(T0 + 400 * DAY)
        assert not overdue() and case.due_at is None
