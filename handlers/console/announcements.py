"""Announcements in the console (issue #8): compose one for an area and an audience, see it as
it will arrive on LINE, confirm, follow its delivery; approve a province-wide one (a second
person) or cancel one; and this month's LINE message budget. An officer whose announcements
(written or approved) LINE's monthly limit holds sees a banner on every console page
(`paused_banner`, drawn by base.html).

Everything goes through services.announcements, like the API and the LINE flow: the preview
runs the same `compose` (scope, audience, text and link rules, the recipient estimate and the
budget check) and throws it away, so what the officer confirms is what the service accepts.
The card shown is the one LINE receives (handlers.announcements.announcement_messages),
drawn in HTML.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import abort, flash, g, redirect, render_template, request, url_for

from bot.extensions import db
from bot.i18n import gettext as _
from handlers.announcements import announcement_messages
from handlers.api.announcements import line_quota
from models import BANGKOK, Announcement, Area, utcnow
from services import announcements
from services.announcements import AUDIENCES, GROUPS, AnnouncementError

from . import bp, present
from .forms import FormError, parse_clock, parse_day
from .security import actor, login_required

LIST_SIZE = 50
FIELDS = ("text", "area", "group", "link", "day", "time")


def _words() -> dict:
    return {
        "audiences": {"volunteers": _("Village health volunteers"),
                      "parents": _("Parents and guardians"),
                      "officers": _("Officers")},
        "groups": {"early_childhood": _("Only parents of young children (0-6)"),
                   "out_of_school": _("Only parents of out-of-school children")},
        "statuses": {Announcement.AWAITING_APPROVAL: _("Waiting for approval"),
                     Announcement.SCHEDULED: _("Scheduled"),
                     Announcement.SENDING: _("Sending"),
                     Announcement.SENT: _("Sent"),
                     Announcement.CANCELLED: _("Cancelled"),
                     Announcement.FAILED: _("Could not be delivered"),
                     Announcement.REFUSED: _("Not sent: too few LINE messages left")},
    }


def _officer_only() -> None:
    if not actor().is_officer:
        abort(404)


def _areas() -> list[tuple[Area, list[Area]]]:
    """The areas an officer may announce to: their own and everything inside it, as (area,
    its subdistricts) pairs for the form's groups."""
    code = actor().area_code or ""
    session = db.session
    mine = session.get(Area, code)
    if mine is None:
        return []
    if mine.level == "subdistrict":
        return [(mine, [])]
    districts = [mine] if mine.level == "district" else list(session.scalars(
        sa.select(Area).where(Area.parent_code == mine.code).order_by(Area.code)))
    subs: dict[str, list[Area]] = {}
    for area in session.scalars(
            sa.select(Area).where(Area.level == "subdistrict",
                                  Area.parent_code.in_([d.code for d in districts]))
            .order_by(Area.code)):
        subs.setdefault(area.parent_code, []).append(area)
    groups = [(d, subs.get(d.code, [])) for d in districts]
    return [(mine, [])] + groups if mine.level == "province" else groups


def _quota():
    return announcements.quota_status(db.session, line_quota())


@bp.app_context_processor
def paused_helpers() -> dict:
    return {"paused_banner": _paused_banner}


def _paused_banner() -> list[Announcement]:
    """The announcements the signed-in officer wrote or approved that LINE's monthly limit
    holds (one indexed query, on console pages only)."""
    who = g.get("console_actor")
    if who is None or not who.is_officer:
        return []
    return announcements.paused_for(db.session, who.name)


def _recent() -> list[Announcement]:
    who = actor()
    return list(db.session.scalars(
        sa.select(Announcement)
        .where(sa.or_(Announcement.area_code.like(f"{who.area_code}%"),
                      Announcement.created_by == who.name))
        .order_by(Announcement.id.desc()).limit(LIST_SIZE)))


def _values() -> dict:
    values = {name: request.form.get(name, "") for name in FIELDS}
    values["audience"] = [a for a in request.form.getlist("audience") if a in AUDIENCES]
    return values


def _send_at(values: dict) -> dt.datetime | None:
    """The Bangkok time typed, or None to send at once."""
    day = parse_day(values["day"])
    if day is None:
        if values["time"].strip():
            raise FormError("date_required")
        return None
    clock = parse_clock(values["time"]) if values["time"].strip() else dt.time(8, 0)
    return dt.datetime.combine(day, clock, tzinfo=BANGKOK)


def _list_page(values: dict | None = None, error: str | None = None, status: int = 200):
    return render_template(
        "console/announcements.html", rows=_recent(), quota=_quota(), areas=_areas(),
        values=values or {"audience": ["volunteers"]}, error=error, w=_words(),
        groups=GROUPS, audiences=AUDIENCES, now=utcnow(),
        progress=lambda row: announcements.progress(db.session, row.id)), status


@bp.get("/announcements", endpoint="announcements")
@login_required
def announcements_page():
    """Recent announcements of the officer's area, the compose form and the month's budget."""
    _officer_only()
    return _list_page()


def _compose(values: dict, confirm_quota: bool):
    return announcements.compose(
        db.session, actor(), values["text"], values["audience"], values["area"],
        send_at=_send_at(values), link=values["link"] or None,
        group=values["group"] or None, line_quota=line_quota(), confirm=confirm_quota)


@bp.post("/announcements")
@login_required
def compose():
    """Compose: first the preview (the service's checks, nothing kept), then, confirmed, the
    announcement itself."""
    _officer_only()
    values = _values()
    confirm_quota = request.form.get("confirm_quota") == "1"
    try:
        row, quota = _compose(values, confirm_quota)
    except FormError as exc:
        db.session.rollback()
        return _list_page(values, exc.message, exc.status)
    except AnnouncementError as exc:
        db.session.rollback()
        if exc.code in ("quota_confirm", "quota_unknown") and request.form.get(
                "confirm") != "1":
            return _preview(values, exc)
        return _list_page(values, present.error_message(exc.code), exc.status)
    if request.form.get("confirm") != "1":
        page = _preview(values, None, row, quota)
        db.session.rollback()  # a preview: the checks ran, nothing is kept
        return page
    db.session.commit()
    if row.status == Announcement.AWAITING_APPROVAL:
        flash(_("Saved: announcement no. %(id)s waits for a supervisor's approval before it "
                "is sent.", id=row.id), "ok")
    elif row.scheduled_by_officer:
        flash(_("Saved: announcement no. %(id)s will be sent on %(when)s.", id=row.id,
                when=present.show_moment(row.send_at)), "ok")
    else:
        flash(_("Saved: announcement no. %(id)s is being sent.", id=row.id), "ok")
    return redirect(url_for(".announcement_page", announcement_id=row.id))


def _preview(values: dict, near_limit: AnnouncementError | None,
             row: Announcement | None = None, quota=None):
    """What the officer is about to send, the card as it arrives, and the budget."""
    if row is None:  # refused for the budget alone: a transient row to draw the card
        row = Announcement(text=values["text"].strip(), link=values["link"].strip() or None,
                           agency_code=actor().agency_code, area_code=values["area"])
    [message] = announcement_messages(row)
    area = db.session.get(Area, values["area"])
    estimate = near_limit.detail["estimate"] if near_limit else row.estimate
    budget = near_limit.detail["quota"] if near_limit else (quota.as_dict() if quota else None)
    return render_template(
        "console/announcement_preview.html", values=values, card=message["contents"],
        alt_text=message["altText"], area=area, estimate=estimate, quota=budget,
        near_limit=near_limit is not None and near_limit.code == "quota_confirm",
        quota_unknown=near_limit is not None and near_limit.code == "quota_unknown",
        w=_words(),
        province_wide=area is not None and area.level == "province",
        send_at=_send_at(values))


def load(announcement_id: int) -> Announcement:
    _officer_only()
    row = db.session.get(Announcement, announcement_id)
    if row is None or not announcements.may_see(actor(), row):
        abort(404)
    return row


@bp.get("/announcements/<int:announcement_id>")
@login_required
def announcement_page(announcement_id: int):
    """One announcement: what it said, to whom, how far its delivery is, and its actions."""
    row = load(announcement_id)
    who = actor()
    audience, group = announcements.audience_of(row)
    [message] = announcement_messages(row)
    may_approve = (row.status == Announcement.AWAITING_APPROVAL
                   and who.role in ("supervisor", "admin") and who.name != row.created_by
                   and row.area_code.startswith(who.area_code or "\0"))
    may_cancel = row.status in (*announcements.OPEN, Announcement.SENDING) and (
        who.name == row.created_by or (who.role in ("supervisor", "admin")
                                       and row.area_code.startswith(who.area_code or "\0")))
    return render_template(
        "console/announcement.html", row=row, audience=audience, group=group,
        state=announcements.progress(db.session, row.id), area=db.session.get(Area,
                                                                               row.area_code),
        card=message["contents"], w=_words(), may_approve=may_approve, may_cancel=may_cancel,
        ask=request.args.get("ask"))


def _act(announcement_id: int, change, done: str):
    row = load(announcement_id)
    if request.form.get("confirm") != "1":
        return redirect(url_for(".announcement_page", announcement_id=row.id,
                                ask=request.endpoint.rsplit("_", 1)[-1]))
    try:
        change(row)
    except AnnouncementError as exc:
        db.session.rollback()
        flash(present.error_message(exc.code), "error")
        return redirect(url_for(".announcement_page", announcement_id=announcement_id))
    db.session.commit()
    flash(done(row) if callable(done) else done, "ok")
    return redirect(url_for(".announcement_page", announcement_id=row.id))


def _approved(row: Announcement) -> str:
    """What approving did: it goes now, or at its time."""
    if row.send_at > utcnow():
        return _("Approved: the announcement will be sent on %(when)s.",
                 when=present.show_moment(row.send_at))
    return _("Approved: the announcement is being sent.")


@bp.post("/announcements/<int:announcement_id>/approve", endpoint="announcement_approve")
@login_required
def approve(announcement_id: int):
    """A supervisor, not the author, lets a province-wide announcement go (asked first)."""
    return _act(announcement_id,
                lambda row: announcements.approve(db.session, actor(), row), _approved)


@bp.post("/announcements/<int:announcement_id>/cancel", endpoint="announcement_cancel")
@login_required
def cancel(announcement_id: int):
    """Cancel before it goes, or the part not yet sent (asked first)."""
    return _act(announcement_id,
                lambda row: announcements.cancel(db.session, actor(), row),
                _("Cancelled: nothing more of this announcement will be sent."))
