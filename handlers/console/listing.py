"""The queue page's listing: one page of cases in the chosen order, and the counts shown on
the filter chips.

Newest first is `services.queue.list_cases` itself. The other orders (oldest first, deadline
soonest or latest first) page by keyset on (sort key, id) in the same way, over the same
scoped and filtered query (`services.queue`'s filters), so no case is repeated or skipped
when cases are added meanwhile.

Built to stay fast on a province's million cases (bench/console.py measures it):

- the deadline orders read the cases with a deadline first, by (deadline, id) both ways, then
  those without one (closed cases) by id: each part is one index range (ix_cases_district_due
  for an officer's district, ix_cases_due_at for a province) instead of a sort of the scope;
- each chip count stops at `COUNT_CAP` + 1 cases and is then shown as "more than 10,000":
  counting a province's cases exactly on every page view would read the whole table. Below
  the cap a count is exact. All the chips are counted in one statement.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, replace

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from models import Case
from services import queue
from services.access import Actor, scope_clause
from services.cases import STAGES

SORTS = ("newest", "oldest", "due_soon", "due_late")
DEFAULT_SORT = "newest"
#: A chip count stops here (and says "more than"); below it, counts are exact.
COUNT_CAP = 10_000


@dataclass(frozen=True)
class Count:
    """A chip's count: exact, or (`more`) at least `value` + 1."""

    value: int
    more: bool = False

    def __str__(self) -> str:
        if self.more:
            return _("more than %(count)s", count=f"{self.value:,}")
        return f"{self.value:,}"


def _filtered(statement: sa.Select, actor: Actor, filters: queue.CaseFilters,
              now: dt.datetime) -> sa.Select:
    # services.queue's own filter clauses (see the report: a public name would be better)
    return queue._filtered(statement, actor, filters, now)


def _encode(sort: str, due: dt.datetime | None, last_id: int) -> str:
    raw = json.dumps({"v": 1, "s": sort, "d": due.isoformat() if due else None,
                      "i": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(sort: str, cursor: str) -> tuple[dt.datetime | None, int]:
    try:
        text = cursor.strip()
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        due = dt.datetime.fromisoformat(data["d"]) if data["d"] is not None else None
        last_id = data["i"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise queue.BadCursor(cursor) from exc
    if (data.get("v") != 1 or data.get("s") != sort or not isinstance(last_id, int)
            or isinstance(last_id, bool) or not 0 < last_id <= queue.MAX_ID
            or (due is not None and due.tzinfo is None)):
        raise queue.BadCursor(cursor)
    return due, last_id


def page(session: Session, actor: Actor, filters: queue.CaseFilters, sort: str,
         cursor: str | None, limit: int, now: dt.datetime) -> tuple[list[Case], str | None]:
    """One page of cases in `sort` order and the cursor of the next (None on the last)."""
    if sort == "newest":
        return queue.list_cases(session, actor, filters, cursor=cursor, limit=limit, now=now)
    statement = _filtered(sa.select(Case).where(scope_clause(actor)), actor, filters, now)
    if sort == "oldest":
        if cursor:
            statement = statement.where(Case.id > _decode(sort, cursor)[1])
        rows = list(session.scalars(statement.order_by(Case.id.asc()).limit(limit + 1)))
    else:
        rows = _by_deadline(session, statement, sort == "due_soon",
                            _decode(sort, cursor) if cursor else None, limit + 1)
    shown = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = shown[-1]
        next_cursor = _encode(sort, last.due_at, last.id)
    return shown, next_cursor


def _by_deadline(session: Session, statement: sa.Select, ascending: bool,
                 after: tuple[dt.datetime | None, int] | None, wanted: int) -> list[Case]:
    """Up to `wanted` cases after the cursor position `after` (deadline, id): the cases with a
    deadline by (deadline, id), soonest or latest first, then those without one by id."""
    rows: list[Case] = []
    if after is None or after[0] is not None:
        dated = statement.where(Case.due_at.is_not(None))
        if after is not None:
            position = sa.tuple_(Case.due_at, Case.id)
            mark = (after[0], after[1])
            dated = dated.where(position > mark if ascending else position < mark)
        order = (Case.due_at.asc(), Case.id.asc()) if ascending else (Case.due_at.desc(),
                                                                       Case.id.desc())
        rows = list(session.scalars(dated.order_by(*order).limit(wanted)))
    if len(rows) < wanted:
        undated = statement.where(Case.due_at.is_(None))
        if after is not None and after[0] is None:
            undated = undated.where(Case.id > after[1] if ascending else Case.id < after[1])
        rows += session.scalars(undated.order_by(Case.id.asc() if ascending else Case.id.desc())
                                .limit(wanted - len(rows)))
    return rows


def _bounded(statement: sa.Select, cap: int):
    """How many rows `statement` gives, reading at most cap + 1 of them (a scalar subquery)."""
    first = statement.with_only_columns(sa.literal(1)).limit(cap + 1).subquery()
    return sa.select(sa.func.count()).select_from(first).scalar_subquery()


def chip_counts(session: Session, actor: Actor, filters: queue.CaseFilters,
                now: dt.datetime, cap: int | None = None) -> dict:
    """How many cases each chip would show, with the other filters as they are: per stage,
    overdue, referred to us, and all stages together; each a `Count`, exact up to `cap`
    (COUNT_CAP) and "more than `cap`" beyond. One statement."""
    cap = COUNT_CAP if cap is None else cap
    scoped = sa.select(Case.id).where(scope_clause(actor))
    no_stage = replace(filters, stage=None)
    # overdue, escalated and untouched cases are open ones: no closed case to look for
    open_only = bool(filters.overdue or filters.escalated or filters.stale)
    counts = {stage: _bounded(_filtered(scoped.where(Case.stage == stage), actor, no_stage,
                                        now), cap)
              for stage in STAGES if not (open_only and stage == "closed")}
    counts["overdue"] = _bounded(_filtered(scoped, actor, replace(filters, overdue=True), now),
                                 cap)
    counts["referred_to_us"] = _bounded(_filtered(
        scoped, actor, replace(filters, referred_to_us=True), now), cap)
    row = session.execute(sa.select(*(value.label(key) for key, value in counts.items()))).one()
    found = {key: int(value) for key, value in row._mapping.items()}

    def count(value: int) -> Count:
        return Count(cap, more=True) if value > cap else Count(value)

    by_stage = {stage: count(found[stage]) for stage in STAGES if found.get(stage)}
    capped = any(c.more for c in by_stage.values())
    total = sum(c.value for c in by_stage.values())
    return {
        "stages": by_stage,
        # every stage counted exactly: their sum; one at the cap: more than the sum
        "all": Count(total, more=True) if capped else Count(total),
        "overdue": count(found["overdue"]),
        "referred_to_us": count(found["referred_to_us"]),
        "capped": capped or found["overdue"] > cap or found["referred_to_us"] > cap,
    }
