"""/api/v1/announcements: officers broadcasting to an area; /api/v1/quota: the month's budget."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from bot.extensions import db
from models import Announcement
from services import announcements
from services.announcements import AnnouncementError

from .base import ApiBlueprint
from .context import actor
from .errors import ApiError
from .schemas import AnnouncementIn, AnnouncementList, AnnouncementOut, QuotaOut

bp = ApiBlueprint("announcements", __name__,
                  description="Announcements to an area's volunteers, parents or officers.")

ONE = "/announcements/<int:announcement_id>"


def line_quota() -> dict | None:
    """This month's quota from LINE (None when it cannot be asked)."""
    from bot.worker import make_client

    client = make_client(current_app._get_current_object())
    try:
        return client.quota()
    finally:
        client.close()


def _error(exc: AnnouncementError) -> ApiError:
    return ApiError(exc.status, exc.code, detail=exc.detail or None)


def out(row: Announcement, quota: announcements.Quota | None = None) -> dict:
    state = announcements.progress(db.session, row.id)
    audience, group = announcements.audience_of(row)
    body = {"id": row.id, "status": row.status, "text": row.text, "link": row.link,
            "audience": audience, "group": group, "area": row.area_code,
            "send_at": row.send_at, "estimate": row.estimate, "recipients": row.recipients,
            "sent": state.sent, "failed": state.failed,
            "skipped_blocked": state.skipped_blocked, "cancelled": state.cancelled,
            "pending": state.pending,
            "awaiting_approval": row.status == Announcement.AWAITING_APPROVAL,
            "paused_for_quota": state.held, "paused_since": row.paused_at,
            "created_by": row.created_by,
            "created_at": row.created_at, "approved_by": row.approved_by,
            "cancelled_by": row.cancelled_by, "finished_at": row.finished_at}
    if quota is not None:
        body["quota"] = quota.as_dict()
    return body


def load(announcement_id: int) -> Announcement:
    row = db.session.get(Announcement, announcement_id)
    if row is None or not announcements.may_see(actor(), row):
        raise ApiError(404, "announcement_not_found")
    return row


@bp.route("/announcements", methods=["POST"])
@bp.arguments(AnnouncementIn)
@bp.response(202, AnnouncementOut)
@bp.errors(400, 403, 404, 409, 422)
def compose(body):
    """Compose an announcement

    Recipients are resolved when it goes (registered, active users of the audience and area;
    those who blocked Samoe are skipped and counted). The estimate is checked against the LINE
    budget of the month it goes in (this month: what LINE counted, what announcements still
    sending and those composed for this month hold; a later month: its limit less the
    announcements composed for it): over it → 409 `quota_exceeded`; leaving under 10% of the
    month's budget → 409 `quota_confirm` unless `"confirm": true`; LINE's quota unreadable →
    409 `quota_unknown` unless `"confirm": true`. The budget is checked again when it goes:
    too little left then → `refused`, nothing sent, the author told. A province-wide
    announcement waits for a supervisor's approval (`awaiting_approval`). Written to the audit
    log."""
    quota = line_quota()
    try:
        row, budget = announcements.compose(
            db.session, actor(), body["text"], body["audience"], body["area"],
            send_at=body.get("send_at"), link=body.get("link"), group=body.get("group"),
            line_quota=quota, confirm=body["confirm"])
    except AnnouncementError as exc:
        raise _error(exc) from None
    return out(row, budget)


@bp.route("/announcements", methods=["GET"])
@bp.response(200, AnnouncementList)
@bp.errors()
def list_announcements():
    """The latest 50 announcements of areas inside the caller's scope, newest first"""
    who = actor()
    rows = db.session.scalars(
        sa.select(Announcement)
        .where(sa.or_(Announcement.area_code.like(f"{who.area_code}%"),
                      Announcement.created_by == who.name))
        .order_by(Announcement.id.desc()).limit(50))
    return {"items": [out(row) for row in rows]}


@bp.route(ONE, methods=["GET"])
@bp.response(200, AnnouncementOut)
@bp.errors(404)
def get_announcement(announcement_id):
    """An announcement's status and counts

    `recipients` (everyone the audience matched when it went) = `sent` + `failed` +
    `skipped_blocked` (had unfollowed, then or by the time their batch went) + `cancelled`
    (batches stopped by a cancel) + `pending`."""
    return out(load(announcement_id))


@bp.route(ONE + "/approve", methods=["POST"])
@bp.response(200, AnnouncementOut)
@bp.errors(403, 404, 409)
def approve(announcement_id):
    """Approve a province-wide announcement (a supervisor or administrator, not its author)"""
    row = load(announcement_id)
    try:
        announcements.approve(db.session, actor(), row)
    except AnnouncementError as exc:
        raise _error(exc) from None
    return out(row)


@bp.route(ONE + "/cancel", methods=["POST"])
@bp.response(200, AnnouncementOut)
@bp.errors(403, 404, 409)
def cancel(announcement_id):
    """Cancel an announcement: before it goes, or the batches not yet sent

    Final: a batch in flight when the cancel comes is not tried again (a batch LINE already
    accepted stays counted as sent)."""
    row = load(announcement_id)
    try:
        announcements.cancel(db.session, actor(), row)
    except AnnouncementError as exc:
        raise _error(exc) from None
    return out(row)


@bp.route("/quota", methods=["GET"])
@bp.response(200, QuotaOut)
@bp.errors()
def quota():
    """This month's LINE push budget

    The limit and what LINE counted (`/v2/bot/message/quota`, `/quota/consumption`), what the
    batches of announcements still sending will use (`sending`), what announcements composed
    for this month reserve (`reserved`), and what remains; `known` is false when LINE could not
    be asked."""
    return announcements.quota_status(db.session, line_quota()).as_dict()
