"""Requests to erase what Samoe holds about a child (a data subject's right under the PDPA).

An officer in charge of the case asks, with the guardian's reason; a supervisor of the case's
area (not the one who asked) approves or rejects; on approval services.subject_rights erases
the case's personal data and the request is `done`. At most one request per case waits at a
time (a partial unique index on both databases)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.case import Case
from models.inbox import BigId


class ErasureRequest(Base):
    """One request to erase a case's personal data, and the supervisor's decision."""

    __tablename__ = "erasure_requests"
    __table_args__ = (
        sa.Index("ix_erasure_requests_one_pending", "case_id", unique=True,
                 sqlite_where=sa.text("status = 'pending'"),
                 postgresql_where=sa.text("status = 'pending'")),
        sa.Index("ix_erasure_requests_status", "status", "requested_at"),
    )

    PENDING = "pending"
    APPROVED = "approved"  # decided; the erasure runs in the same transaction, then `done`
    REJECTED = "rejected"
    DONE = "done"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    requested_by: Mapped[str] = mapped_column(sa.String(64))  # officer username
    reason: Mapped[str] = mapped_column(sa.Text)
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(sa.String(12), default=PENDING)
    decided_by: Mapped[str | None] = mapped_column(sa.String(64))
    decided_at: Mapped[dt.datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(sa.Text)
    done_at: Mapped[dt.datetime | None]  # when the erasure ran

    case: Mapped[Case] = relationship()
