"""What the queue does to stay fast on a province's cases (handlers/console/listing.py):
the deadline orders read the cases with a deadline, then those without one, and page across
the seam; chip counts stop at the cap and say "more than"; an officer's scope through a
pending referral is the same set either way it is written."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from handlers.console import listing
from models import Case
from services import queue, workflow
from services.access import scoped_cases
from tests import factories as f

REF = re.compile(r'href="/console/cases/(KK-\d{4}-\d{5})"')
NEXT = re.compile(r'href="([^"]+)" rel="next"')


def walk(console, url: str) -> list[str]:
    """Every reference the queue shows from `url`, following "next page" to the end."""
    seen = []
    while url:
        response = console.get(url)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        seen += REF.findall(page)
        found = NEXT.search(page)
        url = found.group(1).replace("&amp;", "&") if found else None
    return seen


@pytest.mark.parametrize("page_size", [1, 2, 3])
@pytest.mark.parametrize("sort", ["due_soon", "due_late"])
def test_deadline_orders_page_across_the_cases_without_a_deadline(
        app, console, session, volunteer, monkeypatch, sort, page_size):
    monkeypatch.setattr("handlers.console.pages.PAGE_SIZE", page_size)
    secret = app.config["SECRET_KEY"]
    made = [f.report(session, secret, volunteer) for _ in range(7)]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    dues = [None, now + dt.timedelta(days=2), None, now - dt.timedelta(days=1), None,
            now + dt.timedelta(days=2), None]
    for case, due in zip(made, dues, strict=True):
        session.execute(sa.update(Case).where(Case.id == case.id).values(due_at=due))
    session.commit()

    seen = walk(console, f"/console/cases?sort={sort}")

    dated = [(due, case.id, case.reference) for case, due in zip(made, dues, strict=True)
             if due is not None]
    undated = [(case.id, case.reference) for case, due in zip(made, dues, strict=True)
               if due is None]
    soon = sort == "due_soon"
    expected = [ref for _due, _id, ref in sorted(dated, reverse=not soon)] + \
        [ref for _id, ref in sorted(undated, reverse=not soon)]
    assert seen == expected  # every case once, dated first, then the undated by id


def test_a_deadline_cursor_inside_the_undated_cases_goes_on_from_there(
        app, session, volunteer, learn_officer):
    secret = app.config["SECRET_KEY"]
    made = [f.report(session, secret, volunteer) for _ in range(4)]
    session.execute(sa.update(Case).where(Case.id.in_([c.id for c in made]))
                    .values(due_at=None))
    session.commit()
    who = f.actor(learn_officer)
    now = dt.datetime.now(dt.UTC)
    first, cursor = listing.page(session, who, queue.CaseFilters(), "due_late", None, 3, now)
    rest, last = listing.page(session, who, queue.CaseFilters(), "due_late", cursor, 3, now)
    assert [c.id for c in first] == sorted((c.id for c in made), reverse=True)[:3]
    assert [c.id for c in rest] == [min(c.id for c in made)] and last is None


def test_chip_counts_stop_at_the_cap_and_say_more_than(
        app, console, session, volunteer, monkeypatch):
    secret = app.config["SECRET_KEY"]
    made = [f.report(session, secret, volunteer) for _ in range(4)]
    session.execute(sa.update(Case).where(Case.id.in_([c.id for c in made[:3]]))
                    .values(due_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1)))
    session.commit()

    page = console.get("/console/cases").get_data(as_text=True)
    assert re.search(r"ทั้งหมด <b>4</b>", page) and re.search(r"เลยกำหนด <b>3</b>", page)
    assert "มากกว่า" not in page  # below the cap: exact, and no note

    monkeypatch.setattr(listing, "COUNT_CAP", 2)
    page = console.get("/console/cases").get_data(as_text=True)
    assert re.search(r"รับเรื่อง <b>มากกว่า 2</b>", page)
    assert re.search(r"ทั้งหมด <b>มากกว่า 2</b>", page)
    assert re.search(r"เลยกำหนด <b>มากกว่า 2</b>", page)
    assert "ตัวเลขที่เกิน 2 เรื่อง" in page  # the note says why
    assert len(REF.findall(page)) == 4  # the list itself is not capped

    monkeypatch.setattr(listing, "COUNT_CAP", 3)
    page = console.get("/console/cases").get_data(as_text=True)
    assert re.search(r"เลยกำหนด <b>3</b>", page)  # exactly the cap is still exact
    assert re.search(r"รับเรื่อง <b>มากกว่า 3</b>", page)


def test_chip_counts_in_one_statement_match_plain_counts(app, session, volunteer,
                                                         learn_officer):
    secret = app.config["SECRET_KEY"]
    made = [f.report(session, secret, volunteer) for _ in range(5)]
    made.append(f.report(session, secret, volunteer, subdistrict=f.WANG_CHAI))
    learn = f.actor(learn_officer)
    workflow.transition(session, learn, made[0], "verifying")
    workflow.transition(session, learn, made[1], "in_support")
    session.execute(sa.update(Case).where(Case.id == made[2].id).values(
        due_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=3)))
    session.commit()
    now = dt.datetime.now(dt.UTC)
    for filters in (queue.CaseFilters(), queue.CaseFilters(stage="verifying"),
                    queue.CaseFilters(overdue=True), queue.CaseFilters(subdistrict=f.WANG_CHAI),
                    queue.CaseFilters(q="no such name")):
        counts = listing.chip_counts(session, learn, filters, now)
        cases = list(session.scalars(queue._filtered(
            scoped_cases(learn), learn, queue.CaseFilters(**{
                **filters.as_detail(), "stage": None}), now)))
        by_stage = {}
        for case in cases:
            by_stage[case.stage] = by_stage.get(case.stage, 0) + 1
        assert {k: v.value for k, v in counts["stages"].items()} == by_stage
        assert counts["all"] == listing.Count(len(cases))
        overdue = [c for c in cases if workflow.is_overdue(c, now)
                   and (filters.stage is None or c.stage == filters.stage)]
        assert counts["overdue"] == listing.Count(len(overdue))
        assert not counts["capped"]


def test_a_referral_brings_a_case_into_the_scope_and_the_counts(app, session, volunteer):
    secret = app.config["SECRET_KEY"]
    case = f.report(session, secret, volunteer, group="early_childhood")  # LOCAL's
    local = f.officer(session, agency="LOCAL", area=f.NAM_PHONG, username="local.np")
    learn = f.officer(session, agency="LEARN", area="4007", username="learn.scale")
    session.commit()
    now = dt.datetime.now(dt.UTC)
    who = f.actor(learn)
    assert listing.page(session, who, queue.CaseFilters(), "newest", None, 10, now)[0] == []
    workflow.refer(session, f.actor(local), case, "LEARN", "school place")
    session.commit()
    shown, _cursor = listing.page(session, who, queue.CaseFilters(), "newest", None, 10, now)
    assert [c.id for c in shown] == [case.id]
    counts = listing.chip_counts(session, who, queue.CaseFilters(), now)
    assert counts["referred_to_us"] == listing.Count(1)
    assert counts["stages"] == {"referred": listing.Count(1)}
    # the other way round: "not referred to us" leaves it out
    assert list(session.scalars(queue._filtered(
        scoped_cases(who), who, queue.CaseFilters(referred_to_us=False), now))) == []
