"""Counts of the cases an actor may see: by district, subdistrict, target group, stage and
owning agency; overdue cases; and the median time from a report to an officer's first action.

Everything is limited by `access.scope_clause`, like every other case query, and counted by
the database (GROUP BY): nothing loads the cases. Percentiles of the time to a first action
(`first_action_percentiles`) are computed in the database too: `percentile_cont` on PostgreSQL,
and on SQLite the two ranks around each percentile read from one sorted pass (`row_number()`)
and interpolated the same way (linear, as `percentile_cont`), so both give the same answer.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.types import ARRAY

from models import Agency, Area, Case, utcnow
from services.access import Actor, scope_clause
from services.cases import STAGES, TARGET_GROUPS
from services.queue import overdue_clause

DAY_SECONDS = 86400


@dataclass
class CaseStats:
    """The figures of `case_stats`. Each `by_*` list holds dicts with `code`, `count` and
    `overdue` (areas and agencies also carry their names)."""

    as_of: dt.datetime
    total: int = 0
    overdue: int = 0
    with_first_action: int = 0
    median_days_to_first_action: float | None = None
    by_stage: list[dict] = field(default_factory=list)
    by_group: list[dict] = field(default_factory=list)
    by_agency: list[dict] = field(default_factory=list)
    by_district: list[dict] = field(default_factory=list)
    by_subdistrict: list[dict] = field(default_factory=list)


#: The columns `case_stats` counts by, in the order `_counts` returns them.
BY = (Case.stage, Case.target_group, Case.owner_agency_code, Case.district_code,
      Case.subdistrict_code)


def _counts(session: Session, actor: Actor, now: dt.datetime) -> list[dict[str, tuple]]:
    """(count, overdue) per code of each column of BY, from one grouped scan of the scope
    (a province's million cases are read once, not once per column)."""
    overdue = sa.func.sum(sa.case((overdue_clause(now), 1), else_=0))
    rows = session.execute(
        sa.select(*BY, sa.func.count(Case.id), overdue)
        .where(scope_clause(actor)).group_by(*BY))
    tables: list[dict[str, tuple]] = [{} for _column in BY]
    for *codes, count, late in rows:
        for table, code in zip(tables, codes, strict=True):
            had, was_late = table.get(code, (0, 0))
            table[code] = (had + int(count), was_late + int(late or 0))
    return tables


def _row(code: str, counts: dict[str, tuple], **names) -> dict:
    count, late = counts.get(code, (0, 0))
    return {"code": code, **names, "count": count, "overdue": late}


def median_days(pairs) -> float | None:
    """The median of (first action - report) in days over (created_at, first_action_at) pairs,
    rounded to 0.01 day; None without any pair. (Python's reference for a few pairs; the
    figures themselves come from `first_action_percentiles`, in the database.)"""
    days = [(acted - created).total_seconds() / DAY_SECONDS for created, acted in pairs
            if created is not None and acted is not None]
    return round(statistics.median(days), 2) if days else None


def days_between(session: Session, start, end):
    """SQL for (end - start) in days, as a float, on this session's database."""
    if session.get_bind().dialect.name == "postgresql":
        # float / float: an integer divisor would make PostgreSQL divide in numeric (slow)
        return sa.cast(sa.extract("epoch", end - start), sa.Float) / sa.literal(
            float(DAY_SECONDS), sa.Float)
    return sa.func.julianday(end) - sa.func.julianday(start)


def first_action_percentiles(session: Session, where, fractions=(0.5, 0.9)
                             ) -> tuple[int, tuple[float | None, ...]]:
    """How many cases matching `where` had a first action, and the given percentiles (0-1) of
    their days from the report to it, rounded to 0.01 day (None without any such case).

    Linear interpolation between the closest ranks (PostgreSQL's `percentile_cont`): on
    PostgreSQL that function itself, on SQLite only the ranks needed are read from one
    sorted pass. Neither loads the cases into Python."""
    days = days_between(session, Case.created_at, Case.first_action_at)
    where = sa.and_(where, Case.first_action_at.is_not(None))
    if session.get_bind().dialect.name == "postgresql":
        # one ordered-set aggregate with an array of fractions: one sort for all of them
        wanted = sa.literal([float(f) for f in fractions], ARRAY(sa.Float))
        count, values = session.execute(sa.select(
            sa.func.count(),
            sa.func.percentile_cont(wanted).within_group(days).label("p")).where(where)).one()
        count, values = int(count), values or [None for _f in fractions]
    else:
        count = int(session.scalar(sa.select(sa.func.count()).select_from(Case).where(where)))
        values = _ranked_percentiles(session, days, where, count, fractions)
    return count, tuple(None if v is None else round(float(v), 2) for v in values)


def _ranked_percentiles(session: Session, days, where, count: int, fractions) -> list:
    """percentile_cont on a database without it: the value at position f*(n-1) of the
    sorted values, interpolated between its two neighbouring ranks."""
    if count == 0:
        return [None for _f in fractions]
    positions = [f * (count - 1) for f in fractions]
    ranks = sorted({r for p in positions for r in (math.floor(p) + 1, math.ceil(p) + 1)})
    ranked = (sa.select(days.label("days"),
                        sa.func.row_number().over(order_by=days).label("rank"))
              .where(where).subquery())
    at = dict(session.execute(sa.select(ranked.c.rank, ranked.c.days)
                              .where(ranked.c.rank.in_(ranks))).all())
    values = []
    for position in positions:
        low, high = at[math.floor(position) + 1], at[math.ceil(position) + 1]
        values.append(low + (high - low) * (position - math.floor(position)))
    return values


def case_stats(session: Session, actor: Actor, now: dt.datetime | None = None) -> CaseStats:
    """The figures over every case in the actor's scope."""
    now = now or utcnow()
    stats = CaseStats(as_of=now)
    by_stage, by_group, by_agency, by_district, by_subdistrict = _counts(session, actor, now)
    stats.total = sum(count for count, _late in by_stage.values())
    stats.overdue = sum(late for _count, late in by_stage.values())
    stats.by_stage = [_row(code, by_stage) for code in (*STAGES, *sorted(set(by_stage) -
                                                                          set(STAGES)))]
    stats.by_group = [_row(code, by_group) for code in (*TARGET_GROUPS, *sorted(
        set(by_group) - set(TARGET_GROUPS)))]
    agencies = {a.code: a for a in session.scalars(
        sa.select(Agency).where(Agency.code.in_(list(by_agency))))} if by_agency else {}
    stats.by_agency = [
        _row(code, by_agency, name_th=getattr(agencies.get(code), "short_name_th", None),
             name_en=getattr(agencies.get(code), "name_en", None))
        for code in sorted(by_agency)]
    codes = list(by_district) + list(by_subdistrict)
    areas = {a.code: a for a in session.scalars(
        sa.select(Area).where(Area.code.in_(codes)))} if codes else {}

    def area_row(code: str, counts: dict) -> dict:
        place = areas.get(code)
        return _row(code, counts, name_th=place.name_th if place else None,
                    name_en=place.name_en if place else None)

    stats.by_district = [area_row(code, by_district) for code in sorted(by_district)]
    stats.by_subdistrict = [area_row(code, by_subdistrict) for code in sorted(by_subdistrict)]
    stats.with_first_action, (stats.median_days_to_first_action,) = \
        first_action_percentiles(session, scope_clause(actor), (0.5,))
    return stats
