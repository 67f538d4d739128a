"""services.visits on each database: a volunteer's visitable cases (open, their own, not
self-reported, overdue first), photo consent (active, with the photo purpose), and recording a
visit through the workflow with the photo kept only under consent and never on a refusal."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from models import CasePhoto, Consent, TimelineEntry, Visit, utcnow
from services import subject_rights, visits
from services.access import Actor
from services.workflow import WorkflowError
from tests import factories as f

PHOTO = ("image/jpeg", b"\xff\xd8\xff visit photo")



@pytest.fixture
def volunteer(s):
    return f.line_user(s)


def as_volunteer(user) -> Actor:
    return Actor(kind="volunteer", name=user.line_user_id, line_user_id=user.id, via="line")


def report(s, app, reporter, **changes):
    return f.report(s, app.config["SECRET_KEY"], reporter, **changes)


def photos(s) -> int:
    return s.scalar(sa.select(sa.func.count()).select_from(CasePhoto))


def test_visitable_cases_are_open_own_and_visits_overdue_first(s, app, volunteer):
    """Cases whose deadline is a home visit come first, by that date (the overdue ones
    first); then the others, whose deadline is an officer's, newest report first."""
    now = utcnow()
    later = report(s, app, volunteer)
    oldest_overdue = report(s, app, volunteer)
    overdue = report(s, app, volunteer)
    no_deadline = report(s, app, volunteer)
    checking_late = report(s, app, volunteer)  # the officers' check is late, not a visit
    closed = report(s, app, volunteer)
    theirs = report(s, app, f.line_user(s))
    own_parent_case = report(s, app, volunteer)
    for case, stage, due in ((later, "in_support", 5), (oldest_overdue, "follow_up", -9),
                             (overdue, "in_support", -1), (theirs, "in_support", -30)):
        case.stage, case.due_at = stage, now + dt.timedelta(days=due)
    no_deadline.stage, no_deadline.due_at = "in_support", None
    checking_late.due_at = now - dt.timedelta(days=20)
    closed.stage, closed.due_at = "closed", None
    own_parent_case.self_reported = True
    s.commit()
    found = visits.visitable_cases(s, volunteer.id)
    assert [c.id for c in found] == [oldest_overdue.id, overdue.id, later.id, checking_late.id,
                                     no_deadline.id]
    assert [visits.is_overdue(c, now) for c in found] == [True, True, False, False, False]
    assert visits.visitable_cases(s, volunteer.id, limit=1) == [oldest_overdue]


def test_an_erased_case_is_not_visitable_though_still_open(s, app, volunteer):
    kept = report(s, app, volunteer)
    erased = report(s, app, volunteer)
    erased.stage, erased.due_at = "in_support", utcnow() - dt.timedelta(days=3)
    s.commit()
    supervisor = f.actor(f.officer(s, role="supervisor", agency="LEARN", area="4007"))
    subject_rights.erase_case(s, supervisor, erased)
    s.commit()
    assert erased.stage == "in_support" and erased.erased_at is not None
    assert [c.id for c in visits.visitable_cases(s, volunteer.id)] == [kept.id]
    with pytest.raises(WorkflowError) as refused:
        visits.record(s, as_volunteer(volunteer), erased, "found", photo=PHOTO)
    assert refused.value.code == "case_erased"


def test_photo_consent_needs_the_photo_purpose_and_no_withdrawal(s, app, volunteer):
    without = report(s, app, volunteer, purposes=("share_with_agencies", "follow_up_contact"))
    with_photo = report(s, app, volunteer)  # a yes to the statement covers photos
    old_without = report(s, app, volunteer, statement_version="2569-1")  # no photo attached
    assert not visits.photo_consented(s, without)
    assert not visits.photo_consented(s, old_without)
    assert visits.photo_consented(s, with_photo)
    s.execute(sa.update(Consent).where(Consent.case_id == with_photo.id)
              .values(withdrawn_at=utcnow()))
    assert not visits.photo_consented(s, with_photo)


def test_a_visit_with_consent_keeps_the_photo_and_links_it(s, app, volunteer):
    case = report(s, app, volunteer, photo=("image/png", b"\x89PNG"))
    before = photos(s)
    result = visits.record(s, as_volunteer(volunteer), case, "found", note=" ยายอยู่บ้าน\x07 ",
                           latitude=16.4, longitude=102.8, photo=PHOTO)
    s.commit()
    assert result.photo_kept and photos(s) == before + 1
    visit = s.get(Visit, result.visit.id)
    photo = s.get(CasePhoto, visit.photo_id)
    assert (photo.case_id, photo.content_type, photo.data, photo.size) == (
        case.id, "image/jpeg", PHOTO[1], len(PHOTO[1]))
    assert visit.note == "ยายอยู่บ้าน"  # a control character is dropped, not refused
    assert (visit.latitude, visit.longitude, visit.visitor_kind) == (16.4, 102.8, "volunteer")


def test_a_visit_without_photo_consent_drops_the_photo(s, app, volunteer):
    case = report(s, app, volunteer, purposes=("share_with_agencies",))
    result = visits.record(s, as_volunteer(volunteer), case, "moved", photo=PHOTO)
    s.commit()
    assert not result.photo_kept and result.visit.photo_id is None
    assert photos(s) == 0


def test_a_refused_visit_keeps_nothing_not_even_the_photo(s, app, volunteer):
    case = report(s, app, volunteer, photo=("image/png", b"\x89PNG"))
    before = photos(s)
    case.stage = "closed"
    with pytest.raises(WorkflowError) as refused:
        visits.record(s, as_volunteer(volunteer), case, "found", photo=PHOTO)
    assert refused.value.code == "case_closed"
    other = f.line_user(s)
    case.stage = "received"
    with pytest.raises(WorkflowError) as refused:
        visits.record(s, as_volunteer(other), case, "found", photo=PHOTO)
    assert refused.value.code == "not_owner"
    s.commit()
    assert photos(s) == before
    assert s.scalar(sa.select(sa.func.count()).select_from(Visit)) == 0
    assert s.scalar(sa.select(sa.func.count()).select_from(TimelineEntry)
                    .where(TimelineEntry.kind == "visit")) == 0


def test_the_next_visit_is_the_deadline_only_in_the_visit_stages(s, app, volunteer):
    now = utcnow()
    case = report(s, app, volunteer)
    case.due_at = now + dt.timedelta(days=5)
    assert visits.next_visit_due(case, now) is None  # received: an officer's deadline
    case.stage = "in_support"
    assert visits.next_visit_due(case, now) == case.due_at
    case.due_at = now - dt.timedelta(days=1)
    assert visits.next_visit_due(case, now) is None  # past: not "due by" a day gone


def test_clean_note_keeps_thai_emoji_and_newlines():
    assert visits.clean_note("  น้องสบายดี 😀\nยาย\x00ฝาก\x1b ") == "น้องสบายดี 😀\nยายฝาก"
    assert visits.clean_note(None) == ""
