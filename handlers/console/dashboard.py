"""The supervisors' dashboard in the console (issue #7 point 4), at /console/dashboard: the
figures of services.dashboard over the supervisor's area (or one district of it, `?district=`),
for roles supervisor and admin; an officer gets a page saying who may see it.

The page reads the area's stored figures (services.dashboard: one row of
`dashboard_snapshots`, refreshed every DASHBOARD_REFRESH_SECONDS by the worker's scheduler),
so a million cases are not recounted on each view; it computes them itself (and stores them)
only when they are missing or older than DASHBOARD_MAX_AGE_SECONDS. Every supervisor of the
area sees the same figures, and the page says as of when and how often they are renewed.

Charts are drawn on the server: the heat-map is a table whose cells are shaded by a CSS class
(the number is always written in the cell), bars and the monthly chart are inline SVG with
their numbers beside them and the same figures in a table. No JavaScript, nothing from
outside, no inline style (the console's CSP forbids it). Each view is written to the audit
log (`dashboard.view`), like every console read.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import socket

from flask import current_app, g, render_template, request

from bot.extensions import db
from bot.i18n import gettext as _
from bot.thai_text import BE_OFFSET, THAI_MONTH_ABBREVIATIONS, thai_date
from handlers.notifications import OFFICER_STAGE_WORDS, agency_name, english, words
from models import Area, utcnow
from services import audit, dashboard
from services.cases import STAGES

from . import bp, present
from .security import actor, error_page, login_required

ROLES = ("supervisor", "admin")
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


def figures_for(who, district: str | None) -> dashboard.Figures:
    """The figures of the actor's area (or one district of it): the stored snapshot when it
    is younger than DASHBOARD_MAX_AGE_SECONDS, else computed now and stored."""
    max_age = dt.timedelta(seconds=float(current_app.config.get("DASHBOARD_MAX_AGE_SECONDS",
                                                                900)))
    owner = f"{socket.gethostname()}:{os.getpid()}:web"
    return dashboard.current(db.session, who, district, max_age, owner, utcnow())


def refresh_minutes() -> str | None:
    """How often the worker renews the stored figures, in minutes as written (None: it
    does not; the page computes them when they are older than the limit)."""
    seconds = float(current_app.config.get("DASHBOARD_REFRESH_SECONDS", 300))
    if seconds <= 0:
        return None
    return f"{seconds / 60:g}"


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
        refresh_minutes=refresh_minutes(),
        largest=largest, shade=dashboard.shade, percent=percent, days=days,
        month_label=month_label, chart=month_chart(figures.months),
        group_name=lambda item: words(present.GROUP_WORDS, item.code),
        stage_name=lambda item: words(OFFICER_STAGE_WORDS, item.code),
        agency_label=lambda item: agency_name(item.code, item.name_th, item.name_en),
        group_max=max([b.count for b in figures.by_group] + [0]),
        stage_max=max([b.count for b in figures.by_stage] + [0]),
        agency_max=max([b.count for b in figures.by_agency] + [0]))
