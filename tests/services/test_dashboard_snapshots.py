"""The dashboard's stored figures (services.dashboard snapshots), on each database: a snapshot
is exactly the figures a supervisor of its area would get computed now; the refresh job stores
every province and district (and a supervisor's own area) and renews only the old ones; the
figures a supervisor is shown come from the snapshot, or are computed (and stored) when it is
missing or too old; an officer's are never stored; two refreshers of one area compute it once;
and the worker's scheduler renews them in a thread of its own."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.extensions import db
from bot.scheduler import Scheduler
from models import Area, DashboardSnapshot
from services import dashboard
from tests import factories as f
from tests.factories import CHONNABOT, NAM_PHONG
from tests.services.test_dashboard import NOW, actor, hand_made, make_case  # noqa: F401 (a fixture)

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def rows(session) -> dict[str, DashboardSnapshot]:
    session.expire_all()
    return {row.area_code: row for row in session.scalars(sa.select(DashboardSnapshot))}


def test_the_json_gives_back_the_same_figures(s, hand_made):  # noqa: F811
    for who, district in ((actor("supervisor", "40"), None), (actor("admin", "40"), "4007"),
                          (actor("supervisor", CHONNABOT), None)):
        computed = dashboard.figures(s, who, NOW, district)
        assert dashboard.from_json(dashboard.to_json(computed)) == computed


def test_an_area_s_figures_are_its_supervisors_figures(s, hand_made):  # noqa: F811
    """What a snapshot stores (every case located in the area) is exactly what a supervisor
    or administrator of the area, or of its province looking at it, is computed."""
    assert dashboard.area_figures(s, "40", NOW) == dashboard.figures(
        s, actor("supervisor", "40"), NOW)
    assert dashboard.area_figures(s, "4007", NOW) == dashboard.figures(
        s, actor("supervisor", "4007"), NOW) == dashboard.figures(
        s, actor("admin", "40", agency="LOCAL"), NOW, district="4007")
    assert dashboard.area_figures(s, CHONNABOT, NOW) == dashboard.figures(
        s, actor("supervisor", CHONNABOT), NOW)


def test_the_refresh_job_stores_each_area_and_renews_only_old_ones(s, hand_made):  # noqa: F811
    f.officer(s, role="supervisor", agency="EDU", area=NAM_PHONG, username="boss.sub")
    s.commit()
    report = dashboard.refresh_due(s, "test", 5 * dt.timedelta(minutes=1), NOW)
    districts = set(s.scalars(sa.select(Area.code).where(Area.level == "district")))
    assert set(report["refreshed"]) == {"40", NAM_PHONG} | districts
    assert report["refreshed"][0] == "40" and report["skipped"] == []
    stored = rows(s)
    assert set(stored) == {"40", NAM_PHONG} | districts
    for code in ("40", "4007", "4018", "4001", NAM_PHONG):
        kept, at = dashboard.stored(s, code)
        fresh = dashboard.area_figures(s, code, kept.as_of)
        assert kept == fresh and at == kept.as_of  # exact, as of its own time
        assert stored[code].refreshing_by is None and stored[code].took_ms >= 0
    province, _at = dashboard.stored(s, "40")
    assert (province.total, province.overdue, province.stale) == (7, 3, 2)
    district, _at = dashboard.stored(s, "4007")
    assert (district.total, district.level) == (6, "subdistrict")
    assert {row.code for row in district.areas} <= {a.code for a in s.scalars(
        sa.select(Area).where(Area.parent_code == "4007"))}

    # nothing is older than five minutes: nothing to do
    assert dashboard.refresh_due(s, "test", 5 * dt.timedelta(minutes=1), NOW)["refreshed"] == []
    # the province's figures made an hour ago: only they are renewed, with a new case in
    s.execute(sa.update(DashboardSnapshot).where(DashboardSnapshot.area_code == "40")
              .values(computed_at=NOW - HOUR))
    make_case(s, subdistrict=CHONNABOT, created=NOW - DAY)
    s.commit()
    assert dashboard.refresh_due(s, "test", 5 * dt.timedelta(minutes=1), NOW)[
        "refreshed"] == ["40"]
    assert dashboard.stored(s, "40")[0].total == 8
    assert dashboard.stored(s, "4018")[0].total == 1  # not renewed: still the old figures


def test_the_page_s_figures_come_from_the_snapshot_until_it_is_too_old(s, hand_made):  # noqa: F811
    boss = actor("supervisor", "4007")
    limit = dt.timedelta(minutes=15)
    first = dashboard.current(s, boss, None, limit, "web", NOW)  # none stored: computed
    assert first.total == 6 and set(rows(s)) == {"4007"}
    make_case(s, created=NOW - DAY)
    s.commit()
    again = dashboard.current(s, boss, None, limit, "web", NOW + 10 * dt.timedelta(minutes=1))
    assert again == first and again.as_of == NOW  # the stored figures, as of when they were
    later = NOW + 20 * dt.timedelta(minutes=1)
    fresh = dashboard.current(s, boss, None, limit, "web", later)  # too old: computed now
    assert fresh.total == 7 and fresh.as_of == later
    assert dashboard.stored(s, "4007")[0] == fresh  # and stored
    # no limit: computed on every view
    assert dashboard.current(s, boss, None, dt.timedelta(0), "web", later + HOUR).as_of == \
        later + HOUR


def test_scoping_through_the_snapshots(s, hand_made):  # noqa: F811
    """A district supervisor is given its own district's snapshot, whatever district it asks
    for; a province supervisor the province's or one district's; an officer's figures are
    computed over the officer's own scope and never stored."""
    dashboard.refresh_due(s, "test", dt.timedelta(minutes=5), NOW)
    limit = dt.timedelta(days=365)
    own = dashboard.current(s, actor("supervisor", "4007"), "4018", limit, "web", NOW)
    assert (own.area_code, own.total) == ("4007", 6)
    assert all(row.code.startswith("4007") for row in own.areas)
    other = dashboard.current(s, actor("supervisor", "4018"), None, limit, "web", NOW)
    assert (other.area_code, other.total) == ("4018", 1)
    whole = dashboard.current(s, actor("admin", "40"), None, limit, "web", NOW)
    assert (whole.area_code, whole.total) == ("40", 7)
    drilled = dashboard.current(s, actor("supervisor", "40"), "4018", limit, "web", NOW)
    assert (drilled.area_code, drilled.total) == ("4018", 1)

    before = {code: row.computed_at for code, row in rows(s).items()}
    learn = dashboard.current(s, actor("officer", "4007", agency="LEARN"), None, limit, "web",
                              NOW)
    assert learn.total == 5 and by_agency(learn) == {"LEARN"}  # LOCAL's case not counted
    assert {code: row.computed_at for code, row in rows(s).items()} == before


def by_agency(figures) -> set[str]:
    return {item.code for item in figures.by_agency}


def test_a_held_lease_keeps_a_second_refresher_out(s, hand_made):  # noqa: F811
    assert dashboard.claim(s, "4007", "worker-a")
    assert dashboard.refresh(s, "4007", "worker-b", NOW) is None  # a is at it
    assert not dashboard.claim(s, "4007", "worker-c")
    assert len(rows(s)) == 1 and rows(s)["4007"].computed_at is None
    # the page meanwhile: nothing stored yet, so it computes without storing
    shown = dashboard.current(s, actor("supervisor", "4007"), None, dt.timedelta(minutes=15),
                              "web", NOW)
    assert shown.total == 6 and rows(s)["4007"].figures is None
    # a's lease runs out (it died): the next refresher takes over
    s.execute(sa.update(DashboardSnapshot).values(refreshing_until=dashboard.utcnow() - HOUR))
    s.commit()
    assert dashboard.refresh(s, "4007", "worker-b", NOW).total == 6
    stored = rows(s)["4007"]
    assert stored.figures and stored.refreshing_by is None and stored.refreshing_until is None


def test_two_refreshers_at_once_compute_an_area_once(app, s, hand_made, monkeypatch):  # noqa: F811
    computed = []
    real = dashboard.area_figures

    def slow(session, area_code, now=None):
        computed.append(area_code)
        time.sleep(0.5)
        return real(session, area_code, now)

    monkeypatch.setattr(dashboard, "area_figures", slow)
    results: dict[str, object] = {}
    start = threading.Barrier(2)

    def refresher(name: str) -> None:
        with app.app_context(), Session(db.engine) as session:
            start.wait()
            results[name] = dashboard.refresh(session, "40", name, NOW)

    threads = [threading.Thread(target=refresher, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert computed == ["40"]
    assert sorted(result is None for result in results.values()) == [False, True]
    assert list(rows(s)) == ["40"] and dashboard.stored(s, "40")[0].total == 7


def test_the_scheduler_renews_them_in_a_thread(app, s, hand_made):  # noqa: F811
    with app.app_context():
        scheduler = Scheduler(app, "test-worker")
        assert scheduler.dashboard_every == 0  # the tests' setting: not on every tick
        scheduler.dashboard_every = 300
        thread = scheduler.refresh_dashboard()
        assert thread is not None
        thread.join(60)
    stored = rows(s)
    assert {"40", "4007", "4018"} <= set(stored)
    assert dashboard.stored(s, "40")[0].total == 7
    assert dashboard.stored(s, "4007")[0].total == 6


def test_figures_dataclass_fields_are_all_stored():
    """A field added to the figures must survive the snapshot (to_json/from_json)."""
    names = {field.name for field in dataclasses.fields(dashboard.Figures)}
    sample = dashboard.Figures(as_of=NOW, area_code="40", level="district")
    assert set(dashboard.from_json(dashboard.to_json(sample)).__dict__) == names


@pytest.mark.parametrize("bad", ["", "x"])
def test_no_snapshot_is_nothing(s, bad):  # noqa: F811
    assert dashboard.stored(s, bad) == (None, None)


def test_figures_renewed_meanwhile_are_not_renewed_again(s, hand_made):  # noqa: F811
    """A second worker that chose an area before the first renewed it leaves it alone."""
    assert dashboard.refresh(s, "4007", "worker-a", NOW) is not None
    assert dashboard.refresh(s, "4007", "worker-b", NOW, older_than=NOW - HOUR) is None
    assert dashboard.refresh(s, "4007", "worker-b", NOW + HOUR,
                             older_than=NOW + dt.timedelta(minutes=1)) is not None
    assert rows(s)["4007"].computed_at == NOW + HOUR
