"""Conversation state: where each LINE user is in a flow, and the answers given so far."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow
from models.inbox import BigId


class ConversationState(Base):
    """One row per user in a flow: the flow, its step, the draft (JSON), and when it expires."""

    __tablename__ = "conversation_states"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    line_user_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    flow: Mapped[str] = mapped_column(sa.String(40))
    step: Mapped[str] = mapped_column(sa.String(40))
    draft: Mapped[str] = mapped_column(sa.Text, default="{}")
    history: Mapped[str] = mapped_column(sa.Text, default="[]")  # steps answered, for "back"
    paused: Mapped[bool] = mapped_column(default=False)  # expired: waiting for resume/restart
    expires_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
