"""The figures of the public dashboard at /public (issue #7 point 7): aggregate counts of the
province's cases, with every count from 1 to 4 suppressed so no child can be pointed at.

Two tables are published, each with its row and column totals:

- by district: each district of the province x (young children, out-of-school) x (still being
  helped, helped and closed); its totals give each district's count and the province's;
- by target group x stage, for the whole province.

Nothing else: no names, no villages, no references, no area codes (rows are keyed by the
district's code here and shown by its name only).

The two tables share figures: the province's count of each group still open and closed is
the first table's column totals and follows from the second table's "closed" and total
columns. Those shared figures are published as they are (locked) when none of them is 1-4,
and then each table is protected on its own (services.suppression: what one table hides
cannot be undone by the other, because every figure they have in common is shown in both).
When a shared figure is 1-4, or a table cannot be protected, the second table is withheld
and the first is protected without locks. With fewer than 5 cases in the province nothing
is published but that.

The figures are kept for PUBLIC_CACHE_SECONDS (default 300) per process, so a busy page
recomputes at most once per period (one grouped query over the cases).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import Area, Case, utcnow
from services.cases import STAGES, TARGET_GROUPS
from services.suppression import THRESHOLD, TOTAL, Table, Unprotectable, protect

OPEN, CLOSED = "open", "closed"
STATUSES = (OPEN, CLOSED)
DISTRICT_COLUMNS = [f"{group}:{status}" for group in TARGET_GROUPS for status in STATUSES]


@dataclass
class PublicFigures:
    """What /public shows. `districts` and `stages` are protected tables (None: withheld);
    `names` gives each district row its Thai and English names."""

    as_of: dt.datetime
    province_th: str
    province_en: str
    total: int | None
    enough: bool
    districts: Table | None = None
    stages: Table | None = None
    names: dict[str, tuple[str, str]] = field(default_factory=dict)

    def province_count(self, status: str) -> int | None:
        """The province's open or closed count, when both groups' figures are shown (a sum of
        shown figures: 0 or 5 and more, never a small count)."""
        if self.districts is None:
            return None
        parts = [self.districts.shown(TOTAL, f"{group}:{status}") for group in TARGET_GROUPS]
        return None if any(part is None for part in parts) else sum(parts)


def counts(session: Session, province: str) -> dict[tuple[str, str, str], int]:
    """(district, group, stage) -> cases, over the whole province (one grouped query)."""
    rows = session.execute(
        sa.select(Case.district_code, Case.target_group, Case.stage, sa.func.count())
        .where(Case.district_code.like(f"{province}%"))
        .group_by(Case.district_code, Case.target_group, Case.stage))
    return {(d, g, s): int(n) for d, g, s, n in rows}


def build(session: Session, province: str, now: dt.datetime | None = None) -> PublicFigures:
    """Count, then protect: the figures of the public page (no cache)."""
    now = now or utcnow()
    place = session.get(Area, province)
    districts = list(session.scalars(
        sa.select(Area).where(Area.level == "district", Area.parent_code == province)
        .order_by(Area.code)))
    data = counts(session, province)
    known = {d.code for d in districts}
    rows = [d.code for d in districts]
    by_district: dict[tuple[str, str], int] = {}
    by_stage: dict[tuple[str, str], int] = {}
    for (district, group, stage), n in data.items():
        if district not in known or group not in TARGET_GROUPS or stage not in STAGES:
            continue  # not a place or code of this province's tables: never shown
        status = CLOSED if stage == "closed" else OPEN
        key = (district, f"{group}:{status}")
        by_district[key] = by_district.get(key, 0) + n
        by_stage[(group, stage)] = by_stage.get((group, stage), 0) + n
    total = sum(by_district.values())
    result = PublicFigures(
        as_of=now, province_th=place.name_th if place else "",
        province_en=place.name_en if place else "", total=total if total >= THRESHOLD else None,
        enough=total >= THRESHOLD,
        names={d.code: (d.name_th, d.name_en) for d in districts})
    if not result.enough:
        return result
    result.districts, result.stages = protect_both(rows, by_district, by_stage)
    return result


def protect_both(rows: list[str], by_district: dict, by_stage: dict
                 ) -> tuple[Table | None, Table | None]:
    """The two tables protected together (their shared figures locked), or the district
    table alone (unlocked) when they cannot be."""
    first = Table.of(rows, DISTRICT_COLUMNS, by_district)
    shared = [first.value[(TOTAL, column)] for column in first.all_cols]
    if not any(0 < n < THRESHOLD for n in shared):
        linked = Table.of(rows, DISTRICT_COLUMNS, by_district,
                          locked=[(TOTAL, column) for column in first.all_cols])
        second = Table.of(list(TARGET_GROUPS), list(STAGES), by_stage,
                          locked=[(row, column) for row in [*TARGET_GROUPS, TOTAL]
                                  for column in ("closed", TOTAL)])
        try:
            return protect(linked), protect(second)
        except Unprotectable:
            pass
    try:
        return protect(first), None
    except Unprotectable:
        return None, None


class Cache:
    """The public figures of one province, computed at most once per `seconds` (one
    computation at a time; the others wait for it and share it)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._value: PublicFigures | None = None
        self._at = float("-inf")
        self.computed = 0

    def get(self, session: Session, province: str) -> PublicFigures:
        with self._lock:
            if self._value is None or time.monotonic() - self._at >= self.seconds \
                    or self._province != province:
                self._value = build(session, province)
                self._province = province
                self._at = time.monotonic()
                self.computed += 1
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._value = None

    _province: str | None = None
