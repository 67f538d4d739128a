"""The supervisors' dashboard in the console (issue #7 point 4), at /console/dashboard: the
figures of services.dashboard over the supervisor's area (or one district of it, `?district=`),
for roles supervisor and admin; an officer gets a page saying who may see it.

The figures of an area are kept for DASHBOARD_CACHE_SECONDS (default 60; 0 turns it off)
per process: every supervisor of the area sees the same figures, the page says as of when,
and clicking around a large area does not recount a million cases each time.

Charts are drawn on the server: the heat-map is a table whose cells are shaded by a CSS class
(the number is always written in the cell), bars and the monthly chart are inline SVG with
their numbers beside them and the same figures in a table. No JavaScript, nothing from
outside, no inline style (the console's CSP forbids it). Each view is written to the audit
log (`dashboard.view`), like every console read.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict

from flask import current_app, g, render_template, request
from flask_babel import gettext as _

from bot.extensions import db
from bot.thai_text import BE_OFFSET, THAI_MONTH_ABBREVIATIONS, thai_date
from handlers.notifications import OFFICER_STAGE_WORDS, agency_name, english, words
from models import Area, utcnow
from services import audit, dashboard
from services.cases import STAGES

from . import bp, present
from .security import actor, error_page, login_required

ROLES = ("supervisor", "admin")
CACHE_ENTRIES = 256
#: The monthly chart's drawing box (SVG user units; it scales to the page's width).
CHART_WIDTH, CHART_HEIGHT, CHART_BOTTOM = 720, 220, 40


def supervisor_required(view):
    """Signed in as a supervisor or an administrator; an officer gets a page saying so."""

    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if actor().role not in ROLES:
            return error_page(403, _("For supervisors only"),
                              _("The dashboard shows the figures of a whole area, so only "
                                "supervisors and administrators can open it. Your cases are "
                                "in the case queue."))
        return view(*args, **kwargs)

    return wrapped


@bp.app_context_processor
def dashboard_helpers() -> dict:
    return {"sees_dashboard": lambda: getattr(g.get("console_actor"), "role", None) in ROLES}


def month_label(day, short: bool = True) -> str:
    """A month as its reader writes it: in Thai the short month and the Buddhist-era year (two
    digits when short), in English "Aug 26" (or "Aug 2026")."""
    if english():
        return f"{day:%b} {day:%y}" if short else f"{day:%b} {day.year}"
    if not short:
        return thai_date(day, "month")
    return f"{THAI_MONTH_ABBREVIATIONS[day.month - 1]} {(day.year + BE_OFFSET) % 100:02d}"


def percent(part: int, whole: int) -> float:
    """A bar's length in percent of the largest (0-100, one decimal)."""
    return round(100.0 * part / whole, 1) if whole > 0 else 0.0


def days(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}"


def month_chart(months: list[dashboard.Month]) -> dict:
    """The monthly chart's geometry: two bars per month (new reports, closures), scaled to
    the largest count, with its labels."""
    largest = max([m.reported for m in months] + [m.closed for m in months] + [1])
    plot = CHART_HEIGHT - CHART_BOTTOM - 16
    slot = CHART_WIDTH / max(len(months), 1)
    bar = slot * 0.34
    bars = []
    for i, month in enumerate(months):
        x = i * slot + slot * 0.14
        for j, (kind, count) in enumerate((("reported", month.reported),
                                           ("closed", month.closed))):
            height = round(plot * count / largest, 1)
            bars.append({"kind": kind, "count": count, "x": round(x + j * bar, 1),
                         "y": round(CHART_HEIGHT - CHART_BOTTOM - height, 1),
                         "width": round(bar - 2, 1), "height": height,
                         "text_x": round(x + j * bar + bar / 2 - 1, 1),
                         "text_y": round(CHART_HEIGHT - CHART_BOTTOM - height - 3, 1)})
    labels = [{"x": round(i * slot + slot / 2, 1), "y": CHART_HEIGHT - CHART_BOTTOM + 18,
               "text": month_label(m.first_day)} for i, m in enumerate(months)]
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "bars": bars, "labels": labels,
            "baseline": CHART_HEIGHT - CHART_BOTTOM, "largest": largest}


class FiguresCache:
    """Recent figures by scope (the scopes most recently looked at). Two requests for the same
    scope compute it once; different scopes do not wait for each other."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries: OrderedDict = OrderedDict()
        self.computing: dict = {}
        self.computed = 0

    def get(self, key, seconds: float, compute):
        with self.lock:
            lock = self.computing.setdefault(key, threading.Lock())
        with lock:
            with self.lock:
                found = self.entries.get(key)
                if found is not None and time.monotonic() - found[0] < seconds:
                    self.entries.move_to_end(key)
                    return found[1]
            figures = compute()
            with self.lock:
                self.computed += 1
                self.entries[key] = (time.monotonic(), figures)
                self.entries.move_to_end(key)
                while len(self.entries) > CACHE_ENTRIES:
                    old, _value = self.entries.popitem(last=False)
                    self.computing.pop(old, None)
            return figures


def figures_for(who, district: str | None) -> dashboard.Figures:
    """The figures of the actor's scope (or one district of it), from the cache when fresh."""
    seconds = float(current_app.config.get("DASHBOARD_CACHE_SECONDS", 60))

    def compute():
        return dashboard.figures(db.session, who, utcnow(), district=district)

    if seconds <= 0:
        return compute()
    cache = current_app.extensions.setdefault("samoe.dashboard", FiguresCache())
    scope = (who.role, None if who.sees_whole_area else who.agency_code, who.area_code,
             dashboard.view_area(who, district))
    return cache.get(scope, seconds, compute)


@bp.get("/dashboard", endpoint="dashboard")
@supervisor_required
def dashboard_page():
    """The dashboard of the supervisor's area, or of one district of it."""
    who = actor()
    figures = figures_for(who, request.args.get("district"))
    area = db.session.get(Area, figures.area_code)
    drilled = figures.area_code != who.area_code
    audit.record(db.session, who, "dashboard.view", area=figures.area_code)
    db.session.commit()
    largest = figures.heat_max()
    return render_template(
        "console/dashboard.html", f=figures, area=area, drilled=drilled, stages=STAGES,
        largest=largest, shade=dashboard.shade, percent=percent, days=days,
        month_label=month_label, chart=month_chart(figures.months),
        group_name=lambda item: words(present.GROUP_WORDS, item.code),
        stage_name=lambda item: words(OFFICER_STAGE_WORDS, item.code),
        agency_label=lambda item: agency_name(item.code, item.name_th, item.name_en),
        group_max=max([b.count for b in figures.by_group] + [0]),
        stage_max=max([b.count for b in figures.by_stage] + [0]),
        agency_max=max([b.count for b in figures.by_agency] + [0]))
