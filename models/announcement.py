"""Announcements: an officer's message to the volunteers, parents or officers of an area."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow
from models.case import JSONList
from models.inbox import BigId


class Announcement(Base):
    """One announcement, from composition to the last batch delivered.

    Status: `awaiting_approval` (province-wide, until a second person approves) →
    `scheduled` (waits for `send_at`) → `sending` (recipients resolved, batches queued in the
    outbox) → `sent` (every batch answered) — or `cancelled`, or `failed` (no batch could be
    delivered), or `refused` (at its send time the month's LINE budget could not carry it:
    nothing was sent). Counts are kept when the recipients are resolved and as batches
    finish: `recipients` = sent + failed + skipped_blocked + cancelled + pending."""

    __tablename__ = "announcements"
    __table_args__ = (sa.Index("ix_announcements_due", "status", "send_at"),
                      sa.Index("ix_announcements_area", "area_code", "created_at"))

    AWAITING_APPROVAL = "awaiting_approval"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"
    REFUSED = "refused"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    text: Mapped[str] = mapped_column(sa.Text)
    link: Mapped[str | None] = mapped_column(sa.String(1000))
    audience: Mapped[list[str]] = mapped_column(JSONList, default=list)  # volunteers|parents|...
    area_code: Mapped[str] = mapped_column(sa.ForeignKey("areas.code"))
    agency_code: Mapped[str | None] = mapped_column(sa.ForeignKey("agencies.code"))
    status: Mapped[str] = mapped_column(sa.String(20), default=SCHEDULED)
    # when it goes: now for an immediate one; a scheduled one (`scheduled_by_officer`) waits
    # for QUIET_HOURS to end as well
    send_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    scheduled_by_officer: Mapped[bool] = mapped_column(default=False)
    estimate: Mapped[int] = mapped_column(default=0)  # recipients when composed
    # everyone the audience matched at send time, and of them those who had unfollowed (then,
    # or by the time their batch went: the sender adds those)
    recipients: Mapped[int] = mapped_column(default=0)
    skipped_blocked: Mapped[int] = mapped_column(default=0)
    # kept when it finishes (its outbox batches are purged after OUTBOX retention)
    sent_count: Mapped[int | None]
    failed_count: Mapped[int | None]
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_via: Mapped[str] = mapped_column(sa.String(12), default="api")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(sa.String(64))
    approved_at: Mapped[dt.datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(sa.String(64))
    cancelled_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    # LINE's monthly limit holds its batches since then (None: not paused), and the officers
    # (author, approver) already told of this pause on LINE, in a reply they got
    paused_at: Mapped[dt.datetime | None]
    pause_told: Mapped[list[str] | None] = mapped_column(JSONList)
