"""Small-count suppression for published tables (the public dashboard, issue #7 point 7).

A count from 1 to 4 could point at a child, so a published table never shows one: it is
shown as "<5" (primary suppression; `SMALL`). That alone is not enough: a row total minus the
row's other cells would give it back, and so could the sums and differences of several totals
(row 1 + row 2 - column 1 - column 2 ...). So more cells are suppressed (secondary or
complementary suppression) until no small count can be worked out: a count of 5 or more is
then `HIDDEN` (a "hidden" mark), and a zero is shown as "<5" too (`SMALL`; it is less than 5).

Zero: shown as 0, unless it is needed to protect a small count, then "<5". A zero points at no
child, and hiding every zero would empty the tables of a province where most places have few
cases; but if zeros were always shown, every "<5" would be known to be at least 1, and a line
like "total <5 = four cells of <5" would give each of them away (all 1). With complementary
zeros a reader knows only this: "<5" is 0..4 and a hidden cell is 5 or more. The protection
below holds with that knowledge.

How it is proved for each suppressed cell. A table with its row and column totals is a
network: in the matrix where the totals are negated (u = count inside, -count on the margins,
the grand total as is) every row and every column sums to zero. Add 1 to a cell, take 1 from
another cell of its row, add 1 to another of that cell's column, ... until the cycle closes on
the first cell's row: every row and column still sums to zero, so every published total still
holds. If each cell on such a cycle is suppressed and stays within what its mark says, the
changed table is as consistent with the page as the real one, and the cell's value cannot be
told. `protect` finds such a cycle for every small cell (a shortest path in the graph of rows
and columns, where an already suppressed cell costs nothing and a shown one costs its count,
so little is hidden) and suppresses the cells it uses.

This covers every way of combining the published figures (any sum or difference of totals and
cells), not only one line at a time; as a consequence no row, column or total line ever has
exactly one suppressed cell. Cells can be `locked` (always shown, never used by a cycle): a
figure that another table publishes too, so two linked tables are protected each on its own.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

THRESHOLD = 5
TOTAL = "*"
SHOWN, SMALL, HIDDEN = "shown", "small", "hidden"


class Unprotectable(ValueError):
    """No set of hidden cells can protect a small count of this table (it is too small or
    too locked to publish)."""


@dataclass
class Table:
    """A two-way table of counts with its row and column totals. `value[(row, col)]` holds
    every cell, the totals under the key TOTAL (`value[(row, TOTAL)]` a row's total,
    `value[(TOTAL, TOTAL)]` the grand total); `state` says how each is published."""

    rows: list[str]
    cols: list[str]
    value: dict[tuple[str, str], int]
    state: dict[tuple[str, str], str] = field(default_factory=dict)
    locked: frozenset = frozenset()

    @classmethod
    def of(cls, rows: Sequence[str], cols: Sequence[str], counts: dict[tuple[str, str], int],
           locked: Iterable[tuple[str, str]] = ()) -> Table:
        """The table of `counts` (missing cells are 0) with its totals, not yet protected."""
        if TOTAL in rows or TOTAL in cols:
            raise ValueError(f"{TOTAL!r} names the totals")
        value: dict[tuple[str, str], int] = {}
        for r in rows:
            for c in cols:
                n = int(counts.get((r, c), 0))
                if n < 0:
                    raise ValueError("a count cannot be negative")
                value[(r, c)] = n
        for r in rows:
            value[(r, TOTAL)] = sum(value[(r, c)] for c in cols)
        for c in cols:
            value[(TOTAL, c)] = sum(value[(r, c)] for r in rows)
        value[(TOTAL, TOTAL)] = sum(value[(r, TOTAL)] for r in rows)
        return cls(list(rows), list(cols), value, locked=frozenset(locked))

    @property
    def all_rows(self) -> list[str]:
        return [*self.rows, TOTAL]

    @property
    def all_cols(self) -> list[str]:
        return [*self.cols, TOTAL]

    def keys(self) -> list[tuple[str, str]]:
        return [(r, c) for r in self.all_rows for c in self.all_cols]

    def lines(self) -> list[tuple[tuple[str, str], list[tuple[str, str]]]]:
        """Every published equation as (its total, its parts): each row (the total row too)
        and each column (the total column too)."""
        found = [((r, TOTAL), [(r, c) for c in self.cols]) for r in self.all_rows]
        found += [((TOTAL, c), [(r, c) for r in self.rows]) for c in self.all_cols]
        return found

    def shown(self, row: str, col: str) -> int | None:
        """The published figure, or None when it is suppressed."""
        return self.value[(row, col)] if self.state.get((row, col), SHOWN) == SHOWN else None

    def suppressed(self, key: tuple[str, str]) -> bool:
        return self.state.get(key, SHOWN) != SHOWN


def is_small(n: int) -> bool:
    return 0 < n < THRESHOLD


def bounds(table: Table, key: tuple[str, str], state: str | None = None) -> tuple[int, float]:
    """What the page tells about a cell: its range."""
    state = state or table.state.get(key, SHOWN)
    if state == SMALL:
        return 0, THRESHOLD - 1
    if state == HIDDEN:
        return THRESHOLD, float("inf")
    n = table.value[key]
    return n, n


def _sign(key: tuple[str, str]) -> int:
    """+1 for an inner cell and the grand total, -1 for a row or column total (u = sign * n:
    every row and column of u sums to zero)."""
    return 1 if (key[0] == TOTAL) == (key[1] == TOTAL) else -1


def _may_move(table: Table, key: tuple[str, str], step: int, state: str) -> bool:
    """Whether u of this cell may change by `step` (+1 or -1) within its range."""
    low, high = bounds(table, key, state)
    n = table.value[key] + step * _sign(key)
    return low <= n <= high


def hidden_state(n: int) -> str:
    """How a shown count is marked once suppressed to protect another: a zero as "<5", a
    count of 5 or more as hidden."""
    return SMALL if n < THRESHOLD else HIDDEN


def _cost(table: Table, key: tuple[str, str]) -> float | None:
    """What suppressing a shown cell costs (None: it may not be: a locked cell). A zero costs
    least (little is lost), a count its size; totals cost more than inner cells, the grand
    total most."""
    if key in table.locked:
        return None
    n = table.value[key]
    grand = table.value[(TOTAL, TOTAL)] + 1
    margins = (key[0] == TOTAL) + (key[1] == TOTAL)
    return max(n, 1) + grand * (margins * (margins + 1)) // 2


def _path(table: Table, start: tuple[str, str], goal: tuple[str, str],
          skip: tuple[str, str], free_only: bool) -> tuple[float, list] | None:
    """The cheapest walk from one vertex (("R", row) or ("C", col)) to another in the graph
    where a row-to-column step adds 1 to u of a cell and a column-to-row step takes 1 away.
    A suppressed cell that may move that way costs nothing; a shown cell that could be hidden
    costs `_cost` (unless `free_only`). Returns (cost, cells to hide) or None."""
    order = itertools.count()
    best = {start: 0.0}
    came: dict = {}
    heap = [(0.0, next(order), start)]
    while heap:
        cost, _n, vertex = heapq.heappop(heap)
        if vertex == goal:
            hide = []
            while vertex != start:
                vertex, key, price = came[vertex]
                if price:
                    hide.append(key)
            return cost, hide
        if cost > best.get(vertex, float("inf")):
            continue
        kind, name = vertex
        if kind == "R":
            step = 1
            neighbours = [(("C", c), (name, c)) for c in table.all_cols]
        else:
            step = -1
            neighbours = [(("R", r), (r, name)) for r in table.all_rows]
        for target, key in neighbours:
            if key == skip or key in table.locked:
                continue
            state = table.state.get(key, SHOWN)
            if state != SHOWN:
                price = 0.0 if _may_move(table, key, step, state) else None
            elif free_only:
                price = None
            else:
                price = _cost(table, key)
                if price is not None and not _may_move(table, key, step,
                                                       hidden_state(table.value[key])):
                    price = None
            if price is None:
                continue
            total = cost + price
            if total < best.get(target, float("inf")):
                best[target] = total
                came[target] = (vertex, key, price)
                heapq.heappush(heap, (total, next(order), target))
    return None


def _cycle(table: Table, key: tuple[str, str], free_only: bool) -> tuple[float, list] | None:
    """The cheapest cycle through a suppressed cell (either way round): its cost and the
    shown cells it would hide."""
    row, col = ("R", key[0]), ("C", key[1])
    state = table.state[key]
    options = []
    if _may_move(table, key, 1, state):  # u + 1 on this cell: back from its column to its row
        found = _path(table, col, row, key, free_only)
        if found:
            options.append(found)
    if _may_move(table, key, -1, state):
        found = _path(table, row, col, key, free_only)
        if found:
            options.append(found)
    return min(options, key=lambda option: option[0]) if options else None


def is_protected(table: Table, key: tuple[str, str]) -> bool:
    """Whether the suppressed cell lies on a cycle of suppressed cells (so it cannot be told)."""
    return _cycle(table, key, free_only=True) is not None


def protect(table: Table) -> Table:
    """Mark the small counts (1-4) "<5" and suppress the fewest, smallest other cells (zeros
    first) so that none of them can be worked out from what is shown. Raises Unprotectable
    if that is impossible (then the table must not be published)."""
    for key in table.keys():
        if is_small(table.value[key]):
            if key in table.locked:
                raise Unprotectable(f"locked cell {key} holds a small count")
            table.state[key] = SMALL
        else:
            table.state[key] = SHOWN
    small = sorted((k for k in table.keys() if table.state[k] == SMALL),
                   key=lambda k: (-table.value[k], k))
    for key in small:
        if is_protected(table, key):
            continue
        found = _cycle(table, key, free_only=False)
        if found is None:
            raise Unprotectable(f"no cycle protects {key}")
        for hidden in found[1]:
            table.state[hidden] = hidden_state(table.value[hidden])
    if not all(is_protected(table, k) for k in table.keys() if table.suppressed(k)):
        raise Unprotectable("a suppressed cell is left alone")  # never expected: a guard
    return table
