"""The dashboard's figures (services.dashboard) against hand-made cases, on each database: the
heat-map by area and stage, the counts by group, stage and agency, the months (Khon Kaen's
calendar, its first-of-month boundary included), time to a first action (median and p90 in
the database: percentile_cont on PostgreSQL, ranks on SQLite, both equal to Python's
reference), overdue, escalated and stale cases, each limited to the actor's scope."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import statistics

import pytest
import sqlalchemy as sa

from models import BANGKOK, Case
from services import dashboard, stats
from services.access import Actor
from tests.factories import CHONNABOT, NAM_PHONG, WANG_CHAI

DAY = dt.timedelta(days=1)
#: Noon in Khon Kaen, 15 Nov 2026: the 12 months are Dec 2025 .. Nov 2026.
NOW = dt.datetime(2026, 11, 15, 5, 0, tzinfo=dt.UTC)
_serial = itertools.count(1)


def bangkok(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BANGKOK).astimezone(dt.UTC)


def make_case(session, *, subdistrict: str = NAM_PHONG, group: str = "out_of_school",
              agency: str = "LEARN", stage: str = "received", created: dt.datetime,
              first_action: dt.timedelta | None = None, updated: dt.datetime | None = None,
              due: dt.datetime | None = None, closed: dt.datetime | None = None,
              escalation: int = 0, name: str | None = None) -> Case:
    """A case row as it would stand after its history (no services: every figure chosen)."""
    n = next(_serial)
    case = Case(reference=f"KK-2569-{n:05d}", target_group=group,
                child_name=name or f"child {n}", child_name_norm=f"child{n}",
                subdistrict_code=subdistrict, district_code=subdistrict[:4], stage=stage,
                owner_agency_code=agency, owner_area_code=subdistrict[:4], village="v",
                created_at=created, updated_at=updated or created,
                first_action_at=created + first_action if first_action is not None else None,
                due_at=due, closed_at=closed, escalation=escalation, situations=[])
    session.add(case)
    session.flush()
    return case


def actor(role: str, area: str, agency: str = "EDU") -> Actor:
    return Actor(kind="officer", name=f"{role}.{area}", role=role, agency_code=agency,
                 area_code=area, officer_id=1, via="test")



@pytest.fixture
def hand_made(s):
    """Seven cases: five in อำเภอน้ำพอง (4007), one in ชนบท (4018), one made before the months."""
    made = {
        # new, overdue since yesterday, nobody acted yet
        "a": make_case(s, created=NOW - 2 * DAY, due=NOW - DAY),
        # a young child being verified; untouched for 35 days (stale), acted on after a day
        "b": make_case(s, group="early_childhood", agency="LOCAL", stage="verifying",
                       created=NOW - 40 * DAY, first_action=DAY, updated=NOW - 35 * DAY,
                       due=NOW + 3 * DAY),
        # closed in May (Khon Kaen), long untouched since: closed cases are never stale
        "c": make_case(s, subdistrict=WANG_CHAI, stage="closed", created=bangkok(2026, 3, 10),
                       first_action=3 * DAY, closed=bangkok(2026, 5, 1, 9),
                       updated=bangkok(2026, 5, 1, 9)),
        # being helped, overdue and escalated to the district
        "d": make_case(s, subdistrict=WANG_CHAI, stage="in_support", created=NOW - 100 * DAY,
                       first_action=10 * DAY, escalation=1, due=NOW - 10 * DAY,
                       updated=NOW - 5 * DAY),
        # another district: referred, overdue, escalated to the province, stale
        "e": make_case(s, subdistrict=CHONNABOT, group="early_childhood", agency="LOCAL",
                       stage="referred", created=NOW - 20 * DAY, first_action=DAY / 2,
                       escalation=2, due=NOW - 30 * DAY, updated=NOW - 31 * DAY),
        # reported 13 months ago (outside the months); closed at 00:30 on 1 Dec 2025 in Khon
        # Kaen, which is still 30 Nov in UTC: it belongs to December
        "f": make_case(s, stage="closed", created=bangkok(2025, 10, 1), first_action=2 * DAY,
                       closed=bangkok(2025, 12, 1, 0, 30), updated=bangkok(2025, 12, 1, 0, 30)),
        # reported at the very first moment of the months (Khon Kaen midnight, 1 Dec 2025)
        "g": make_case(s, stage="follow_up", created=bangkok(2025, 12, 1), first_action=4 * DAY,
                       updated=NOW - DAY),
    }
    s.commit()
    return made


def by_code(items) -> dict:
    return {item.code: (item.count, item.open, item.overdue) for item in items}


def test_month_starts_follow_khon_kaen_s_calendar():
    bounds = dashboard.month_starts(NOW)
    assert len(bounds) == 13
    assert bounds[0] == bangkok(2025, 12, 1) == dt.datetime(2025, 11, 30, 17, tzinfo=dt.UTC)
    assert bounds[-2] == bangkok(2026, 11, 1) and bounds[-1] == bangkok(2026, 12, 1)
    january = dashboard.month_starts(dt.datetime(2027, 1, 3, tzinfo=dt.UTC), 3)
    assert [b.astimezone(BANGKOK).date() for b in january] == [
        dt.date(2026, 11, 1), dt.date(2026, 12, 1), dt.date(2027, 1, 1), dt.date(2027, 2, 1)]


def test_shades():
    assert dashboard.shade(0, 10) == 0 and dashboard.shade(5, 0) == 0
    assert dashboard.shade(1, 100) == 1  # one case is never shown as none
    assert [dashboard.shade(n, 10) for n in (2, 4, 6, 8, 10)] == [1, 2, 3, 4, 5]


def test_a_province_supervisor_sees_every_figure(s, hand_made):
    f = dashboard.figures(s, actor("supervisor", "40"), NOW)
    assert (f.area_code, f.level) == ("40", "district")
    assert (f.total, f.open, f.closed) == (7, 5, 2)
    assert f.overdue == 3  # a, d, e
    assert (f.escalated_district, f.escalated_province) == (2, 1)  # d and e; e
    assert f.stale == 2  # b and e (c is closed)
    assert f.waiting_first_action == 1  # a
    # the heat-map: every district of Khon Kaen, counted ones with their stages
    assert len(f.areas) == 26 and f.areas[0].code == "4001"
    rows = {row.code: row for row in f.areas}
    nam_phong = rows["4007"]
    assert nam_phong.name_en == "Nam Phong" and nam_phong.name_th
    assert (nam_phong.total, nam_phong.open, nam_phong.overdue, nam_phong.stale) == (6, 4, 2, 1)
    assert nam_phong.by_stage == {"received": 1, "verifying": 1, "closed": 2, "in_support": 1,
                                  "follow_up": 1}
    assert (rows["4018"].total, rows["4018"].by_stage, rows["4018"].stale) == (
        1, {"referred": 1}, 1)
    assert rows["4001"].total == 0 and rows["4001"].by_stage == {}
    assert f.heat_max() == {"stage": 2, "total": 6, "overdue": 2, "stale": 1}
    # groups, stages, agencies
    assert by_code(f.by_group) == {"early_childhood": (2, 2, 1), "out_of_school": (5, 3, 2)}
    assert by_code(f.by_stage) == {"received": (1, 1, 1), "verifying": (1, 1, 0),
                                   "referred": (1, 1, 1), "in_support": (1, 1, 1),
                                   "follow_up": (1, 1, 0), "closed": (2, 0, 0)}
    assert by_code(f.by_agency) == {"LEARN": (5, 3, 2), "LOCAL": (2, 2, 1)}
    assert [b.code for b in f.by_agency] == ["LEARN", "LOCAL"]  # the largest first
    assert f.by_agency[0].name_en and f.by_agency[0].name_th
    # the months: Dec 2025 .. Nov 2026 in Khon Kaen
    assert [m.first_day for m in f.months][:2] == [dt.date(2025, 12, 1), dt.date(2026, 1, 1)]
    assert f.months[-1].first_day == dt.date(2026, 11, 1)
    reported = {m.first_day.month: m.reported for m in f.months if m.reported}
    closed = {m.first_day.month: m.closed for m in f.months if m.closed}
    # b: 5 Oct, c: March, d: 7 Aug, e: 26 Oct, a: 13 Nov, g: the first moment of December
    assert reported == {12: 1, 3: 1, 8: 1, 10: 2, 11: 1}
    assert closed == {12: 1, 5: 1}  # f (00:30 on 1 Dec in Khon Kaen) and c
    # time to the first action, over the cases reported in the months: b 1, c 3, d 10,
    # e 0.5, g 4 days (f is older, a has none)
    assert f.first_action_count == 5
    assert f.first_action_median_days == 3.0
    assert f.first_action_p90_days == 7.6  # 4 + 0.6 * (10 - 4)


def test_a_district_supervisor_and_an_officer_see_their_scope_only(s, hand_made):
    f = dashboard.figures(s, actor("supervisor", "4007"), NOW)
    assert (f.area_code, f.level, f.total, f.overdue, f.stale) == ("4007", "subdistrict", 6, 2, 1)
    rows = {row.code: row.total for row in f.areas}
    assert rows[NAM_PHONG] == 4 and rows[WANG_CHAI] == 2 and CHONNABOT not in rows
    assert all(code.startswith("4007") for code in rows)
    assert f.escalated_province == 0

    learn = dashboard.figures(s, actor("officer", "4007", agency="LEARN"), NOW)
    assert learn.total == 5 and by_code(learn.by_agency) == {"LEARN": (5, 3, 2)}
    assert learn.stale == 0 and learn.first_action_count == 3  # c, d, g: 3, 10, 4
    assert learn.first_action_median_days == 4.0

    one = dashboard.figures(s, actor("supervisor", CHONNABOT), NOW)
    assert [row.code for row in one.areas] == [CHONNABOT] and one.total == 1

    nobody = dashboard.figures(s, actor("supervisor", "4001"), NOW)
    assert nobody.total == 0 and nobody.first_action_median_days is None
    assert all(m.reported == 0 for m in nobody.months)


def test_a_province_supervisor_may_look_at_one_district(s, hand_made):
    f = dashboard.figures(s, actor("supervisor", "40"), NOW, district="4007")
    assert (f.area_code, f.level, f.total) == ("4007", "subdistrict", 6)
    assert {row.code for row in f.areas if row.total} == {NAM_PHONG, WANG_CHAI}
    # a district outside the area, or anything else, is the supervisor's own area
    d = dashboard.figures(s, actor("supervisor", "4007"), NOW, district="4018")
    assert (d.area_code, d.total) == ("4007", 6)
    for junk in ("1", "40", "4x07", "400701", "9907", "4007' OR 1=1"):
        assert dashboard.figures(s, actor("supervisor", "40"), NOW,
                                 district=junk).area_code == "40"


def test_percentiles_in_the_database_equal_python_s(s):
    """Random durations on each database: percentile_cont (PostgreSQL) and the ranks (SQLite)
    give Python's linear interpolation (statistics.quantiles, inclusive)."""
    rng = random.Random(42)
    spans = [dt.timedelta(seconds=rng.randrange(60, 90 * 86400)) for _ in range(203)]
    for span in spans:
        make_case(s, created=NOW - 200 * DAY, first_action=span)
    make_case(s, created=NOW - 5 * DAY)  # no action: not counted
    s.commit()
    where = Case.district_code == "4007"
    count, (p50, p90, p25) = stats.first_action_percentiles(s, where, (0.5, 0.9, 0.25))
    days = [span.total_seconds() / 86400 for span in spans]
    deciles = statistics.quantiles(days, n=20, method="inclusive")
    assert count == 203
    assert p50 == round(statistics.median(days), 2)
    assert p90 == round(deciles[17], 2)
    assert p25 == round(deciles[4], 2)
    # even and odd counts, one value, none
    for n in (1, 2):
        s.execute(sa.delete(Case))
        for span in spans[:n]:
            make_case(s, created=NOW - 200 * DAY, first_action=span)
        s.commit()
        _count, (median,) = stats.first_action_percentiles(s, where, (0.5,))
        assert median == round(statistics.median(days[:n]), 2)
    s.execute(sa.delete(Case))
    s.commit()
    assert stats.first_action_percentiles(s, where) == (0, (None, None))
