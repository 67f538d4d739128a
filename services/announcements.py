"""Announcements: officers broadcasting to an area and an audience, delivered once, within
the monthly quota (DESIGN.md §5).

- `compose`: validate the text, link, audience, area (inside the officer's scope) and time;
  estimate the recipients now and check them against the month's remaining push budget (read
  from LINE by the caller and passed in: services never call LINE); a province-wide one waits
  for a second person's approval.
- `approve`, `cancel`.
- `release_due` (the worker, each round): an announcement whose time has come is claimed once
  (a conditional UPDATE), its recipients resolved from the registered users at that moment
  (active ones; the unfollowed are counted and skipped), and queued as multicast rows of at
  most 500 ids, one per language, each with its own retry key persisted before its first try
  (bot.sender delivers them: 409 on a repeat means delivered; 429 backs off; the monthly limit
  holds them; 5xx and timeouts retry; other 4xx fail that batch).
- `progress` / `settle`: the counts from the batches; an announcement whose batches are all
  answered is `sent` (or `failed`).
- `quota_status`: this month's budget, what is used and what scheduled announcements reserve.

Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import (
    Announcement,
    Area,
    Case,
    CaseGuardian,
    LineUser,
    OutboxMessage,
    utcnow,
)
from services import audit
from services.access import Actor
from services.notifications import notify_once

AUDIENCES = ("volunteers", "parents", "officers")
GROUPS = ("early_childhood", "out_of_school")
TEXT_LIMIT = 5000  # LINE's text message limit: the officer's text goes as one message
LINK_LIMIT = 1000
BATCH = 500  # multicast ids per request
KIND = "announcement"
#: Asked to confirm when the month's remaining budget after this one would fall below this.
CONFIRM_BELOW = 0.10
MAX_AHEAD = dt.timedelta(days=90)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
OPEN = (Announcement.AWAITING_APPROVAL, Announcement.SCHEDULED)


class AnnouncementError(ValueError):
    """A refused announcement or action; `status` is the HTTP answer, `detail` extra facts."""

    def __init__(self, code: str, message: str, status: int = 422, **detail):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Quota:
    """This month's push budget: `limit` None = no limit (or LINE unreachable: `known`)."""

    limit: int | None
    used: int
    reserved: int  # estimates of announcements composed but not yet sent
    known: bool = True

    @property
    def remaining(self) -> int | None:
        if self.limit is None:
            return None
        return max(self.limit - self.used - self.reserved, 0)

    def as_dict(self) -> dict:
        return {"limit": self.limit, "used": self.used, "reserved": self.reserved,
                "remaining": self.remaining, "known": self.known}


def quota_status(session: Session, line_quota: dict | None,
                 exclude: int | None = None) -> Quota:
    """The budget from LINE's `/quota` + `/quota/consumption` (as bot.line_client.quota gives
    it: `{"type", "value", "used"}`, or None when LINE could not be asked)."""
    reserved = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Announcement.estimate), 0))
        .where(Announcement.status.in_(OPEN), Announcement.id != (exclude or 0))) or 0
    if line_quota is None:
        return Quota(None, 0, int(reserved), known=False)
    limit = line_quota.get("value") if line_quota.get("type") == "limited" else None
    return Quota(limit, int(line_quota.get("used") or 0), int(reserved))


# -- who gets it -----------------------------------------------------------------------------

def _within(column, area_code: str):
    """A code column lying inside an area (codes nest by prefix: 40, 4007, 400701)."""
    return column.like(f"{area_code}%")


def _audience_users(audience: list[str], area_code: str, group: str | None):
    """SELECT line_user_id, language, followed of the users an announcement reaches."""
    parts = []
    if "volunteers" in audience:
        parts.append(sa.select(LineUser.id).where(
            LineUser.role == "volunteer", _within(LineUser.subdistrict_code, area_code)))
    if "officers" in audience:
        parts.append(sa.select(LineUser.id).where(
            LineUser.role == "officer", _within(LineUser.area_code, area_code)))
    if "parents" in audience:
        children = sa.select(Case.id).where(_within(Case.subdistrict_code, area_code),
                                           Case.stage != "closed")
        if group:
            children = children.where(Case.target_group == group)
        parts.append(sa.select(CaseGuardian.line_user_id).where(
            CaseGuardian.case_id.in_(children), CaseGuardian.unlinked_at.is_(None)))
        parts.append(sa.select(Case.reporter_id).where(
            Case.id.in_(children), Case.self_reported.is_(True)))
    ids = sa.union(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    return (sa.select(LineUser.line_user_id, LineUser.language, LineUser.followed)
            .where(LineUser.id.in_(sa.select(ids.c[0]))).order_by(LineUser.id))


def count_recipients(session: Session, audience: list[str], area_code: str,
                     group: str | None = None) -> tuple[int, int]:
    """(active, unfollowed) users an announcement would reach now."""
    rows = _audience_users(audience, area_code, group).subquery()
    active, blocked = session.execute(
        sa.select(sa.func.count().filter(rows.c.followed.is_(True)),
                  sa.func.count().filter(rows.c.followed.is_(False)))).one()
    return int(active or 0), int(blocked or 0)


# -- composing -------------------------------------------------------------------------------

def _clean_text(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise AnnouncementError("text_required", "the announcement has no text")
    if len(text) > TEXT_LIMIT:
        raise AnnouncementError("text_too_long", f"text: at most {TEXT_LIMIT} characters")
    if _CONTROL.search(text):
        raise AnnouncementError("text_invalid", "text: control characters are not allowed")
    return text


def _clean_link(link: str | None) -> str | None:
    link = (link or "").strip()
    if not link:
        return None
    parts = urlsplit(link)
    if (parts.scheme not in ("http", "https") or not parts.netloc or len(link) > LINK_LIMIT
            or any(c.isspace() for c in link)):
        raise AnnouncementError("link_invalid", "link: an http(s) address of at most "
                                f"{LINK_LIMIT} characters")
    return link


def may_see(actor: Actor, announcement: Announcement) -> bool:
    """Officers see the announcements of areas inside their scope, and their own."""
    return actor.kind == "officer" and bool(actor.area_code) and (
        announcement.area_code.startswith(actor.area_code)
        or announcement.created_by == actor.name)


def compose(session: Session, actor: Actor, text: str, audience: list[str], area_code: str,
            send_at: dt.datetime | None = None, link: str | None = None,
            group: str | None = None, line_quota: dict | None = None, confirm: bool = False,
            now: dt.datetime | None = None) -> tuple[Announcement, Quota]:
    """A new announcement (scheduled, or awaiting approval when province-wide)."""
    now = now or utcnow()
    if actor.kind != "officer":
        raise AnnouncementError("not_allowed", "only officers announce", 403)
    text = _clean_text(text)
    link = _clean_link(link)
    audience = list(dict.fromkeys(audience or []))
    if not audience or any(a not in AUDIENCES for a in audience):
        raise AnnouncementError("audience_invalid", "audience: one or more of "
                                + ", ".join(AUDIENCES))
    if group is not None and group not in GROUPS:
        raise AnnouncementError("group_invalid", "group: early_childhood or out_of_school")
    area = session.get(Area, area_code or "")
    if area is None:
        raise AnnouncementError("area_not_found", "no such area", 404)
    if not area.code.startswith(actor.area_code or "\0"):
        raise AnnouncementError("area_not_found", "the area is outside your scope", 404)
    scheduled = send_at is not None
    if send_at is not None:
        if send_at.tzinfo is None:
            raise AnnouncementError("naive_time", "give the time with its offset (+07:00)")
        if send_at < now - dt.timedelta(minutes=5):
            raise AnnouncementError("date_in_past", "send_at is in the past")
        if send_at > now + MAX_AHEAD:
            raise AnnouncementError("date_out_of_range", "send_at: at most 90 days ahead")
    estimate, _blocked = count_recipients(session, audience, area.code, group)
    if estimate == 0:
        raise AnnouncementError("no_recipients", "nobody in that area and audience follows "
                                "Samoe yet", 409)
    quota = quota_status(session, line_quota)
    if quota.remaining is not None:
        if estimate > quota.remaining:
            raise AnnouncementError("quota_exceeded", "the month's remaining message budget "
                                    "is smaller than this announcement", 409,
                                    estimate=estimate, quota=quota.as_dict())
        if not confirm and quota.remaining - estimate < CONFIRM_BELOW * quota.limit:
            raise AnnouncementError("quota_confirm", "this announcement would use most of "
                                    "the month's remaining budget: send it again with "
                                    "confirm", 409, estimate=estimate, quota=quota.as_dict())
    province_wide = len(area.code) <= 2
    announcement = Announcement(
        text=text, link=link, audience=audience, area_code=area.code,
        agency_code=actor.agency_code,
        status=Announcement.AWAITING_APPROVAL if province_wide else Announcement.SCHEDULED,
        send_at=send_at or now, scheduled_by_officer=scheduled, estimate=estimate,
        created_by=actor.name, created_via=actor.via, created_at=now)
    if group is not None:
        announcement.audience = [*audience, f"group:{group}"]
    session.add(announcement)
    session.flush()
    audit.record(session, actor, "announcement.create", announcement_id=announcement.id,
                 area=area.code, audience=audience, estimate=estimate,
                 awaiting_approval=province_wide)
    return announcement, quota


def audience_of(announcement: Announcement) -> tuple[list[str], str | None]:
    """The audience list and the children's group (stored as a `group:` entry)."""
    audience = [a for a in announcement.audience if not a.startswith("group:")]
    group = next((a.split(":", 1)[1] for a in announcement.audience
                  if a.startswith("group:")), None)
    return audience, group


def approve(session: Session, actor: Actor, announcement: Announcement,
            now: dt.datetime | None = None) -> Announcement:
    """A second person — a supervisor or administrator whose scope covers the area — lets a
    province-wide announcement go."""
    now = now or utcnow()
    if actor.kind != "officer" or actor.role not in ("supervisor", "admin"):
        raise AnnouncementError("not_allowed", "only a supervisor approves", 403)
    if not announcement.area_code.startswith(actor.area_code or "\0"):
        raise AnnouncementError("not_allowed", "the area is outside your scope", 403)
    if actor.name == announcement.created_by:
        raise AnnouncementError("second_person", "a second person approves it", 409)
    taken = session.execute(
        sa.update(Announcement)
        .where(Announcement.id == announcement.id,
               Announcement.status == Announcement.AWAITING_APPROVAL)
        .values(status=Announcement.SCHEDULED, approved_by=actor.name, approved_at=now)
        .execution_options(synchronize_session=False)).rowcount
    session.refresh(announcement)
    if taken != 1:
        raise AnnouncementError("not_awaiting_approval",
                                f"the announcement is {announcement.status}", 409)
    audit.record(session, actor, "announcement.approve", announcement_id=announcement.id)
    return announcement


def cancel(session: Session, actor: Actor, announcement: Announcement,
           now: dt.datetime | None = None) -> Announcement:
    """Stop an announcement: before it goes, or — while sending — the batches not yet sent."""
    now = now or utcnow()
    if not (actor.kind == "officer" and (
            actor.name == announcement.created_by
            or (actor.role in ("supervisor", "admin")
                and announcement.area_code.startswith(actor.area_code or "\0")))):
        raise AnnouncementError("not_allowed", "only its author or a supervisor cancels it",
                                403)
    taken = session.execute(
        sa.update(Announcement)
        .where(Announcement.id == announcement.id,
               Announcement.status.in_((*OPEN, Announcement.SENDING)))
        .values(status=Announcement.CANCELLED, cancelled_by=actor.name, cancelled_at=now)
        .execution_options(synchronize_session=False)).rowcount
    session.refresh(announcement)
    if taken != 1:
        raise AnnouncementError("not_cancellable", f"the announcement is {announcement.status}",
                                409)
    session.execute(  # batches not yet taken by a sender stay unsent
        sa.update(OutboxMessage)
        .where(OutboxMessage.announcement_id == announcement.id,
               OutboxMessage.status == OutboxMessage.PENDING,
               sa.or_(OutboxMessage.lease_expires_at.is_(None),
                      OutboxMessage.lease_expires_at < now))
        .values(status=OutboxMessage.SKIPPED, last_error="cancelled")
        .execution_options(synchronize_session=False))
    audit.record(session, actor, "announcement.cancel", announcement_id=announcement.id)
    return announcement


# -- sending ---------------------------------------------------------------------------------

def release_due(session: Session, now: dt.datetime | None = None, limit: int = 5) -> int:
    """Queue the batches of the announcements whose time has come; returns how many."""
    now = now or utcnow()
    due = list(session.scalars(
        sa.select(Announcement.id)
        .where(Announcement.status == Announcement.SCHEDULED, Announcement.send_at <= now)
        .order_by(Announcement.send_at, Announcement.id).limit(limit)))
    released = 0
    for announcement_id in due:
        taken = session.execute(
            sa.update(Announcement)
            .where(Announcement.id == announcement_id,
                   Announcement.status == Announcement.SCHEDULED)
            .values(status=Announcement.SENDING, started_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if taken != 1:
            continue  # another worker has it
        announcement = session.get(Announcement, announcement_id, populate_existing=True)
        _queue_batches(session, announcement, now)
        released += 1
    return released


def _queue_batches(session: Session, announcement: Announcement, now: dt.datetime) -> None:
    audience, group = audience_of(announcement)
    by_language: dict[str, list[str]] = {}
    blocked = 0
    for line_id, language, followed in session.execute(
            _audience_users(audience, announcement.area_code, group)):
        if not followed:
            blocked += 1
            continue
        by_language.setdefault(language if language in ("th", "en") else "th",
                               []).append(line_id)
    rows = []
    for language, ids in sorted(by_language.items()):
        payload = json.dumps({"announcement_id": announcement.id, "language": language})
        for start in range(0, len(ids), BATCH):
            batch = ids[start:start + BATCH]
            rows.append({"kind": KIND, "payload": payload, "recipients": json.dumps(batch),
                         "recipient_count": len(batch), "retry_key": str(uuid.uuid4()),
                         "status": OutboxMessage.PENDING, "attempts": 0,
                         "reply_unclear": False, "next_attempt_at": now, "created_at": now,
                         "quiet": announcement.scheduled_by_officer,
                         "announcement_id": announcement.id})
    if rows:
        session.execute(sa.insert(OutboxMessage), rows)
    announcement.recipients = sum(len(ids) for ids in by_language.values())
    announcement.skipped_blocked = blocked
    if not rows:
        announcement.status = Announcement.SENT
        announcement.finished_at = now
    session.flush()


@dataclass(frozen=True)
class Progress:
    sent: int
    failed: int
    skipped: int  # in batches whose every recipient had unfollowed by then, or cancelled
    pending: int
    held: bool  # waiting for the monthly limit to lift


def progress(session: Session, announcement_id: int) -> Progress:
    row = session.get(Announcement, announcement_id)
    if row is not None and row.sent_count is not None:  # finished: its counts were kept
        return Progress(sent=row.sent_count, failed=row.failed_count or 0, skipped=0,
                        pending=0, held=False)
    counts = dict(session.execute(
        sa.select(OutboxMessage.status, sa.func.sum(OutboxMessage.recipient_count))
        .where(OutboxMessage.announcement_id == announcement_id)
        .group_by(OutboxMessage.status)).all())
    held = session.scalar(
        sa.select(sa.func.count()).select_from(OutboxMessage)
        .where(OutboxMessage.announcement_id == announcement_id,
               OutboxMessage.status == OutboxMessage.PENDING,
               OutboxMessage.last_error == "monthly limit")) > 0
    return Progress(
        sent=int(counts.get(OutboxMessage.SENT) or 0),
        failed=int(counts.get(OutboxMessage.FAILED) or 0),
        skipped=int(counts.get(OutboxMessage.SKIPPED) or 0),
        pending=int(counts.get(OutboxMessage.PENDING) or 0), held=held)


def settle(session: Session, now: dt.datetime | None = None) -> int:
    """Mark the sending announcements whose batches are all answered as sent (or failed) and
    tell their authors. Returns how many finished. (A batch held by LINE's monthly limit is
    not pushed to the author: that push would wait for the same limit. Authors see it in the
    API's `paused_for_quota` and in the reply when they next open announcements on LINE:
    `paused_for`.)"""
    now = now or utcnow()
    finished = 0
    for announcement in session.scalars(
            sa.select(Announcement).where(Announcement.status == Announcement.SENDING)):
        state = progress(session, announcement.id)
        if state.pending:
            continue
        announcement.status = (Announcement.FAILED if state.failed and not state.sent
                               else Announcement.SENT)
        announcement.finished_at = now
        # kept here: the batches are purged after the outbox's retention period
        announcement.sent_count, announcement.failed_count = state.sent, state.failed
        _tell_author(session, announcement, "announcement.finished", sent=state.sent,
                     failed=state.failed, skipped=announcement.skipped_blocked)
        finished += 1
    session.flush()
    return finished


def _tell_author(session: Session, announcement: Announcement, kind: str, **params) -> None:
    """Tell the officer who wrote it, on LINE if their account is linked (once per kind)."""
    from models import Officer

    line_id = session.scalar(
        sa.select(LineUser.line_user_id).join(Officer, Officer.line_user_id == LineUser.id)
        .where(Officer.username == announcement.created_by))
    if line_id is None:
        line_id = session.scalar(sa.select(LineUser.line_user_id).where(
            LineUser.line_user_id == announcement.created_by))
    if line_id is not None:
        notify_once(session, f"{kind}:{announcement.id}", line_id, kind,
                    announcement_id=announcement.id, **params)


def paused_for(session: Session, username: str) -> list[Announcement]:
    """An author's announcements waiting for LINE's monthly limit to lift."""
    held = sa.select(OutboxMessage.announcement_id).where(
        OutboxMessage.status == OutboxMessage.PENDING,
        OutboxMessage.last_error == "monthly limit")
    return list(session.scalars(
        sa.select(Announcement).where(Announcement.status == Announcement.SENDING,
                                      Announcement.created_by == username,
                                      Announcement.id.in_(held))
        .order_by(Announcement.id)))


def recent_for(session: Session, user: LineUser, limit: int = 5) -> list[Announcement]:
    """The latest sent announcements that reached a user's area and role (the "news"
    command on LINE)."""
    role_audience = {"volunteer": "volunteers", "parent": "parents",
                     "officer": "officers"}.get(user.role or "")
    if role_audience is None:
        return []
    places = {user.subdistrict_code, user.area_code}
    if user.role == "parent":
        places |= set(session.scalars(
            sa.select(Case.subdistrict_code).join(CaseGuardian, CaseGuardian.case_id == Case.id)
            .where(CaseGuardian.line_user_id == user.id, CaseGuardian.unlinked_at.is_(None))))
        places |= set(session.scalars(sa.select(Case.subdistrict_code).where(
            Case.reporter_id == user.id, Case.self_reported.is_(True))))
    places.discard(None)
    if not places:
        return []
    covering = set()
    for code in places:  # the place itself and every area containing it (40, 4007, 400701)
        covering |= {code[:2], code[:4], code}
    rows = session.scalars(
        sa.select(Announcement)
        .where(Announcement.status == Announcement.SENT,
               Announcement.area_code.in_(covering))
        .order_by(Announcement.finished_at.desc(), Announcement.id.desc()).limit(50))
    return [a for a in rows if role_audience in audience_of(a)[0]][:limit]
