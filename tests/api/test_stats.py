"""GET /api/v1/stats and services.stats on a small known data set (on each database)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from models import Case, Officer
from services import stats
from services.access import Actor

from .conftest import CHONNABOT, NAM_PHONG, WANG_CHAI, now

DAY = dt.timedelta(days=1)


def _data_set(world) -> dict[str, str]:
    """Four cases in Nam Phong (4007), one in Chonnabot (4018)."""
    t = now().replace(microsecond=0)
    made = {
        "a": (world.case(subdistrict=NAM_PHONG, created=t - 5 * DAY), t - 5 * DAY, 2 * DAY),
        "b": (world.case(subdistrict=WANG_CHAI, created=t - 30 * DAY), t - 30 * DAY, 4 * DAY),
        "c": (world.case(group="early_childhood", created=t - DAY), t - DAY, DAY / 2),
        "d": (world.case(subdistrict=CHONNABOT, created=t - 200 * DAY), t - 200 * DAY,
              100 * DAY),
        "e": (world.case(group="early_childhood", created=t - 60 * DAY), t - 60 * DAY, None),
    }
    for reference, created, after in made.values():
        if after is not None:
            world.update_case(reference, first_action_at=created + after)
    world.update_case(made["e"][0], stage="closed", closed_at=t)
    return {key: value[0] for key, value in made.items()}


def _by_code(rows) -> dict[str, tuple[int, int]]:
    return {row["code"]: (row["count"], row["overdue"]) for row in rows}


def test_stats_of_a_supervisor_s_district(world):
    _data_set(world)
    supervisor = world.api("supervisor", "LEARN", "4007")
    response = supervisor.get("/stats")
    assert response.status_code == 200
    figures = response.get_json()
    assert figures["total"] == 4
    assert figures["overdue"] == 1  # b: 30 days old, never verified; e is closed
    assert figures["with_first_action"] == 3
    assert figures["median_days_to_first_action"] == 2.0  # of 0.5, 2 and 4 (d is elsewhere)
    assert _by_code(figures["by_stage"]) == {"received": (3, 1), "verifying": (0, 0),
                                             "referred": (0, 0), "in_support": (0, 0),
                                             "follow_up": (0, 0), "closed": (1, 0)}
    assert _by_code(figures["by_group"]) == {"early_childhood": (2, 0),
                                             "out_of_school": (2, 1)}
    assert _by_code(figures["by_agency"]) == {"LEARN": (2, 1), "LOCAL": (2, 0)}
    assert _by_code(figures["by_district"]) == {"4007": (4, 1)}
    assert figures["by_district"][0]["name_en"] == "Nam Phong"
    assert _by_code(figures["by_subdistrict"]) == {NAM_PHONG: (3, 0), WANG_CHAI: (1, 1)}
    assert {row["code"]: row["name_en"] for row in figures["by_subdistrict"]} == {
        NAM_PHONG: "Nam Phong", WANG_CHAI: "Wang Chai"}


def test_stats_follow_the_scope_of_each_officer(world):
    _data_set(world)
    learn = world.api("officer", "LEARN", "4007")
    figures = learn.get("/stats").get_json()
    assert figures["total"] == 2 and figures["overdue"] == 1
    assert figures["median_days_to_first_action"] == 3.0  # of 2 and 4
    assert _by_code(figures["by_agency"]) == {"LEARN": (2, 1)}
    chonnabot = world.api("officer", "LEARN", "4018")
    figures = chonnabot.get("/stats").get_json()
    assert figures["total"] == 1 and figures["median_days_to_first_action"] == 100.0
    assert _by_code(figures["by_district"]) == {"4018": (1, 1)}
    nobody = world.api("officer", "HEALTH", "4007")
    figures = nobody.get("/stats").get_json()
    assert figures["total"] == 0 and figures["median_days_to_first_action"] is None
    assert figures["by_district"] == [] and _by_code(figures["by_stage"])["received"] == (0, 0)


def test_the_service_computes_the_same_figures_from_its_own_session(world, session):
    references = _data_set(world)
    username, _token = world.officer("admin", "EDU", "40")
    admin = Actor.for_officer(session.scalars(sa.select(Officer)
                                              .where(Officer.username == username)).one())
    figures = stats.case_stats(session, admin)
    assert figures.total == 5 and figures.with_first_action == 4
    assert figures.median_days_to_first_action == 3.0  # of 0.5, 2, 4 and 100
    d = session.scalar(sa.select(Case).where(Case.reference == references["d"]))
    assert (d.first_action_at - d.created_at) == 100 * DAY


def test_median_days():
    t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert stats.median_days([]) is None
    assert stats.median_days([(t, t + dt.timedelta(hours=36))]) == 1.5
    assert stats.median_days([(t, t + DAY), (t, t + 2 * DAY), (t, t + 10 * DAY),
                              (t, None)]) == 2.0
    assert stats.median_days([(t, t + DAY), (t, t + 2 * DAY)]) == 1.5
