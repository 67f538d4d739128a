"""Counts of the cases an actor may see: by district, subdistrict, target group, stage and
owning agency; overdue cases; and the median time from a report to an officer's first action.

Everything is limited by `access.scope_clause`, like every other case query. The median is
computed in Python from the (report, first action) pairs, so it is the same on SQLite and
PostgreSQL (no percentile functions, no date arithmetic in SQL).
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

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


def _counts(session: Session, actor: Actor, column, now: dt.datetime) -> dict[str, tuple]:
    overdue = sa.func.sum(sa.case((overdue_clause(now), 1), else_=0))
    rows = session.execute(
        sa.select(column, sa.func.count(Case.id), overdue)
        .where(scope_clause(actor)).group_by(column))
    return {code: (int(count), int(late or 0)) for code, count, late in rows}


def _row(code: str, counts: dict[str, tuple], **names) -> dict:
    count, late = counts.get(code, (0, 0))
    return {"code": code, **names, "count": count, "overdue": late}


def median_days(pairs) -> float | None:
    """The median of (first action - report) in days over (created_at, first_action_at) pairs,
    rounded to 0.01 day; None without any pair."""
    days = [(acted - created).total_seconds() / DAY_SECONDS for created, acted in pairs
            if created is not None and acted is not None]
    return round(statistics.median(days), 2) if days else None


def case_stats(session: Session, actor: Actor, now: dt.datetime | None = None) -> CaseStats:
    """The figures over every case in the actor's scope."""
    now = now or utcnow()
    stats = CaseStats(as_of=now)
    by_stage = _counts(session, actor, Case.stage, now)
    by_group = _counts(session, actor, Case.target_group, now)
    by_agency = _counts(session, actor, Case.owner_agency_code, now)
    by_district = _counts(session, actor, Case.district_code, now)
    by_subdistrict = _counts(session, actor, Case.subdistrict_code, now)
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
    pairs = session.execute(
        sa.select(Case.created_at, Case.first_action_at)
        .where(scope_clause(actor), Case.first_action_at.is_not(None))).all()
    stats.with_first_action = len(pairs)
    stats.median_days_to_first_action = median_days(pairs)
    return stats
