"""Officer accounts of the partner agencies, their API tokens, and the audit log."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.case import JSONText
from models.inbox import BigId


class Officer(Base):
    """A console and API account: one agency, one area scope, one role.

    `area_code` is a province, district or subdistrict code; the scope is every case located
    in it. `line_user_id` links the LINE user who registered with an officer invitation.
    `session_generation` is in every console session cookie of the account
    (handlers/console/security.py): a cookie with another number no longer signs anyone in."""

    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # argon2id; None for an account made from a LINE registration until a password is set
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(16))  # officer | supervisor | admin
    agency_code: Mapped[str] = mapped_column(sa.ForeignKey("agencies.code"))
    area_code: Mapped[str] = mapped_column(sa.ForeignKey("areas.code"))
    full_name: Mapped[str | None] = mapped_column(sa.String(200))
    line_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("line_users.id"), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[dt.datetime | None]
    # the console's sessions carry this number; raising it ends every session signed in
    # before (sign-out, a password change or reset, a scope change, a deactivation)
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="officer")


class ApiToken(Base):
    """A bearer token for the REST API; only its SHA-256 is stored (the token is random)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    officer_id: Mapped[int] = mapped_column(sa.ForeignKey("officers.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))  # shown in lists to tell tokens apart
    name: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]

    officer: Mapped[Officer] = relationship(back_populates="tokens")


class AuditEntry(Base):
    """Who did or read what, when, from where. Rows are only ever added.

    Sealing (services.audit.seal) chains them: each sealed row gets the next `seal_seq` and
    `row_hash` = SHA-256 of the previous row's hash and its own content, so a changed, removed
    or slipped-in row breaks the chain (`flask audit verify`)."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_case_at", "case_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(64))  # officer username or LINE user id
    actor_kind: Mapped[str] = mapped_column(sa.String(12))  # officer | line | system
    action: Mapped[str] = mapped_column(sa.String(40))  # case.read, case.list, case.transition..
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"))
    detail: Mapped[dict] = mapped_column(JSONText, default=dict)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))
    seal_seq: Mapped[int | None] = mapped_column(sa.BigInteger, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(sa.String(64))
    row_hash: Mapped[str | None] = mapped_column(sa.String(64))
