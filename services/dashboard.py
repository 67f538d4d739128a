"""The supervisors' dashboard (issue #7 point 4): the figures of every case in the actor's
scope, for one page.

- a heat-map of the areas one level below the view (the districts of a province, the
  subdistricts of a district) by stage, with each area's total, overdue and stale counts;
- counts by target group, stage and owning agency (with open and overdue);
- new reports and closures per month over the last 12 months (months of Khon Kaen's clock);
- days from a report to an officer's first action (median and 90th percentile) over the
  cases reported in those 12 months, and the open cases still waiting for one;
- overdue and escalated cases, and data freshness: open cases nobody touched for 30 days.

Everything is limited by `access.scope_clause` like every case query (and optionally to one
district of the scope), and counted in the database: one grouped query for the counts, one
for both monthly series, one for the percentiles. Nothing loads the cases into Python: what
comes back is one row per group (areas x stages x groups x agencies; month pairs). The
database still reads every case of the scope three times, so on a very large scope the time
grows with the cases (1.4 s for a province of a million): the page reads stored figures
instead (`current`, the snapshots at the end of this module, renewed by the worker's
scheduler with `refresh_due`). `figures(session, actor, now)` is the whole computation,
callable on its own (benchmarks); `area_figures(session, area_code, now)` the same for a
supervisor of that area, which is what a snapshot stores.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import BANGKOK, Agency, Area, Case, DashboardSnapshot, Officer, utcnow
from services.access import Actor, area_clause, scope_clause
from services.cases import STAGES, TARGET_GROUPS
from services.queue import ESCALATION_LEVELS, overdue_clause, stale_clause
from services.stats import first_action_percentiles

log = logging.getLogger(__name__)

MONTHS = 12
#: Shades of a heat-map cell: 0 for none, then 1-5 by the share of the column's largest count.
SHADES = 5
OPEN_STAGES = tuple(stage for stage in STAGES if stage != "closed")


@dataclass
class AreaRow:
    """One row of the heat-map: an area and its counts (by stage, total, overdue, stale)."""

    code: str
    name_th: str
    name_en: str
    by_stage: dict[str, int] = field(default_factory=dict)
    total: int = 0
    open: int = 0
    overdue: int = 0
    stale: int = 0


@dataclass
class Breakdown:
    """A count of one group, stage or agency: all, still open, overdue."""

    code: str
    count: int = 0
    open: int = 0
    overdue: int = 0
    name_th: str | None = None
    name_en: str | None = None


@dataclass
class Month:
    """A calendar month in Khon Kaen (its first day) and its new reports and closures."""

    first_day: dt.date
    reported: int = 0
    closed: int = 0


@dataclass
class Figures:
    """The dashboard's figures. `level` is the heat-map's row level (district or
    subdistrict); `area_code` the area it covers (the actor's, or one district of it)."""

    as_of: dt.datetime
    area_code: str
    level: str
    total: int = 0
    open: int = 0
    closed: int = 0
    overdue: int = 0
    escalated_district: int = 0
    escalated_province: int = 0
    stale: int = 0
    waiting_first_action: int = 0
    first_action_count: int = 0
    first_action_median_days: float | None = None
    first_action_p90_days: float | None = None
    areas: list[AreaRow] = field(default_factory=list)
    by_group: list[Breakdown] = field(default_factory=list)
    by_stage: list[Breakdown] = field(default_factory=list)
    by_agency: list[Breakdown] = field(default_factory=list)
    months: list[Month] = field(default_factory=list)

    def heat_max(self) -> dict[str, int]:
        """The largest count of each heat-map column kind (stage cells, total, overdue,
        stale): the shades are relative to it."""
        return {
            "stage": max((n for row in self.areas for n in row.by_stage.values()), default=0),
            "total": max((row.total for row in self.areas), default=0),
            "overdue": max((row.overdue for row in self.areas), default=0),
            "stale": max((row.stale for row in self.areas), default=0),
        }


def shade(count: int, largest: int) -> int:
    """0 for no case, else 1..SHADES by the share of the largest count (never 0 for 1 case)."""
    if count <= 0 or largest <= 0:
        return 0
    return max(1, min(SHADES, -(-count * SHADES // largest)))


def month_starts(now: dt.datetime, months: int = MONTHS) -> list[dt.datetime]:
    """The first moments (UTC) of the last `months` months of Khon Kaen's calendar, this month
    last, and the start of next month after them: `months` + 1 boundaries."""
    local = now.astimezone(BANGKOK)
    year, month = local.year, local.month
    firsts = []
    for back in range(months - 1, -2, -1):
        index = year * 12 + (month - 1) - back
        firsts.append(dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=BANGKOK)
                      .astimezone(dt.UTC))
    return firsts


def _bucket(column, bounds: list[dt.datetime]):
    """SQL: the index of the month `column` falls in (bounds[i] <= column < bounds[i+1]), NULL
    before the first month, after the last, or without a value."""
    return sa.case((column < bounds[0], None),
                   *((column < bounds[i + 1], i) for i in range(len(bounds) - 1)), else_=None)


def child_areas(session: Session, area_code: str) -> tuple[str, list[Area]]:
    """The heat-map's rows under an area: a province's districts, a district's subdistricts;
    a subdistrict is its own single row."""
    if len(area_code) == 6:
        return "subdistrict", list(session.scalars(sa.select(Area).where(Area.code == area_code)))
    level = "district" if len(area_code) == 2 else "subdistrict"
    return level, list(session.scalars(
        sa.select(Area).where(Area.level == level, Area.parent_code == area_code)
        .order_by(Area.code)))


def view_area(actor: Actor, district: str | None) -> str:
    """The area the dashboard shows: one district of the actor's area when asked for (and
    inside it), else the actor's whole area."""
    own = actor.area_code or ""
    if (district and len(district) == 4 and district.isdigit() and len(own) == 2
            and district.startswith(own)):
        return district
    return own


def figures(session: Session, actor: Actor, now: dt.datetime | None = None,
            district: str | None = None) -> Figures:
    """Every figure of the dashboard over the cases `actor` may see (only those of
    `district` when given and inside the actor's area), computed now. Nothing here writes."""
    now = now or utcnow()
    area_code = view_area(actor, district)
    where = scope_clause(actor)
    if area_code != (actor.area_code or ""):
        where = sa.and_(where, Case.district_code == area_code)
    return _compute(session, where, area_code, now)


def area_figures(session: Session, area_code: str, now: dt.datetime | None = None) -> Figures:
    """The figures of every case located in an area: what its supervisors and administrators
    see (`figures` of such an actor, or of a province's actor opening one of its districts,
    is the same), whatever agency owns the cases. What a snapshot stores."""
    return _compute(session, area_clause(area_code), area_code, now or utcnow())


def _compute(session: Session, where, area_code: str, now: dt.datetime) -> Figures:
    level, places = child_areas(session, area_code)
    result = Figures(as_of=now, area_code=area_code, level=level)
    _counts(session, where, now, level, places, result)
    _months(session, where, now, result)
    window = sa.and_(where, Case.created_at >= month_starts(now)[0])
    result.first_action_count, (result.first_action_median_days,
                                result.first_action_p90_days) = \
        first_action_percentiles(session, window, (0.5, 0.9))
    return result


def _flag(clause):
    return sa.func.sum(sa.case((clause, 1), else_=0))


def _counts(session: Session, where, now: dt.datetime, level: str, places: list[Area],
            result: Figures) -> None:
    """The one grouped scan: counts by area, stage, group and agency, with overdue, stale,
    escalated and waiting-for-a-first-action sums."""
    area = Case.district_code if level == "district" else Case.subdistrict_code
    is_open = Case.stage != "closed"
    rows = session.execute(
        sa.select(area, Case.stage, Case.target_group, Case.owner_agency_code,
                  sa.func.count(), _flag(overdue_clause(now)), _flag(stale_clause(now)),
                  _flag(sa.and_(is_open, Case.escalation >= ESCALATION_LEVELS["district"])),
                  _flag(sa.and_(is_open, Case.escalation >= ESCALATION_LEVELS["province"])),
                  _flag(sa.and_(is_open, Case.first_action_at.is_(None))))
        .where(where)
        .group_by(area, Case.stage, Case.target_group, Case.owner_agency_code)).all()

    areas = {place.code: AreaRow(place.code, place.name_th, place.name_en) for place in places}
    groups = {code: Breakdown(code) for code in TARGET_GROUPS}
    stages = {code: Breakdown(code) for code in STAGES}
    agencies: dict[str, Breakdown] = {}
    for code, stage, group, agency, count, late, stale, esc_d, esc_p, waiting in rows:
        count, late, stale = int(count), int(late or 0), int(stale or 0)
        still_open = count if stage != "closed" else 0
        row = areas.get(code)
        if row is None:  # a case whose area is not (or no longer) listed under the view
            row = areas[code] = AreaRow(code, code, code)
        row.by_stage[stage] = row.by_stage.get(stage, 0) + count
        row.total += count
        row.open += still_open
        row.overdue += late
        row.stale += stale
        for table, key in ((groups, group), (stages, stage), (agencies, agency)):
            item = table.setdefault(key, Breakdown(key))
            item.count += count
            item.open += still_open
            item.overdue += late
        result.total += count
        result.open += still_open
        result.overdue += late
        result.stale += stale
        result.escalated_district += int(esc_d or 0)
        result.escalated_province += int(esc_p or 0)
        result.waiting_first_action += int(waiting or 0)
    result.closed = result.total - result.open
    result.areas = sorted(areas.values(), key=lambda r: r.code)
    result.by_group = list(groups.values())
    result.by_stage = list(stages.values())
    if agencies:
        for agency in session.scalars(sa.select(Agency).where(Agency.code.in_(list(agencies)))):
            agencies[agency.code].name_th = agency.short_name_th
            agencies[agency.code].name_en = agency.name_en
    result.by_agency = sorted(agencies.values(), key=lambda b: (-b.count, b.code))


def _months(session: Session, where, now: dt.datetime, result: Figures) -> None:
    """New reports (by created_at) and closures (by closed_at: the cases closed now, in the
    month they were closed; a reopened case counts again when it closes again) per month, in
    one grouped scan (its groups: at most 13 x 13 month pairs)."""
    bounds = month_starts(now)
    result.months = [Month(first_day=bounds[i].astimezone(BANGKOK).date())
                     for i in range(len(bounds) - 1)]
    reported, closed = _bucket(Case.created_at, bounds), _bucket(Case.closed_at, bounds)
    within = [sa.and_(column >= bounds[0], column < bounds[-1])
              for column in (Case.created_at, Case.closed_at)]
    rows = session.execute(
        sa.select(reported, closed, sa.func.count())
        .where(where, sa.or_(*within)).group_by(reported, closed))
    for made, shut, count in rows:
        if made is not None:
            result.months[int(made)].reported += int(count)
        if shut is not None:
            result.months[int(shut)].closed += int(count)


# -- stored figures (snapshots) ---------------------------------------------------------------
#
# On a million cases computing an area's figures takes about a second (the province: 1.4 s),
# too slow for a page. The figures of each area are stored in `dashboard_snapshots` (one row,
# read by its key): the worker's scheduler refreshes them every DASHBOARD_REFRESH_SECONDS
# (`refresh_due`), `flask dashboard refresh` on demand, and the page computes them itself
# only when they are missing or older than DASHBOARD_MAX_AGE_SECONDS (`current`). A snapshot
# is the exact figures of its area at its `as_of`: overdue and stale are as of then.
#
# One refresh of an area at a time: a refresher first takes the row's lease with a
# conditional UPDATE (committed), computes, then writes the figures only while it still holds
# the lease. Two workers (or a worker and a page) wanting the same area: one computes, the
# other skips it (the page shows the stored figures meanwhile).

#: How long a refresher may hold an area's lease before another may take it over.
SNAPSHOT_LEASE = dt.timedelta(minutes=10)


def to_json(result: Figures) -> str:
    """The figures as JSON (the snapshot's column)."""
    data = dataclasses.asdict(result)
    data["as_of"] = result.as_of.isoformat()
    for month in data["months"]:
        month["first_day"] = month["first_day"].isoformat()
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def from_json(text: str) -> Figures:
    """The figures stored by `to_json`."""
    data = json.loads(text)
    data["as_of"] = dt.datetime.fromisoformat(data["as_of"])
    data["areas"] = [AreaRow(**row) for row in data["areas"]]
    for key in ("by_group", "by_stage", "by_agency"):
        data[key] = [Breakdown(**item) for item in data[key]]
    data["months"] = [Month(first_day=dt.date.fromisoformat(m["first_day"]),
                            reported=m["reported"], closed=m["closed"])
                      for m in data["months"]]
    return Figures(**data)


def _insert_missing(session: Session, area_code: str):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(DashboardSnapshot).values(area_code=area_code).on_conflict_do_nothing(
        index_elements=["area_code"])


def claim(session: Session, area_code: str, owner: str,
          lease: dt.timedelta = SNAPSHOT_LEASE, older_than: dt.datetime | None = None) -> bool:
    """Take the lease on an area's snapshot (making its row if missing); False when another
    refresher holds it, or (with `older_than`) when its figures were computed since. Commits."""
    real_now = utcnow()
    session.execute(_insert_missing(session, area_code))
    still_old = sa.true() if older_than is None else sa.or_(
        DashboardSnapshot.computed_at.is_(None), DashboardSnapshot.computed_at < older_than)
    taken = session.execute(
        sa.update(DashboardSnapshot)
        .where(DashboardSnapshot.area_code == area_code, still_old,
               sa.or_(DashboardSnapshot.refreshing_until.is_(None),
                      DashboardSnapshot.refreshing_until < real_now))
        .values(refreshing_by=owner, refreshing_until=real_now + lease)
        .execution_options(synchronize_session=False)).rowcount
    session.commit()
    return taken == 1


def refresh(session: Session, area_code: str, owner: str, now: dt.datetime | None = None,
            lease: dt.timedelta = SNAPSHOT_LEASE, older_than: dt.datetime | None = None
            ) -> Figures | None:
    """Compute an area's figures and store them, if no other refresher is at it (None then;
    with `older_than`, None too when another renewed them since). Commits."""
    owner = f"{owner}:{uuid.uuid4().hex[:8]}"  # this refresh's own (threads share a name)
    if not claim(session, area_code, owner, lease, older_than):
        return None
    started = time.perf_counter()
    try:
        result = area_figures(session, area_code, now)
        session.rollback()  # the reads' transaction: no snapshot of the cases kept open
    except BaseException:
        session.rollback()
        _release(session, area_code, owner)
        raise
    took = round((time.perf_counter() - started) * 1000)
    stored = session.execute(
        sa.update(DashboardSnapshot)
        .where(DashboardSnapshot.area_code == area_code,
               DashboardSnapshot.refreshing_by == owner)
        .values(figures=to_json(result), computed_at=result.as_of, took_ms=took,
                refreshing_by=None, refreshing_until=None)
        .execution_options(synchronize_session=False)).rowcount
    session.commit()
    if stored != 1:
        log.warning("dashboard %s: the lease was taken over while computing; not stored",
                    area_code)
    return result


def _release(session: Session, area_code: str, owner: str) -> None:
    session.execute(
        sa.update(DashboardSnapshot)
        .where(DashboardSnapshot.area_code == area_code,
               DashboardSnapshot.refreshing_by == owner)
        .values(refreshing_by=None, refreshing_until=None)
        .execution_options(synchronize_session=False))
    session.commit()


def stored(session: Session, area_code: str) -> tuple[Figures | None, dt.datetime | None]:
    """An area's stored figures and when they were computed (None, None without any)."""
    row = session.execute(
        sa.select(DashboardSnapshot.figures, DashboardSnapshot.computed_at)
        .where(DashboardSnapshot.area_code == area_code)).first()
    if row is None or row.figures is None:
        return None, None
    return from_json(row.figures), row.computed_at


def current(session: Session, actor: Actor, district: str | None, max_age: dt.timedelta,
            owner: str, now: dt.datetime | None = None) -> Figures:
    """The figures the dashboard shows `actor` (their area, or one district of it): the
    stored ones when younger than `max_age`, else computed now (and stored). Only for those
    who see every case of their area (supervisors, administrators): anyone else's figures
    are computed over their own scope and never stored."""
    now = now or utcnow()
    if not actor.sees_whole_area or not actor.area_code:
        return figures(session, actor, now, district)
    area_code = view_area(actor, district)
    kept, computed_at = stored(session, area_code)
    if kept is not None and now - computed_at <= max_age:
        return kept
    fresh = refresh(session, area_code, owner, now)
    if fresh is not None:
        return fresh
    if kept is not None:  # another process is computing them right now: the last ones
        return kept
    return area_figures(session, area_code, now)  # never stored yet, and being computed


def snapshot_areas(session: Session) -> list[str]:
    """The areas whose figures are kept: every province and district, and the area of every
    supervisor and administrator (a subdistrict's, say)."""
    places = set(session.scalars(sa.select(Area.code).where(
        Area.level.in_(("province", "district")))))
    places |= set(session.scalars(sa.select(Officer.area_code).where(
        Officer.role.in_(("supervisor", "admin")), Officer.area_code.is_not(None))))
    return sorted(places)


def refresh_due(session: Session, owner: str, every: dt.timedelta,
                at: dt.datetime | None = None) -> dict:
    """Refresh the snapshots computed more than `every` before `at` (default: now) or never,
    the oldest first, each only if no other refresher is at it (each computed as of `at`
    when given, else as of the moment its turn comes). What the scheduler runs; returns a
    report."""
    now = at or utcnow()
    wanted = snapshot_areas(session)
    ages = dict(session.execute(sa.select(DashboardSnapshot.area_code,
                                          DashboardSnapshot.computed_at)).all())
    session.rollback()
    due = [code for code in wanted if ages.get(code) is None or now - ages[code] >= every]
    due.sort(key=lambda code: (ages.get(code) is not None, ages.get(code) or now, code))
    report = {"refreshed": [], "skipped": [], "seconds": 0.0}
    started = time.perf_counter()
    for code in due:
        done = refresh(session, code, owner, now if at is not None else utcnow(),
                       older_than=now - every)
        report["refreshed" if done is not None else "skipped"].append(code)
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report
