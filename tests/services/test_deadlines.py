"""services.deadlines and the deadlines services.workflow keeps in `cases.due_at`, on each
database: the default deadline of every stage, an agency's own deadlines (set, recomputed on
open cases, cleared), who may set them, bad values, and the overdue filter for each stage."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from bot.extensions import db
from models import Agency, AuditEntry, Case
from services import deadlines, queue, workflow
from services.access import Actor
from services.deadlines import DeadlineError
from services.workflow import WorkflowError
from tests import factories as f

DAY = dt.timedelta(days=1)
T0 = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)  # 10:00 in Khon Kaen


@pytest.fixture
def s(app):
    with app.app_context():
        yield db.session
        db.session.rollback()
        db.session.remove()


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
    assert case.due_at == T0 + 11 * DAY + 30 * DAY
    assert overdue_refs(s, social, T0 + 41 * DAY + dt.timedelta(minutes=1)) == {case.reference}
    assert overdue_refs(s, social, T0 + 41 * DAY - dt.timedelta(minutes=1)) == set()


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
