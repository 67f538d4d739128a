"""Invitation codes that let a LINE user register as a volunteer or an officer."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow
from models.inbox import BigId


class Invitation(Base):
    """A single-use, expiring 6-digit code; only its keyed hash is stored."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    role: Mapped[str] = mapped_column(sa.String(16))  # volunteer | officer
    subdistrict_code: Mapped[str | None] = mapped_column(sa.ForeignKey("areas.code"))
    agency_code: Mapped[str | None] = mapped_column(sa.ForeignKey("agencies.code"))
    area_code: Mapped[str | None] = mapped_column(sa.ForeignKey("areas.code"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    used_by: Mapped[str | None] = mapped_column(sa.String(64))
    revoked_at: Mapped[dt.datetime | None]
    # an officer invitation may name the console account the LINE user is linked to
    officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officers.id"))
