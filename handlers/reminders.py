"""Renderers of the morning's reminders and digests (services.reminders), in the reader's
language at the moment they are sent (after QUIET_HOURS, if they were held).

- `reminder.visit`: the reporting volunteer; a home visit due today or overdue, with a button
  that opens the home-visit flow for that child (postback `a=visit&id=<case>`).
- `reminder.appointment`: a linked parent; an appointment tomorrow (or today, when the morning
  before was missed), where, and the office.
- `reminder.digest`: an officer; overdue cases in their work by stage and the five oldest;
  supervisors also what was escalated to their level and the cases untouched for 30 days.
"""

from __future__ import annotations

import datetime as dt

from bot.i18n import gettext as _
from bot.messages import text
from bot.outbox import renderer
from handlers.flows.report import first_name
from handlers.notifications import (
    OFFICER_STAGE_WORDS,
    _cut,
    _office_line,
    _quick,
    show_date,
    show_time,
    words,
)
from models import BANGKOK, LineUser

VISIT_ACTION = "visit"  # handlers.flows.visit starts the home-visit flow for a case


@renderer("reminder.visit")
def visit_reminder(payload: dict, user: LineUser | None) -> list[dict]:
    """A volunteer: the visit is due today, or has waited so many days."""
    name, ref = first_name(payload.get("child")), payload.get("reference", "")
    days = int(payload.get("overdue_days") or 0)
    date = show_date(payload.get("due_on"))
    if days <= 0:
        body = _("Time to visit Nong %(name)s (reference %(ref)s): the home visit is due "
                 "today, %(date)s. After the visit, tap \"Record the visit\".", name=name,
                 ref=ref, date=date)
    else:
        body = _("The home visit to Nong %(name)s (reference %(ref)s) was due on %(date)s, "
                 "%(days)s days ago. Please visit when you can, then tap \"Record the "
                 "visit\".", name=name, ref=ref, date=date, days=days)
    items = [_quick(_("Record the visit"), {"a": VISIT_ACTION, "id": payload.get("case_id")}),
             _quick(_("My cases"), {"a": "menu", "v": "my_cases"})]
    return [text(body, items)]


@renderer("reminder.appointment")
def appointment_reminder(payload: dict, user: LineUser | None) -> list[dict]:
    """A parent, the day before (or on the day, when that morning was missed): when, where,
    what for, and the office to call."""
    at = dt.datetime.fromisoformat(payload["at"]).astimezone(BANGKOK)
    fields = {"name": first_name(payload.get("child")), "date": show_date(at.date()),
              "time": show_time(at)}
    if payload.get("day") == "today":
        lines = [_("A reminder: Nong %(name)s has an appointment today, %(date)s at "
                   "%(time)s.", **fields)]
    else:
        lines = [_("A reminder: Nong %(name)s has an appointment tomorrow, %(date)s at "
                   "%(time)s.", **fields)]
    if payload.get("place"):
        lines.append(_("Place: %(place)s", place=_cut(payload["place"])))
    if payload.get("purpose"):
        lines.append(_("About: %(purpose)s", purpose=_cut(payload["purpose"])))
    lines.append(_office_line(payload))
    return [text("\n".join(lines))]


@renderer("reminder.digest")
def digest(payload: dict, user: LineUser | None) -> list[dict]:
    """An officer's morning: counts by stage, escalations, stale cases, the oldest five."""
    lines = []
    overdue = int(payload.get("overdue") or 0)
    if overdue:
        lines.append(_("Good morning. Cases past their deadline: %(count)s", count=overdue))
        for stage, count in (payload.get("by_stage") or {}).items():
            lines.append(_("- %(stage)s: %(count)s", stage=words(OFFICER_STAGE_WORDS, stage),
                           count=count))
    else:
        lines.append(_("Good morning. No case is past its deadline."))
    if payload.get("escalated"):
        if payload.get("level") == "province":
            lines.append(_("Escalated to the province (over 21 days late): %(count)s",
                           count=payload["escalated"]))
        else:
            lines.append(_("Escalated to the district (over 7 days late): %(count)s",
                           count=payload["escalated"]))
    if payload.get("stale"):
        lines.append(_("Untouched for 30 days or more: %(count)s", count=payload["stale"]))
    oldest = payload.get("oldest") or []
    if oldest:
        lines.append(_("Waiting longest:"))
        for case in oldest:
            lines.append(_("%(ref)s Nong %(name)s, %(days)s days late",
                           ref=case.get("reference", ""), name=first_name(case.get("child")),
                           days=case.get("days_overdue", 0)))
    items = [_quick(_("My work"), {"a": "menu", "v": "my_work"})]
    return [text("\n".join(lines), items)]


def register() -> None:
    """The renderers above registered themselves on import; the start-up call stays explicit."""
