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

Once a day, from a fixed cut-off. Figures renewed every few minutes could be compared: a
district going from 12 to 13 between two visits says a child was just reported there, and the
moment of a report narrows down who. So the page publishes the figures of one cut-off a day,
00:00 in Khon Kaen (`cut_off`): the cases reported before it, counted once (`current`, by the
first request after midnight; one grouped query), stored in `public_snapshots` and served from
there all day by every process (a per-process `Cache` keeps the day's figures in memory). Two
looks the same day show the same figures; a day's change is that of a whole day. The stages
are those of the moment the day's figures were counted (normally just after midnight).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import BANGKOK, Area, Case, PublicSnapshot, utcnow
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


def cut_off(now: dt.datetime) -> dt.datetime:
    """The day's cut-off: 00:00 in Khon Kaen of `now`'s day there (an aware UTC time)."""
    local = now.astimezone(BANGKOK)
    return dt.datetime.combine(local.date(), dt.time(), BANGKOK).astimezone(dt.UTC)


def counts(session: Session, province: str, before: dt.datetime | None = None
           ) -> dict[tuple[str, str, str], int]:
    """(district, group, stage) -> cases, over the whole province (one grouped query); only
    the cases reported before `before` when given."""
    where = [Case.district_code.like(f"{province}%")]
    if before is not None:
        where.append(Case.created_at < before)
    rows = session.execute(
        sa.select(Case.district_code, Case.target_group, Case.stage, sa.func.count())
        .where(*where)
        .group_by(Case.district_code, Case.target_group, Case.stage))
    return {(d, g, s): int(n) for d, g, s, n in rows}


def build(session: Session, province: str, now: dt.datetime | None = None,
          before: dt.datetime | None = None) -> PublicFigures:
    """Count, then protect: the figures of the public page, of every case now or (`before`)
    of those reported before a cut-off, which is then their `as_of`. Nothing is stored."""
    now = before or now or utcnow()
    place = session.get(Area, province)
    districts = list(session.scalars(
        sa.select(Area).where(Area.level == "district", Area.parent_code == province)
        .order_by(Area.code)))
    data = counts(session, province, before)
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


# -- stored once a day -----------------------------------------------------------------------

def _table_json(table: Table | None) -> dict | None:
    if table is None:
        return None
    return {"rows": table.rows, "cols": table.cols,
            "cells": [[r, c, table.value[(r, c)], table.state.get((r, c))]
                      for r, c in table.keys()],
            "locked": sorted([list(key) for key in table.locked])}


def _table_of(data: dict | None) -> Table | None:
    if data is None:
        return None
    value = {(r, c): n for r, c, n, _state in data["cells"]}
    state = {(r, c): st for r, c, _n, st in data["cells"] if st is not None}
    return Table(rows=list(data["rows"]), cols=list(data["cols"]), value=value, state=state,
                 locked=frozenset(tuple(key) for key in data["locked"]))


def to_json(figures: PublicFigures) -> str:
    """The figures as stored in `public_snapshots.figures`."""
    return json.dumps({
        "as_of": figures.as_of.isoformat(), "province_th": figures.province_th,
        "province_en": figures.province_en, "total": figures.total, "enough": figures.enough,
        "districts": _table_json(figures.districts), "stages": _table_json(figures.stages),
        "names": figures.names}, ensure_ascii=False, separators=(",", ":"))


def from_json(text: str) -> PublicFigures:
    data = json.loads(text)
    return PublicFigures(
        as_of=dt.datetime.fromisoformat(data["as_of"]), province_th=data["province_th"],
        province_en=data["province_en"], total=data["total"], enough=data["enough"],
        districts=_table_of(data["districts"]), stages=_table_of(data["stages"]),
        names={code: tuple(pair) for code, pair in data["names"].items()})


def _insert_missing(session: Session, **values):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(PublicSnapshot).values(**values).on_conflict_do_nothing(
        index_elements=["province_code", "day"])


def stored(session: Session, province: str, day: dt.date) -> PublicFigures | None:
    """The figures stored for a province and day (None if not counted yet)."""
    text = session.scalar(sa.select(PublicSnapshot.figures).where(
        PublicSnapshot.province_code == province, PublicSnapshot.day == day))
    return from_json(text) if text is not None else None


def current(session: Session, province: str, now: dt.datetime | None = None
            ) -> tuple[PublicFigures, bool]:
    """The figures of today's cut-off (of `now`'s day in Khon Kaen): the stored ones, else
    counted now and stored, and whether this call counted them. Two processes counting at
    once: the first stored wins and both return it. Commits what it stores."""
    now = now or utcnow()
    mark = cut_off(now)
    day = mark.astimezone(BANGKOK).date()
    kept = stored(session, province, day)
    if kept is not None:
        return kept, False
    fresh = build(session, province, before=mark)
    session.execute(_insert_missing(session, province_code=province, day=day, cut_off=mark,
                                    computed_at=utcnow(), figures=to_json(fresh)))
    session.commit()
    return stored(session, province, day) or fresh, True


class Cache:
    """The public figures of the day, kept in this process once read or counted (`current`):
    the next cut-off's are read when the day changes. One read at a time; the others wait
    for it and share it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._value: PublicFigures | None = None
        self._key: tuple[str, dt.date] | None = None
        self.computed = 0  # how many times this process counted a day's figures

    def get(self, session: Session, province: str,
            now: dt.datetime | None = None) -> PublicFigures:
        now = now or utcnow()
        key = (province, cut_off(now).astimezone(BANGKOK).date())
        with self._lock:
            if self._value is None or self._key != key:
                self._value, counted = current(session, province, now)
                self._key = key
                self.computed += counted
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._value = None
