"""The outbox: messages and notifications waiting to be delivered to LINE."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow
from models.inbox import BigId


class OutboxMessage(Base):
    """One delivery: a reply or push to a user, or a multicast to at most 500 users."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        sa.Index("ix_outbox_due", "status", "next_attempt_at"),
        sa.Index("ix_outbox_recipient", "recipient", "status"),
    )

    PENDING = "pending"
    SENT = "sent"
    UNCERTAIN = "uncertain"  # a reply whose first try was unclear and whose retry was refused
    FAILED = "failed"
    SKIPPED = "skipped"  # the recipient unfollowed, or the event came in standby mode

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(40), default="messages")
    payload: Mapped[str] = mapped_column(sa.Text)
    recipient: Mapped[str | None] = mapped_column(sa.String(64))
    recipients: Mapped[str | None] = mapped_column(sa.Text)  # JSON list, multicast only
    recipient_count: Mapped[int] = mapped_column(default=1)
    reply_token: Mapped[str | None] = mapped_column(sa.String(255))
    token_issued_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    inbox_event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inbox_events.id"))
    retry_key: Mapped[str] = mapped_column(sa.String(36))
    status: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    via: Mapped[str | None] = mapped_column(sa.String(16))
    reply_unclear: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(80))
    lease_expires_at: Mapped[dt.datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    # one send per key ever (e.g. "visit:42:2026-12-01"): a scheduled job run twice, or by two
    # workers at once, queues the message once
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(160), unique=True)
    # held while QUIET_HOURS last (reminders, digests, scheduled announcements only)
    quiet: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # the announcement this multicast batch delivers (its counts come from these rows)
    announcement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("announcements.id"),
                                                        index=True)


class ServiceState(Base):
    """Small named values the service keeps between runs (e.g. the monthly-quota hold)."""

    __tablename__ = "service_state"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RateSlot(Base):
    """The next free moment of a rate limit shared by every process (bot.sender's multicast
    pacing): taken with one conditional UPDATE ... RETURNING, so two senders never get the same
    slot."""

    __tablename__ = "rate_slots"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    next_us: Mapped[int] = mapped_column(sa.BigInteger)  # Unix time, microseconds


class SchedulerRun(Base):
    """One run of a scheduled job for one slot (e.g. the morning reminders of 2026-12-01).

    Claimed by the worker that runs it (a lease); `done` once finished. A worker that dies
    mid-run leaves a lease that expires, and the next worker runs the slot again: the jobs
    are idempotent (each message they queue has a unique `dedupe_key`)."""

    __tablename__ = "scheduler_runs"

    RUNNING = "running"
    DONE = "done"
    MISSED = "missed"  # the slot's window closed before any worker was up to run it

    job: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    slot: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(12), default=RUNNING)
    owner: Mapped[str | None] = mapped_column(sa.String(80))
    lease_expires_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    result: Mapped[str | None] = mapped_column(sa.Text)  # JSON: what the run did
