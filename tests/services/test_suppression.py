"""Small-count suppression (services.suppression): no count from 1 to 4 is published, and none
can be worked out from what is, by any line (a total minus its shown cells), by differencing
two or more totals (linear algebra over every published equation), or by combining that with
what the marks tell ("<5" is 1..4, a hidden cell is 5 or more; brute force on small tables).

Property-style tests over random tables (hypothesis, examples capped for CI) check each attack
with its own code, written independently of the cycles the module uses to protect."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services import suppression
from services.suppression import HIDDEN, SHOWN, SMALL, TOTAL, Table, Unprotectable, protect

EXAMPLES = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def table_of(grid: list[list[int]], locked=()) -> Table:
    rows = [f"r{i}" for i in range(len(grid))]
    cols = [f"c{j}" for j in range(len(grid[0]))]
    counts = {(rows[i], cols[j]): n for i, line in enumerate(grid) for j, n in enumerate(line)}
    return Table.of(rows, cols, counts, locked)


# -- the attackers (independent of the module's cycles) ---------------------------------------

def published(table: Table) -> dict:
    """What a reader of the page knows: shown figures and the marks."""
    return {key: table.value[key] if table.state[key] == SHOWN else table.state[key]
            for key in table.keys()}


def line_attack(table: Table) -> set:
    """Cells a reader gets from one line: its total (or a part) minus the other shown figures
    when exactly one figure of the line is suppressed."""
    found = set()
    for total, parts in table.lines():
        members = [total, *parts]
        hidden = [k for k in members if table.suppressed(k)]
        if len(hidden) == 1:
            found.add(hidden[0])
    return found


def algebra_attack(table: Table) -> set:
    """Cells a reader gets from any sum or difference of the published equations: the unknowns
    whose unit vector lies in the row space of the system (exact Gaussian elimination)."""
    unknowns = [k for k in table.keys() if table.suppressed(k)]
    index = {k: i for i, k in enumerate(unknowns)}
    rows = []
    for total, parts in table.lines():
        coefficients = [Fraction(0)] * len(unknowns)
        for key, sign in [(total, -1), *((p, 1) for p in parts)]:
            if key in index:
                coefficients[index[key]] += sign
        if any(coefficients):
            rows.append(coefficients)
    pivots = []
    r = 0
    for c in range(len(unknowns)):
        pivot = next((i for i in range(r, len(rows)) if rows[i][c] != 0), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        lead = rows[r][c]
        rows[r] = [x / lead for x in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][c] != 0:
                factor = rows[i][c]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[r], strict=True)]
        pivots.append((r, c))
        r += 1
    return {unknowns[c] for r, c in pivots
            if all(rows[r][j] == 0 for j in range(len(unknowns)) if j != c)}


def possible_values(table: Table) -> dict:
    """Every value each suppressed cell can take in a table consistent with the page (all line
    equations, shown figures, "<5" = 1..4, hidden = 5 or more): brute force with propagation,
    for small tables."""
    grand_bound = table.value[(TOTAL, TOTAL)] if not table.suppressed((TOTAL, TOTAL)) else 200
    unknowns = [k for k in table.keys() if table.suppressed(k)]
    ranges = {}
    for key in unknowns:
        low, high = suppression.bounds(table, key)
        ranges[key] = (low, int(min(high, grand_bound)))
    lines = [[(total, -1), *((p, 1) for p in parts)] for total, parts in table.lines()]
    seen: dict = {key: set() for key in unknowns}

    def value_of(key, assigned):
        return assigned[key] if key in assigned else table.value[key]

    def solve(assigned: dict) -> None:
        # propagate: a line with one unknown left gives it
        while True:
            progress = False
            for line in lines:
                missing = [(k, s) for k, s in line if table.suppressed(k) and k not in assigned]
                if len(missing) == 1:
                    key, sign = missing[0]
                    rest = sum(s * value_of(k, assigned) for k, s in line if k != key)
                    value = -rest * sign
                    low, high = ranges[key]
                    if not low <= value <= high:
                        return
                    assigned = {**assigned, key: value}
                    progress = True
                elif not missing:
                    if sum(s * value_of(k, assigned) for k, s in line) != 0:
                        return
            if not progress:
                break
        free = [k for k in unknowns if k not in assigned]
        if not free:
            for key, value in assigned.items():
                seen[key].add(value)
            return
        key = min(free, key=lambda k: ranges[k][1] - ranges[k][0])
        for value in range(ranges[key][0], ranges[key][1] + 1):
            solve({**assigned, key: value})

    solve({})
    return seen


def check(table: Table) -> None:
    """Everything the page must hold after protect()."""
    for key in table.keys():
        n = table.value[key]
        if 0 < n < 5:
            assert table.state[key] == SMALL, (key, n)
        if table.state[key] == SMALL:
            assert 0 <= n < 5  # a zero may be "<5" too, to protect another
        if table.state[key] == HIDDEN:
            assert n >= 5
    assert line_attack(table) == set(), "a total minus its shown cells gives a hidden cell"
    assert algebra_attack(table) == set(), "a combination of totals gives a hidden cell"


# -- examples ----------------------------------------------------------------------------------

def test_small_counts_are_marked_and_a_lone_one_in_a_line_gets_a_partner():
    t = protect(table_of([[3, 20, 30],
                          [12, 15, 40],
                          [10, 9, 50]]))
    assert t.state[("r0", "c0")] == SMALL
    # row r0 and column c0 each need a second suppressed cell, and the rectangle must close:
    # the cheapest one is 20, 10 and 9 (39), not 20, 12 and 15 (47)
    assert {k for k in t.keys() if t.state[k] == HIDDEN} == {("r0", "c1"), ("r2", "c0"),
                                                              ("r2", "c1")}
    assert t.shown(TOTAL, TOTAL) == 189 and t.shown("r0", TOTAL) == 53
    check(t)


def test_a_small_total_is_suppressed_and_protected():
    t = protect(table_of([[2, 0, 1],
                          [12, 15, 40],
                          [10, 9, 50]]))
    assert t.state[("r0", TOTAL)] == SMALL  # 3 children in that row
    assert t.state[("r0", "c0")] == SMALL and t.state[("r0", "c2")] == SMALL
    assert t.shown("r0", "c1") == 0  # a zero is shown
    check(t)


def test_differencing_two_totals_is_covered_not_only_single_lines():
    """Two blocks of suppressed cells joined by one cell: every line has two suppressed cells
    (so no single line gives anything away), yet row 0 + row 1 - column 0 - column 1 gives the
    joining cell. The attackers see it; protect() never leaves such a pattern."""
    t = table_of([[7, 8, 3, 30],
                  [6, 9, 40, 50],
                  [60, 70, 2, 9],
                  [55, 65, 8, 7]])
    for key in [("r0", "c0"), ("r0", "c1"), ("r1", "c0"), ("r1", "c1"),  # block 1
                ("r2", "c2"), ("r2", "c3"), ("r3", "c2"), ("r3", "c3")]:  # block 2
        t.state[key] = HIDDEN
    t.state[("r0", "c2")] = SMALL  # the bridge: row 0 and column 2
    for key in t.keys():
        t.state.setdefault(key, SHOWN)
    t.state[("r2", "c2")] = SMALL
    assert line_attack(t) == set()
    assert ("r0", "c2") in algebra_attack(t)  # r0 + r1 - c0 - c1 = the bridge
    assert not suppression.is_protected(t, ("r0", "c2"))

    protected = protect(table_of([[7, 8, 3, 30], [6, 9, 40, 50], [60, 70, 2, 9],
                                  [55, 65, 8, 7]]))
    check(protected)


def test_what_the_marks_tell_is_taken_into_account():
    """Two "<5" cells in a line whose rest is 2 would both be 1: the cycle must leave room."""
    t = protect(table_of([[1, 1, 30],
                          [20, 25, 40]]))
    check(t)
    values = possible_values(t)
    for key in t.keys():
        if t.state[key] == SMALL:
            assert len(values[key]) > 1, (key, values[key])


def test_the_brute_force_attacker_finds_what_the_marks_give_away():
    """A "<5" beside one hidden cell in a row whose rest is 5: the hidden one is at least 5,
    so the "<5" is 0, and its column then gives the other "<5" (4). No equation alone shows
    it; the marks do. (A hand-made page: protect() never leaves this.)"""
    t = table_of([[0, 5, 30], [4, 9, 40]])
    t.state = {key: SHOWN for key in t.keys()}
    for key in [("r0", "c0"), ("r1", "c0")]:
        t.state[key] = SMALL
    for key in [("r0", "c1"), ("r1", "c1")]:
        t.state[key] = HIDDEN
    assert line_attack(t) == set() and algebra_attack(t) == set()
    values = possible_values(t)
    assert values[("r0", "c0")] == {0} and values[("r1", "c0")] == {4}
    assert not suppression.is_protected(t, ("r1", "c0"))
    check(protect(table_of([[0, 5, 30], [4, 9, 40]])))


def test_locked_cells_stay_shown_and_an_impossible_table_says_so():
    t = protect(table_of([[3, 20], [10, 30], [12, 14]], locked=[(TOTAL, "c0"), (TOTAL, "c1"),
                                                                (TOTAL, TOTAL)]))
    assert all(t.state[(TOTAL, c)] == SHOWN for c in ("c0", "c1", TOTAL))
    check(t)
    with pytest.raises(Unprotectable):  # one row, its totals known elsewhere: nothing to use
        protect(table_of([[3, 20]], locked=[(TOTAL, "c0"), (TOTAL, "c1"), (TOTAL, TOTAL)]))
    with pytest.raises(Unprotectable):
        # column c0 holds the 3, a locked 10 and its locked total: 3 = total - 10, always
        protect(table_of([[3, 20], [10, 30]], locked=[("r1", "c0"), (TOTAL, "c0")]))
    with pytest.raises(Unprotectable):
        protect(table_of([[3, 20], [10, 30]], locked=[("r0", "c0")]))  # a small count locked


def test_an_all_zero_table_shows_zeros():
    t = protect(table_of([[0, 0], [0, 0]]))
    assert all(t.state[k] == SHOWN for k in t.keys())


# -- properties over random tables -------------------------------------------------------------

def grids(max_rows: int, max_cols: int, high: int):
    return st.integers(1, max_rows).flatmap(lambda r: st.integers(1, max_cols).flatmap(
        lambda c: st.lists(st.lists(st.one_of(st.integers(0, 6), st.integers(0, high)),
                                    min_size=c, max_size=c), min_size=r, max_size=r)))


@EXAMPLES
@given(grids(8, 7, 60))
def test_no_suppressed_cell_follows_from_any_line_or_combination_of_lines(grid):
    t = protect(table_of(grid))  # a table with nothing locked can always be protected
    check(t)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grids(3, 3, 14))
def test_no_small_count_can_be_told_even_with_the_marks_brute_force(grid):
    try:
        t = protect(table_of(grid))
    except Unprotectable:
        return
    check(t)
    values = possible_values(t)
    for key in t.keys():
        if t.state[key] == SMALL:
            assert t.value[key] in values[key]
            assert len(values[key]) > 1, (grid, key, values[key])


@EXAMPLES
@given(grids(6, 5, 40), st.data())
def test_linked_tables_lock_their_shared_figures(grid, data):
    rows = len(grid)
    locked = [(TOTAL, f"c{j}") for j in range(len(grid[0]))] + [(TOTAL, TOTAL)]
    t = table_of(grid, locked=locked)
    if any(0 < t.value[k] < 5 for k in locked):
        with pytest.raises(Unprotectable):
            protect(t)
        return
    try:
        protect(t)
    except Unprotectable:
        return
    assert all(t.state[k] == SHOWN for k in locked)
    check(t)
    assert rows >= 1
