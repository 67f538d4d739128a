"""services.guardians on each database: link codes (single use, expiring, rate-limited per
LINE user), up to two guardians, unlinking and relinking, and the parent's view of a case."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from models import CaseGuardian, TimelineEntry
from services import cases, guardians, workflow
from tests import factories as f


@pytest.fixture
def secret(app):
    return app.config["SECRET_KEY"]


@pytest.fixture
def case(s, secret):
    return f.report(s, secret, f.line_user(s))


def code_for(s, secret, case, **kw):
    code = cases.issue_link_code(s, secret, case, "test", **kw)
    s.commit()
    return code


def test_a_code_links_once_and_makes_the_user_a_parent(s, secret, case):
    parent = f.line_user(s, role=None)
    code = code_for(s, secret, case)
    result = guardians.redeem_link_code(s, secret, parent, code)
    s.commit()
    assert result.case.id == case.id and result.reason is None and not result.already
    assert parent.role == "parent"
    assert [c.id for c in guardians.linked_cases(s, parent)] == [case.id]
    other = f.line_user(s, role=None)
    assert guardians.redeem_link_code(s, secret, other, code).reason == "used"
    entries = s.scalars(sa.select(TimelineEntry).where(
        TimelineEntry.kind == "guardian_linked")).all()
    assert len(entries) == 1 and not entries[0].public


def test_an_expired_code_says_so(s, secret, case):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
    code = code_for(s, secret, case, now=old)
    parent = f.line_user(s, role=None)
    assert guardians.redeem_link_code(s, secret, parent, code).reason == "expired"
    assert parent.code_failures == 0


def test_five_wrong_codes_lock_the_user_for_an_hour(s, secret, case):
    parent = f.line_user(s, role=None)
    good = code_for(s, secret, case)
    wrong = "000000" if good != "000000" else "111111"
    reasons = [guardians.redeem_link_code(s, secret, parent, wrong).reason for _ in range(5)]
    s.commit()
    assert reasons == ["unknown"] * 4 + ["locked"]
    locked = guardians.redeem_link_code(s, secret, parent, good)
    assert locked.reason == "locked"
    assert dt.timedelta(minutes=59) < locked.retry_at - dt.datetime.now(dt.UTC) <= \
        dt.timedelta(hours=1)
    # an hour later the right code works
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1, minutes=1)
    assert guardians.redeem_link_code(s, secret, parent, good, now=later).case.id == case.id


def test_two_guardians_at_most_and_a_parent_with_two_children(s, secret, case):
    mother, grandmother, third = (f.line_user(s, role="parent") for _ in range(3))
    for who in (mother, grandmother):
        assert guardians.redeem_link_code(s, secret, who, code_for(s, secret, case)).case
    third_code = code_for(s, secret, case)
    assert guardians.redeem_link_code(s, secret, third, third_code).reason == "full"
    s.commit()
    sibling = f.report(s, secret, f.line_user(s))
    guardians.redeem_link_code(s, secret, mother, code_for(s, secret, sibling))
    s.commit()
    assert [c.id for c in guardians.linked_cases(s, mother)] == [case.id, sibling.id]
    # unlinking frees a place; the unused code still works then
    assert guardians.unlink(s, grandmother, case.id).id == case.id
    assert guardians.unlink(s, grandmother, case.id) is None
    s.commit()
    assert guardians.redeem_link_code(s, secret, third, third_code).case.id == case.id
    s.commit()
    active = s.scalar(sa.select(sa.func.count()).select_from(CaseGuardian).where(
        CaseGuardian.case_id == case.id, CaseGuardian.unlinked_at.is_(None)))
    assert active == 2


def test_relinking_after_unlinking(s, secret, case):
    parent = f.line_user(s, role="parent")
    guardians.redeem_link_code(s, secret, parent, code_for(s, secret, case))
    guardians.unlink(s, parent, case.id)
    s.commit()
    assert guardians.linked_cases(s, parent) == []
    again = guardians.redeem_link_code(s, secret, parent, code_for(s, secret, case))
    s.commit()
    assert again.case.id == case.id and not again.already
    assert guardians.linked_case(s, parent, case.id).id == case.id


def test_the_parent_view_shows_stage_office_last_update_and_next_appointment(s, secret, case):
    learn = f.actor(f.officer(s, agency="LEARN", area="4007"))
    workflow.transition(s, learn, case, "in_support")
    workflow.add_note(s, learn, case, "internal")  # newer, but not public
    at = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    workflow.set_appointment(s, learn, case, at, place="สกร.อำเภอน้ำพอง")
    s.commit()
    view = guardians.parent_view(s, case)
    assert (view.stage, view.agency_code, view.agency_name_th) == ("in_support", "LEARN", "สกร.")
    assert view.last_event == "appointment"
    assert view.next_appointment == at.replace(microsecond=at.microsecond)
    assert view.appointment_place == "สกร.อำเภอน้ำพอง"
    fields = set(vars(view))
    assert not fields & {"id_number", "reporter_id", "note", "guardian_phone"}
