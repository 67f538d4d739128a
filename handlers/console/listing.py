"""The queue page's listing: one page of cases in the chosen order, and the counts shown on
the filter chips.

Newest first is `services.queue.list_cases` itself. The other orders (oldest first, deadline
soonest or latest first) page by keyset on (sort key, id) in the same way, over the same
scoped and filtered query (`services.queue`'s filters), so no case is repeated or skipped
when cases are added meanwhile."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import Case
from services import queue
from services.access import Actor, scope_clause

SORTS = ("newest", "oldest", "due_soon", "due_late")
DEFAULT_SORT = "newest"


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
        statement = statement.order_by(Case.id.asc())
    else:
        ascending = sort == "due_soon"
        if cursor:
            due, last_id = _decode(sort, cursor)
            after_id = Case.id > last_id if ascending else Case.id < last_id
            if due is None:  # in the cases without a deadline, which come last
                statement = statement.where(Case.due_at.is_(None), after_id)
            else:
                beyond = Case.due_at > due if ascending else Case.due_at < due
                statement = statement.where(sa.or_(
                    beyond, sa.and_(Case.due_at == due, after_id), Case.due_at.is_(None)))
        if ascending:
            statement = statement.order_by(Case.due_at.asc().nulls_last(), Case.id.asc())
        else:
            statement = statement.order_by(Case.due_at.desc().nulls_last(), Case.id.desc())
    rows = list(session.scalars(statement.limit(limit + 1)))
    shown = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = shown[-1]
        next_cursor = _encode(sort, last.due_at, last.id)
    return shown, next_cursor


def _count(session: Session, statement: sa.Select) -> int:
    return int(session.scalar(statement) or 0)


def chip_counts(session: Session, actor: Actor, filters: queue.CaseFilters,
                now: dt.datetime) -> dict:
    """How many cases each chip would show, with the other filters as they are: per stage
    (one grouped query), overdue, referred to us, and all stages together."""
    no_stage = replace(filters, stage=None)
    rows = session.execute(
        _filtered(sa.select(Case.stage, sa.func.count(Case.id)).where(scope_clause(actor)),
                  actor, no_stage, now).group_by(Case.stage))
    by_stage = {stage: int(count) for stage, count in rows}
    count_of = sa.select(sa.func.count(Case.id)).where(scope_clause(actor))
    return {
        "stages": by_stage,
        "all": sum(by_stage.values()),
        "overdue": _count(session, _filtered(count_of, actor, replace(filters, overdue=True),
                                             now)),
        "referred_to_us": _count(session, _filtered(
            count_of, actor, replace(filters, referred_to_us=True), now)),
    }
