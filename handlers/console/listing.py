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
- the group, district and subdistrict options of the filters carry their counts too ("Nam
  Phong (1,234)": the cases that option would list, the other filters as they are), from one
  more read in the same statement (`_places`): the officer's whole scope when it holds at
  most `SCOPE_READ` (50,000) cases, each tested against the other filters and counted by
  group, district and subdistrict, so its cost does not depend on the filters; with a name
  searched, the matching cases (at most `COUNT_CAP` + 1). Every count shown is exact; a
  larger scope (a province of a million) gets no counts in its lists, and the page says
  so. Two other ways were measured on 300,000 cases in PostgreSQL and dropped: a capped
  count per option, like a chip (the chips' statement 2-6 times slower: 26 districts each
  read up to the cap, 18 subdistricts each a scan of their district's range), and a read
  of the cases matching the other filters up to the cap (a rare filter, such as escalated
  to the province, then reads most of the province to find them: twice the time).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.sql import util as sql_util

from bot.i18n import gettext as _
from models import Case
from services import queue
from services.access import Actor, scope_clause
from services.cases import STAGES, TARGET_GROUPS

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
                now: dt.datetime, cap: int | None = None, districts: list[str] = (),
                subdistricts: list[str] = ()) -> dict:
    """How many cases each chip would show, with the other filters as they are: per stage,
    overdue, referred to us, and all stages together, each a `Count`, exact up to `cap`
    (COUNT_CAP) and "more than `cap`" beyond; and (`options`, by kind and code) how many
    each option of the group select and of the `districts` and `subdistricts` listed in
    their selects would list (`_option_counts`: exact, or None when more than `cap` cases
    match the other filters). One statement."""
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
    # how many cases the scope holds, up to SCOPE_READ + 1: whether the options are counted
    size = sa.select(sa.func.count().label("n")).select_from(
        sa.select(sa.literal(1).label("one")).where(scope_clause(actor))
        .limit(SCOPE_READ + 1).subquery()).cte("scope_size")
    counts["scope_size"] = sa.select(size.c.n).scalar_subquery()
    places = _places(actor, filters, now, cap,
                     sa.select(size.c.n).scalar_subquery() <= SCOPE_READ)
    rows = session.execute(
        sa.select(*(value.label(key) for key, value in counts.items()),
                  places.c.target_group, places.c.district_code, places.c.subdistrict_code,
                  places.c.n)
        .select_from(sa.select(sa.literal(1).label("one")).subquery()
                     .outerjoin(places, sa.true()))).all()
    found = {key: int(rows[0]._mapping[key]) for key in counts}

    def count(value: int) -> Count:
        return Count(cap, more=True) if value > cap else Count(value)

    options = [("group", code) for code in TARGET_GROUPS] + \
        [("district", code) for code in districts] + \
        [("subdistrict", code) for code in subdistricts]
    places = [(row.target_group, row.district_code, row.subdistrict_code, int(row.n))
              for row in rows if row.n is not None]
    whole = found["scope_size"] <= SCOPE_READ
    by_option = _option_counts(filters, options, places, cap, whole)
    by_stage = {stage: count(found[stage]) for stage in STAGES if found.get(stage)}
    capped = any(c.more for c in by_stage.values())
    total = sum(c.value for c in by_stage.values())
    return {
        "stages": by_stage,
        # every stage counted exactly: their sum; one at the cap: more than the sum
        "all": Count(total, more=True) if capped else Count(total),
        "overdue": count(found["overdue"]),
        "referred_to_us": count(found["referred_to_us"]),
        "options": by_option,
        "options_counted": any(c is not None for c in by_option.values()),
        "capped": capped or found["overdue"] > cap or found["referred_to_us"] > cap,
    }


#: The options' counts come from one read of the officer's whole scope when it holds at most
#: this many cases (or, with a name searched, of the matches, at most COUNT_CAP + 1).
SCOPE_READ = 50_000


def _places(actor: Actor, filters: queue.CaseFilters, now: dt.datetime, cap: int,
            small_scope):
    """The cases counted by (group, district, subdistrict) for the options' counts (`n`:
    those that match every filter but the group, district and subdistrict). A subquery of
    the chips' statement.

    Without a name searched: the officer's whole scope, read only when it holds at most
    SCOPE_READ cases (`small_scope`, a condition the database tests once, before reading),
    each case tested against the other filters (`count(*) FILTER (WHERE ...)`), so the read
    costs the same whatever the filters (a rare filter does not make it search a whole
    province). With a name: the matching cases themselves (the trigram index finds them),
    at most `cap` + 1."""
    base = replace(filters, group=None, district=None, subdistrict=None)
    if base.q is not None or base.reference is not None:
        matches = _filtered(sa.select(Case.target_group, Case.district_code,
                                      Case.subdistrict_code).where(scope_clause(actor)),
                            actor, base, now).limit(cap + 1).subquery()
        return (sa.select(matches.c.target_group, matches.c.district_code,
                          matches.c.subdistrict_code, sa.func.count().label("n"))
                .group_by(matches.c.target_group, matches.c.district_code,
                          matches.c.subdistrict_code).subquery())
    test = _filtered(sa.select(Case.id), actor, base, now).whereclause
    # the scope's rows carry the columns the other filters test, and only those (so that
    # PostgreSQL reads them from the queue's covering index alone)
    wanted = {Case.target_group, Case.district_code, Case.subdistrict_code}
    if test is not None:
        wanted |= {column for column in sa.sql.visitors.iterate(test)
                   if isinstance(column, sa.Column) and column.table is Case.__table__}
    columns = sorted(wanted, key=lambda column: column.name)
    scope = (sa.select(*columns).where(scope_clause(actor), small_scope)
             .limit(SCOPE_READ + 1).subquery())
    n = sa.func.count()
    if test is not None:
        n = n.filter(sql_util.ClauseAdapter(scope).traverse(test))
    return (sa.select(scope.c.target_group, scope.c.district_code, scope.c.subdistrict_code,
                      n.label("n"))
            .group_by(scope.c.target_group, scope.c.district_code, scope.c.subdistrict_code)
            .subquery())


def _option_counts(filters: queue.CaseFilters, options: list[tuple[str, str]],
                   places: list[tuple[str, str, str, int]], cap: int, whole: bool
                   ) -> dict[tuple[str, str], Count | None]:
    """Each option's count from the counted places (`_places`): the cases it would list,
    the other filters as they are (a district's option leaves the subdistrict aside). Exact
    when the read covered the scope (`whole`) or the name's matches were `cap` or fewer.
    Otherwise a count per option would need a count of its own (on a million cases, a read
    of most of the province for each district): the options say nothing rather than guess
    (None), and the page's note says why."""
    searched = filters.q is not None or filters.reference is not None
    if (searched and sum(n for *_place, n in places) > cap) or (not searched and not whole):
        return {option: None for option in options}
    found: dict[tuple[str, str], int] = {}

    def add(kind: str, code: str, n: int) -> None:
        found[(kind, code)] = found.get((kind, code), 0) + n

    for group, district, subdistrict, n in places:
        in_group = filters.group is None or group == filters.group
        in_place = ((filters.district is None or district == filters.district)
                    and (filters.subdistrict is None or subdistrict == filters.subdistrict))
        if in_place:
            add("group", group, n)
        if in_group:
            add("district", district, n)
            if filters.district is None or district == filters.district:
                add("subdistrict", subdistrict, n)
    return {option: Count(found.get(option, 0)) for option in options}
