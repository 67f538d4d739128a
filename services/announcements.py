"""Announcements: officers broadcasting to an area and an audience, delivered once, within
the monthly quota (DESIGN.md §5).

- `compose`: validate the text, link, audience, area (inside the officer's scope) and time;
  estimate the recipients now and check them against the remaining push budget of the month
  it goes in (read from LINE by the caller and passed in: services never call LINE); when LINE
  could not be asked, the officer must confirm; a province-wide one waits for a second
  person's approval.
- `approve`, `cancel` (final: the sender skips a cancelled announcement's batches before each
  attempt, bot.sender).
- `release_due` (the worker, each round, with LINE's quota read just before): an announcement
  whose time has come is claimed once (a conditional UPDATE), its recipients resolved from the
  registered users at that moment (the unfollowed are counted and skipped), its need checked
  again against what LINE has counted this month and the batches of announcements still
  sending (over it: `refused`, nothing sent, the author told), and queued as multicast rows of
  at most 500 ids, one per language, each with its own retry key persisted before its first
  try (bot.sender delivers them: 409 on a repeat means delivered; 429 backs off; the monthly
  limit holds them; 5xx and timeouts retry; other 4xx fail that batch).
- `progress` / `settle`: the counts from the batches; an announcement whose batches are all
  answered is `sent` (or `failed`); one held by LINE's monthly limit is marked paused, and its
  author and approver are told once, in the next reply they get on LINE (`untold_pauses`).
- `quota_status`: a month's budget, what LINE counted, what announcements still sending hold
  and what announcements composed for that month reserve.

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
    BANGKOK,
    Announcement,
    Area,
    Case,
    CaseGuardian,
    LineUser,
    Officer,
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
#: When LINE cannot say how much of the month's quota is left at an announcement's send time,
#: it waits (asked again each round) at most this long, then goes unchecked: LINE's own monthly
#: limit still pauses it.
UNKNOWN_QUOTA_WAIT = dt.timedelta(minutes=15)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
OPEN = (Announcement.AWAITING_APPROVAL, Announcement.SCHEDULED)
MONTHLY_LIMIT = "monthly limit"  # bot.sender's last_error on a batch LINE's monthly limit holds
SYSTEM = Actor(kind="system", name="samoe", via="worker")


class AnnouncementError(ValueError):
    """A refused announcement or action; `status` is the HTTP answer, `detail` extra facts."""

    def __init__(self, code: str, message: str, status: int = 422, **detail):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.detail = detail


def month_start(moment: dt.datetime) -> dt.datetime:
    """The start of the month `moment` falls in (LINE's quota is monthly; Samoe counts months
    in Khon Kaen's time, as everywhere else), in UTC."""
    local = moment.astimezone(BANGKOK)
    return dt.datetime(local.year, local.month, 1, tzinfo=BANGKOK).astimezone(dt.UTC)


def next_month_start(moment: dt.datetime) -> dt.datetime:
    local = moment.astimezone(BANGKOK)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return dt.datetime(year, month, 1, tzinfo=BANGKOK).astimezone(dt.UTC)


@dataclass(frozen=True)
class Quota:
    """A month's push budget. `limit` None = no limit (or LINE unreachable: `known` False).

    `used` is what LINE has counted this month (0 for a later month: what reminders and
    parent updates will have used by then cannot be known); `sending` what the batches of
    announcements still sending will use (not counted by LINE yet); `reserved` the estimates of
    announcements composed for that month but not sent yet."""

    limit: int | None
    used: int
    reserved: int
    sending: int = 0
    known: bool = True
    month: str = ""  # YYYY-MM
    ahead: bool = False  # a later month than this one

    @property
    def remaining(self) -> int | None:
        if self.limit is None:
            return None
        return max(self.limit - self.used - self.sending - self.reserved, 0)

    def as_dict(self) -> dict:
        return {"limit": self.limit, "used": self.used, "reserved": self.reserved,
                "sending": self.sending, "remaining": self.remaining, "known": self.known,
                "month": self.month, "ahead": self.ahead}


def _sending(session: Session, exclude: int | None = None) -> int:
    """Recipients in the batches of announcements still sending that LINE has not taken yet
    (held by the monthly limit, waiting for a retry, or not tried yet)."""
    return int(session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(OutboxMessage.recipient_count), 0))
        .join(Announcement, Announcement.id == OutboxMessage.announcement_id)
        .where(OutboxMessage.status == OutboxMessage.PENDING,
               Announcement.status == Announcement.SENDING,
               Announcement.id != (exclude or 0))) or 0)


def quota_status(session: Session, line_quota: dict | None, exclude: int | None = None,
                 at: dt.datetime | None = None, now: dt.datetime | None = None) -> Quota:
    """The budget of the month `at` falls in (default: this month), from LINE's `/quota` +
    `/quota/consumption` as bot.line_client.quota gives them (`{"type", "value", "used"}`, or
    None when LINE could not be asked). For a later month, the limit is this month's (LINE's
    plan) and only the announcements composed for that month are held against it."""
    now = now or utcnow()
    at = max(at or now, now)
    start, end = month_start(at), next_month_start(at)
    ahead = start > now
    window = [Announcement.send_at < end]
    if ahead:
        window.append(Announcement.send_at >= start)
    reserved = int(session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Announcement.estimate), 0))
        .where(Announcement.status.in_(OPEN), Announcement.id != (exclude or 0),
               *window)) or 0)
    sending = 0 if ahead else _sending(session, exclude)
    month = at.astimezone(BANGKOK).strftime("%Y-%m")
    if line_quota is None:
        return Quota(None, 0, reserved, sending, known=False, month=month, ahead=ahead)
    limit = line_quota.get("value") if line_quota.get("type") == "limited" else None
    used = 0 if ahead else int(line_quota.get("used") or 0)
    return Quota(limit, used, reserved, sending, month=month, ahead=ahead)


# -- who gets it -----------------------------------------------------------------------------

def _within(column, area_code: str):
    """A code column lying inside an area (codes nest by prefix: 40, 4007, 400701)."""
    return column.like(f"{area_code}%")


def _audience_users(audience: list[str], area_code: str, group: str | None):
    """SELECT line_user_id, language, followed of the users an announcement reaches.

    Volunteers by the subdistrict they registered for; officers through their console account
    (active, its scope inside the area, linked to a LINE user): a deactivated or moved officer
    is not reached through what their LINE user said at registration; parents linked to (or
    who reported) an open case of a child living in the area, of the group if one is given."""
    parts = []
    if "volunteers" in audience:
        parts.append(sa.select(LineUser.id).where(
            LineUser.role == "volunteer", _within(LineUser.subdistrict_code, area_code)))
    if "officers" in audience:
        parts.append(sa.select(Officer.line_user_id).where(
            Officer.active.is_(True), Officer.line_user_id.is_not(None),
            _within(Officer.area_code, area_code)))
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
    quota = quota_status(session, line_quota, at=send_at or now, now=now)
    if not quota.known and not confirm:
        raise AnnouncementError("quota_unknown", "LINE could not say how much of this month's "
                                "message budget is left: it is checked again when the "
                                "announcement goes; send it again with confirm", 409,
                                estimate=estimate, quota=quota.as_dict())
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

def due(session: Session, now: dt.datetime | None = None) -> bool:
    """Is an announcement's time come? (The worker asks LINE's quota only then.)"""
    now = now or utcnow()
    return session.scalar(
        sa.select(Announcement.id)
        .where(Announcement.status == Announcement.SCHEDULED, Announcement.send_at <= now)
        .limit(1)) is not None


def release_due(session: Session, line_quota: dict | None, now: dt.datetime | None = None,
                limit: int = 5) -> int:
    """Queue the batches of the announcements whose time has come; returns how many went.

    `line_quota` is LINE's quota read just before (None: LINE could not be asked). Each one's
    need is checked against what LINE has counted this month and what the batches of
    announcements still sending will use (announcements scheduled later are not held against
    it: the first to go is sent first); over it, it is `refused` and its author told. When LINE
    could not be asked, it waits up to UNKNOWN_QUOTA_WAIT past its time, then goes unchecked."""
    now = now or utcnow()
    due_rows = list(session.execute(
        sa.select(Announcement.id, Announcement.send_at)
        .where(Announcement.status == Announcement.SCHEDULED, Announcement.send_at <= now)
        .order_by(Announcement.send_at, Announcement.id).limit(limit)))
    released = 0
    for announcement_id, send_at in due_rows:
        if line_quota is None and now - send_at < UNKNOWN_QUOTA_WAIT:
            continue  # LINE may answer next round
        taken = session.execute(
            sa.update(Announcement)
            .where(Announcement.id == announcement_id,
                   Announcement.status == Announcement.SCHEDULED)
            .values(status=Announcement.SENDING, started_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if taken != 1:
            continue  # another worker has it
        announcement = session.get(Announcement, announcement_id, populate_existing=True)
        if _queue_batches(session, announcement, line_quota, now):
            released += 1
    return released


def _queue_batches(session: Session, announcement: Announcement, line_quota: dict | None,
                   now: dt.datetime) -> bool:
    """Resolve the recipients, check the budget again, queue the batches; False if refused."""
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
    active = sum(len(ids) for ids in by_language.values())
    announcement.recipients = active + blocked
    announcement.skipped_blocked = blocked
    if line_quota is None:
        audit.record(session, SYSTEM, "announcement.unchecked", announcement_id=announcement.id,
                     needed=active, reason="LINE's quota could not be read")
    elif line_quota.get("type") == "limited":
        left = max(int(line_quota.get("value") or 0) - int(line_quota.get("used") or 0)
                   - _sending(session, exclude=announcement.id), 0)
        if active > left:
            announcement.status = Announcement.REFUSED
            announcement.finished_at = now
            announcement.sent_count, announcement.failed_count = 0, 0
            audit.record(session, SYSTEM, "announcement.refuse",
                         announcement_id=announcement.id, needed=active, remaining=left)
            for line_id in _officers_of(session, announcement):
                notify_once(session, f"announcement.refused:{announcement.id}:{line_id}",
                            line_id, "announcement.refused", announcement_id=announcement.id,
                            needed=active, remaining=left)
            session.flush()
            return False
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
    else:
        announcement.status = Announcement.SENT
        announcement.finished_at = now
        announcement.sent_count, announcement.failed_count = 0, 0
    session.flush()
    return True


@dataclass(frozen=True)
class Progress:
    """Where an announcement's recipients are: recipients = sent + failed + skipped_blocked +
    cancelled + pending."""

    sent: int
    failed: int
    skipped_blocked: int  # had unfollowed when it went, or by the time their batch went
    cancelled: int  # in batches not sent because it was cancelled
    pending: int
    held: bool  # waiting for LINE's monthly limit to lift


def progress(session: Session, announcement_id: int) -> Progress:
    row = session.get(Announcement, announcement_id)
    skipped = int(row.skipped_blocked or 0) if row is not None else 0
    if row is not None and row.sent_count is not None:  # finished: its counts were kept
        sent, failed = row.sent_count, row.failed_count or 0
        left = max((row.recipients or 0) - sent - failed - skipped, 0)
        return Progress(sent=sent, failed=failed, skipped_blocked=skipped,
                        cancelled=left if row.status == Announcement.CANCELLED else 0,
                        pending=0, held=False)
    counts = {status: (int(total or 0), bool(held)) for status, total, held in session.execute(
        sa.select(OutboxMessage.status, sa.func.sum(OutboxMessage.recipient_count),
                  sa.func.max(sa.case((OutboxMessage.last_error == MONTHLY_LIMIT, 1), else_=0)))
        .where(OutboxMessage.announcement_id == announcement_id)
        .group_by(OutboxMessage.status))}
    return Progress(
        sent=counts.get(OutboxMessage.SENT, (0, False))[0],
        failed=counts.get(OutboxMessage.FAILED, (0, False))[0],
        skipped_blocked=skipped,
        cancelled=counts.get(OutboxMessage.SKIPPED, (0, False))[0],
        pending=counts.get(OutboxMessage.PENDING, (0, False))[0],
        held=counts.get(OutboxMessage.PENDING, (0, False))[1])


def settle(session: Session, now: dt.datetime | None = None) -> int:
    """Mark the sending announcements whose batches are all answered as sent (or failed) and
    tell their authors; note when LINE's monthly limit starts (or stops) holding one. Keep the
    counts of a cancelled one once its batches are all answered. Returns how many finished.

    (A paused announcement is not pushed to its author: that push would wait for the same
    limit. They are told once, in the next reply they get on LINE, and the console shows it.)"""
    now = now or utcnow()
    finished = 0
    for announcement in session.scalars(
            sa.select(Announcement).where(Announcement.status == Announcement.SENDING)):
        state = progress(session, announcement.id)
        if state.held and announcement.paused_at is None:
            announcement.paused_at, announcement.pause_told = now, []
        elif not state.held and announcement.paused_at is not None:
            announcement.paused_at, announcement.pause_told = None, None
        if state.pending:
            continue
        announcement.status = (Announcement.FAILED if state.failed and not state.sent
                               else Announcement.SENT)
        announcement.finished_at = now
        # kept here: the batches are purged after the outbox's retention period
        announcement.sent_count, announcement.failed_count = state.sent, state.failed
        _tell_author(session, announcement, "announcement.finished", sent=state.sent,
                     failed=state.failed, skipped=state.skipped_blocked)
        finished += 1
    for announcement in session.scalars(
            sa.select(Announcement).where(Announcement.status == Announcement.CANCELLED,
                                          Announcement.started_at.is_not(None),
                                          Announcement.sent_count.is_(None))):
        state = progress(session, announcement.id)
        if not state.pending:
            announcement.sent_count, announcement.failed_count = state.sent, state.failed
            announcement.paused_at, announcement.pause_told = None, None
    session.flush()
    return finished


def _line_id_of(session: Session, username: str | None) -> str | None:
    """The LINE user id of an officer account (its linked LINE user, if active), or of a LINE
    user named directly."""
    if not username:
        return None
    line_id = session.scalar(
        sa.select(LineUser.line_user_id).join(Officer, Officer.line_user_id == LineUser.id)
        .where(Officer.username == username, Officer.active.is_(True)))
    if line_id is None:
        line_id = session.scalar(sa.select(LineUser.line_user_id).where(
            LineUser.line_user_id == username))
    return line_id


def _officers_of(session: Session, announcement: Announcement) -> list[str]:
    """The LINE user ids of its author and approver (those with a linked LINE account)."""
    found = [_line_id_of(session, name)
             for name in (announcement.created_by, announcement.approved_by)]
    return list(dict.fromkeys(line_id for line_id in found if line_id))


def _tell_author(session: Session, announcement: Announcement, kind: str, **params) -> None:
    """Tell the officer who wrote it, on LINE if their account is linked (once per kind)."""
    line_id = _line_id_of(session, announcement.created_by)
    if line_id is not None:
        notify_once(session, f"{kind}:{announcement.id}", line_id, kind,
                    announcement_id=announcement.id, **params)


def _theirs(username: str):
    return sa.or_(Announcement.created_by == username, Announcement.approved_by == username)


def paused_for(session: Session, username: str) -> list[Announcement]:
    """The announcements an officer wrote or approved that LINE's monthly limit holds."""
    return list(session.scalars(
        sa.select(Announcement).where(Announcement.status == Announcement.SENDING,
                                      Announcement.paused_at.is_not(None), _theirs(username))
        .order_by(Announcement.id)))


def untold_pauses(session: Session, username: str) -> list[Announcement]:
    """The paused announcements (`paused_for`) this officer has not been told of yet."""
    return [row for row in paused_for(session, username)
            if username not in (row.pause_told or [])]


def mark_told(announcements: list[Announcement], username: str) -> None:
    """Remember that the officer was told of these pauses (in the reply being made)."""
    for row in announcements:
        if username not in (row.pause_told or []):
            row.pause_told = [*(row.pause_told or []), username]


def recent_for(session: Session, user: LineUser, limit: int = 5) -> list[Announcement]:
    """The latest sent announcements that reached a user's area and role (the "news"
    command on LINE), by the same rules as the targeting: a volunteer's subdistrict, an
    officer's current scope (an active account), a parent's children with an open case
    (and their group)."""
    role_audience = {"volunteer": "volunteers", "parent": "parents",
                     "officer": "officers"}.get(user.role or "")
    if role_audience is None:
        return []
    groups_at: dict[str, set[str | None]] = {}  # place -> the groups that may be targeted
    if user.role == "volunteer" and user.subdistrict_code:
        groups_at[user.subdistrict_code] = {None}
    elif user.role == "officer":
        officer = session.scalar(sa.select(Officer).where(Officer.line_user_id == user.id,
                                                          Officer.active.is_(True)))
        if officer is not None:
            groups_at[officer.area_code] = {None}
    elif user.role == "parent":
        children = sa.select(Case.subdistrict_code, Case.target_group).where(
            Case.stage != "closed", sa.or_(
                Case.id.in_(sa.select(CaseGuardian.case_id).where(
                    CaseGuardian.line_user_id == user.id, CaseGuardian.unlinked_at.is_(None))),
                sa.and_(Case.reporter_id == user.id, Case.self_reported.is_(True))))
        for place, group in session.execute(children):
            if place:
                groups_at.setdefault(place, {None}).add(group)
    if not groups_at:
        return []
    covering: dict[str, set[str | None]] = {}
    for code, groups in groups_at.items():  # the place and every area containing it
        for prefix in {code[:2], code[:4], code}:
            covering.setdefault(prefix, set()).update(groups)
    rows = session.scalars(
        sa.select(Announcement)
        .where(Announcement.status == Announcement.SENT,
               Announcement.area_code.in_(covering))
        .order_by(Announcement.finished_at.desc(), Announcement.id.desc()).limit(50))
    found = []
    for row in rows:
        audience, group = audience_of(row)
        # the group narrows the parents only
        if role_audience in audience and (user.role != "parent"
                                          or group in covering[row.area_code]):
            found.append(row)
    return found[:limit]
