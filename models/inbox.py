"""The webhook inbox: every LINE event stored once, then handled by a worker."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class InboxEvent(Base):
    """One webhook event exactly as LINE sent it, with its handling state."""

    __tablename__ = "inbox_events"
    __table_args__ = (
        sa.Index("ix_inbox_pending_user", "status", "user_key", "occurred_ms"),
        sa.Index("ix_inbox_status_received", "status", "received_at"),
    )

    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    webhook_event_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_key: Mapped[str] = mapped_column(sa.String(80))
    event_type: Mapped[str] = mapped_column(sa.String(40))
    mode: Mapped[str] = mapped_column(sa.String(16), default="active")
    occurred_ms: Mapped[int] = mapped_column(sa.BigInteger)
    is_redelivery: Mapped[bool] = mapped_column(default=False)
    destination: Mapped[str | None] = mapped_column(sa.String(64))
    payload: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[dt.datetime | None]
    handled_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)


class InboxLease(Base):
    """A lease on one user's events: only the holder handles that user's inbox."""

    __tablename__ = "inbox_leases"

    user_key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    owner: Mapped[str | None] = mapped_column(sa.String(80))
    expires_at: Mapped[dt.datetime | None]
