"""Readiness checks and Prometheus metrics, computed from the database so every process
(web or worker, on any machine) reports the same figures."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from bot import inbox
from bot.extensions import db
from bot.sender import HOLD_KEY
from models import BANGKOK, InboxEvent, OutboxMessage, ServiceState, utcnow

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@cache
def migration_heads() -> frozenset[str]:
    """The head revisions of the migrations shipped with this code."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def database_revisions() -> frozenset[str]:
    """The revisions the database is at."""
    rows = db.session.execute(sa.text("SELECT version_num FROM alembic_version"))
    return frozenset(row[0] for row in rows)


def readiness(lag_limit: float) -> dict[str, dict]:
    """Each readiness check with its result."""
    checks: dict[str, dict] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = {"ok": True}
    except SQLAlchemyError as exc:
        db.session.rollback()
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        return checks
    try:
        current = database_revisions()
        checks["migrations"] = {"ok": current == migration_heads(), "at": sorted(current),
                                "expected": sorted(migration_heads())}
    except SQLAlchemyError:
        db.session.rollback()
        checks["migrations"] = {"ok": False, "at": [], "expected": sorted(migration_heads())}
        return checks
    lag = inbox.lag_seconds(db.session)
    checks["inbox_lag"] = {"ok": lag <= lag_limit, "seconds": round(lag, 3), "limit": lag_limit}
    db.session.rollback()
    return checks


def _month_start(now: dt.datetime) -> dt.datetime:
    local = now.astimezone(BANGKOK)
    return dt.datetime(local.year, local.month, 1, tzinfo=BANGKOK).astimezone(dt.UTC)


def prometheus_text() -> str:
    """The metrics in Prometheus text exposition format."""
    session = db.session
    now = utcnow()
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[dict, float]]):
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")

    metric("samoe_inbox_lag_seconds", "gauge", "Age of the oldest unhandled webhook event.",
           [({}, round(inbox.lag_seconds(session, now), 3))])
    by_status = session.execute(
        sa.select(InboxEvent.status, sa.func.count()).group_by(InboxEvent.status)
    ).all()
    metric("samoe_inbox_events", "gauge", "Webhook events in the inbox by status.",
           [({"status": status}, count) for status, count in by_status])
    backlog = session.scalar(
        sa.select(sa.func.count()).where(OutboxMessage.status == OutboxMessage.PENDING)
    )
    metric("samoe_outbox_backlog", "gauge", "Outbox rows waiting to be sent.", [({}, backlog)])
    sends = session.execute(
        sa.select(OutboxMessage.status, OutboxMessage.via, sa.func.count())
        .where(OutboxMessage.status != OutboxMessage.PENDING)
        .group_by(OutboxMessage.status, OutboxMessage.via)
    ).all()
    metric("samoe_outbox_sends", "gauge",
           "Outbox rows by result (sent, uncertain, failed, skipped) and channel.",
           [({"result": status, "via": via or "none"}, count) for status, via, count in sends])
    used = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(OutboxMessage.recipient_count), 0)).where(
            OutboxMessage.status == OutboxMessage.SENT,
            OutboxMessage.via.in_(("push", "multicast")),
            OutboxMessage.sent_at >= _month_start(now),
        )
    )
    metric("samoe_push_quota_used", "gauge",
           "Paid sends (push and multicast recipients) this month, as counted by Samoe.",
           [({}, used)])
    hold = session.scalar(sa.select(ServiceState.value).where(ServiceState.key == HOLD_KEY))
    metric("samoe_push_held", "gauge", "1 while pushes are held by LINE's monthly limit.",
           [({}, 1 if hold else 0)])
    session.rollback()
    return "\n".join(lines) + "\n"
