"""People who talk to the LINE Official Account."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow
from models.crypto import EncryptedText
from models.inbox import BigId


class LineUser(Base):
    """A LINE user known to Samoe: their role once registered, language, and follow state."""

    __tablename__ = "line_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    line_user_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    role: Mapped[str | None] = mapped_column(sa.String(16))
    language: Mapped[str] = mapped_column(sa.String(8), default="th")
    followed: Mapped[bool] = mapped_column(default=True)
    followed_at: Mapped[dt.datetime | None]
    unfollowed_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # registration (volunteers and officers)
    full_name: Mapped[str | None] = mapped_column(sa.String(200))
    phone: Mapped[str | None] = mapped_column(EncryptedText)  # encrypted at rest
    village: Mapped[str | None] = mapped_column(sa.String(200))
    village_no: Mapped[int | None]
    subdistrict_code: Mapped[str | None] = mapped_column(sa.ForeignKey("areas.code"))
    agency_code: Mapped[str | None] = mapped_column(sa.ForeignKey("agencies.code"))
    area_code: Mapped[str | None] = mapped_column(sa.ForeignKey("areas.code"))
    registered_at: Mapped[dt.datetime | None]
    # wrong invitation or link codes, for rate limiting guesses
    code_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    code_locked_until: Mapped[dt.datetime | None]
