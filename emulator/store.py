"""The emulator's state in the database, shared by every process, with atomic operations.

Counters that concurrent workers touch are changed by conditional UPDATEs whose row count is
checked (reply tokens, fault counts, quota) or by a unique key (retry keys), never by reading a
value in Python and writing it back.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from emulator import tables as t
from emulator.database import READ_ONLY
from emulator.ids import new_channel_secret, now_ms

REPLY_TOKEN_TTL_MS = 60_000
# PostgreSQL advisory lock ids. The first two make sequence numbers commit in the order they are
# taken, so a reader polling with ``after=N`` never skips a row committed late.
_SENT_LOCK = 0x53414D4F4501
_REQUESTS_LOCK = 0x53414D4F4502
_SCHEMA_LOCK = 0x53414D4F4503
_QUOTA_ROW = 1


class InvalidReplyToken(Exception):
    """The reply token is unknown, already used or expired."""


class QuotaExceeded(Exception):
    """Sending would pass the monthly limit."""


class RetryKeyAccepted(Exception):
    """The retry key was accepted before: nothing is sent again."""

    def __init__(self, request_id: str, sent_messages: list[dict[str, Any]] | None) -> None:
        super().__init__(request_id)
        self.request_id = request_id
        self.sent_messages = sent_messages


@dataclass(frozen=True)
class Fault:
    """An injected fault taken for one call."""

    id: int
    endpoint: str
    status: int
    delay: float
    body: dict[str, Any] | None
    when: str

    @property
    def replaces_response(self) -> bool:
        """Tell whether the fault replaces the real response (status 0 or 200: a delay only)."""
        return self.status not in (0, 200)


@dataclass
class EventRecord:
    """A webhook event to store, with what it changes besides itself."""

    event: dict[str, Any]
    user_id: str | None
    followed: bool | None = None
    content: bytes | None = None
    content_type: str | None = None
    display_text: str | None = None  # what the user's chat showed for it (not sent to the bot)


def default_display_name(user_id: str) -> str:
    """Return the display name given to a user the emulator has not been told about."""
    return f"ผู้ใช้ทดสอบ {user_id[-4:]}"


def _insert(conn: sa.Connection, table: sa.Table):
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _lock(conn: sa.Connection, lock_id: int) -> None:
    # SQLite transactions already run one at a time (BEGIN IMMEDIATE).
    if conn.dialect.name == "postgresql":
        conn.execute(_advisory_lock(), {"lock_id": lock_id})


# Statements of every API call, built once with bound parameters: building them per call (and
# SQLAlchemy's cache key of each new one) was a third of the emulator's CPU per reply
# (bench/README.md), and the emulator's CPU is most of what a bot's reply costs the machine
# the benchmarks run on.


@functools.cache
def _advisory_lock():
    return sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("lock_id", type_=sa.BigInteger)))


@functools.cache
def _use_reply_token():
    """Consume a fresh, unused reply token; its user (no row: unknown, used or expired)."""
    tokens = t.reply_tokens
    return (
        tokens.update()
        .where(
            tokens.c.token == sa.bindparam("reply_token"),
            tokens.c.used_at.is_(None),
            tokens.c.issued_at >= sa.bindparam("oldest"),
        )
        .values(used_at=sa.bindparam("used_at"))
        .returning(tokens.c.user_id)
    )


@functools.cache
def _insert_sent():
    return t.sent.insert().returning(t.sent.c.seq)


@functools.cache
def _insert_request():
    return t.api_requests.insert()


@functools.cache
def _live_fault():
    faults = t.faults
    return (
        sa.select(faults.c.id)
        .where(faults.c.endpoint.in_(sa.bindparam("endpoints", expanding=True)),
               faults.c.remaining > 0)
        .limit(1)
    )


class Store:
    """All reads and writes of the emulator's state."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- schema and settings -------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the ``emu_`` tables that do not exist yet and the quota row.

        Processes starting together (gunicorn workers) take turns, so none sees a half-made schema.
        """
        with self.engine.begin() as conn:
            _lock(conn, _SCHEMA_LOCK)
            t.metadata.create_all(conn)
            self._ensure_quota_row(conn)

    def channel_secret(self) -> str:
        """Return the stored development channel secret, generating it the first time."""
        with self.engine.begin() as conn:
            conn.execute(
                _insert(conn, t.settings)
                .values(name="channel_secret", value=new_channel_secret())
                .on_conflict_do_nothing(index_elements=["name"])
            )
            return conn.scalar(
                sa.select(t.settings.c.value).where(t.settings.c.name == "channel_secret")
            )

    def reset(self) -> None:
        """Delete all state (configuration in ``emu_settings`` stays)."""
        with self.engine.begin() as conn:
            for table in t.STATE_TABLES:
                conn.execute(table.delete())
            self._ensure_quota_row(conn)

    @staticmethod
    def _ensure_quota_row(conn: sa.Connection) -> None:
        conn.execute(
            _insert(conn, t.quota)
            .values(id=_QUOTA_ROW, limit_value=None, total_usage=0)
            .on_conflict_do_nothing(index_elements=["id"])
        )

    # -- users ------------------------------------------------------------------------------

    def save_user(
        self,
        user_id: str,
        *,
        display_name: str | None = None,
        language: str | None = None,
        picture_url: str | None = None,
        followed: bool | None = None,
    ) -> dict[str, Any]:
        """Create or update a user; fields given as None keep their value (or the default)."""
        with self.engine.begin() as conn:
            self._save_user(conn, user_id, display_name, language, picture_url, followed)
            row = conn.execute(sa.select(t.users).where(t.users.c.user_id == user_id)).one()
        return _user_dict(row)

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        """Return a user by id, or None."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(t.users).where(t.users.c.user_id == user_id)).first()
        return _user_dict(row) if row else None

    def list_users(self) -> list[dict[str, Any]]:
        """Return every known user."""
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(t.users).order_by(t.users.c.user_id)).all()
        return [_user_dict(row) for row in rows]

    @staticmethod
    def _save_user(conn, user_id, display_name, language, picture_url, followed) -> None:
        now = now_ms()
        changes = {
            key: value
            for key, value in {
                "display_name": display_name,
                "language": language,
                "picture_url": picture_url,
                "followed": followed,
            }.items()
            if value is not None
        }
        conn.execute(
            _insert(conn, t.users)
            .values(
                user_id=user_id,
                display_name=display_name or default_display_name(user_id),
                language=language or "th",
                picture_url=picture_url,
                followed=True if followed is None else followed,
                updated_at=now,
            )
            .on_conflict_do_update(index_elements=["user_id"], set_={**changes, "updated_at": now})
        )

    # -- webhook events and content -----------------------------------------------------

    def record_events(self, records: Iterable[EventRecord]) -> None:
        """Store events, their reply tokens (issued at the event time), content and users."""
        now = now_ms()
        with self.engine.begin() as conn:
            for record in records:
                event = record.event
                conn.execute(
                    t.events.insert().values(
                        webhook_event_id=event["webhookEventId"],
                        user_id=record.user_id,
                        event=event,
                        created_at=now,
                    )
                )
                if record.display_text is not None:
                    conn.execute(
                        t.event_deliveries.insert().values(
                            webhook_event_id=event["webhookEventId"],
                            display_text=record.display_text,
                        )
                    )
                if event.get("replyToken"):
                    conn.execute(
                        t.reply_tokens.insert().values(
                            token=event["replyToken"],
                            user_id=record.user_id,
                            webhook_event_id=event["webhookEventId"],
                            issued_at=int(event["timestamp"]),
                        )
                    )
                if record.content is not None:
                    conn.execute(
                        _insert(conn, t.contents)
                        .values(
                            message_id=str(event["message"]["id"]),
                            content_type=record.content_type,
                            data=record.content,
                        )
                        .on_conflict_do_update(
                            index_elements=["message_id"],
                            set_={"content_type": record.content_type, "data": record.content},
                        )
                    )
                if record.user_id:
                    self._save_user(conn, record.user_id, None, None, None, record.followed)

    def record_delivery(
        self, webhook_event_ids: Sequence[str], status: int | None, error: str | None
    ) -> None:
        """Record how the last delivery of these stored events went (ids not stored are
        ignored): the webhook's status, or None and why it could not be reached."""
        ids = list(dict.fromkeys(webhook_event_ids))
        if not ids:
            return
        now = now_ms()
        deliveries = t.event_deliveries
        with self.engine.begin() as conn:
            stored = conn.scalars(
                sa.select(t.events.c.webhook_event_id).where(
                    t.events.c.webhook_event_id.in_(ids)
                )
            ).all()
            for event_id in stored:
                outcome = {"status": status, "error": error, "delivered_at": now}
                conn.execute(
                    _insert(conn, deliveries)
                    .values(webhook_event_id=event_id, **outcome)
                    .on_conflict_do_update(index_elements=["webhook_event_id"], set_=outcome)
                )

    def load_events(self, webhook_event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Return the stored events with these ids, by id (unknown ids are left out)."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(t.events.c.webhook_event_id, t.events.c.event).where(
                    t.events.c.webhook_event_id.in_(list(webhook_event_ids))
                )
            ).all()
        return {row.webhook_event_id: row.event for row in rows}

    def get_content(self, message_id: str) -> tuple[str, bytes] | None:
        """Return (content type, bytes) uploaded for a message, or None."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(t.contents.c.content_type, t.contents.c.data).where(
                    t.contents.c.message_id == message_id
                )
            ).first()
        return (row.content_type, bytes(row.data)) if row else None

    # -- sending ------------------------------------------------------------------------

    def send_reply(
        self,
        reply_token: str,
        messages: list[dict[str, Any]],
        sent_messages: list[dict[str, Any]],
        request_id: str,
        request_log: dict[str, Any] | None = None,
    ) -> None:
        """Consume a reply token (single use, 60 s) and record the reply; else InvalidReplyToken.

        ``request_log``: the call's entry in the request log, written in the same transaction
        (see `record_request`)."""
        now = now_ms()
        with self.engine.begin() as conn:
            used = conn.execute(
                _use_reply_token(),
                {"reply_token": reply_token, "oldest": now - REPLY_TOKEN_TTL_MS, "used_at": now},
            ).first()
            if used is None:
                raise InvalidReplyToken(reply_token)
            user_id = used.user_id
            self._record_sent(
                conn,
                endpoint="reply",
                recipients=[user_id] if user_id else [],
                messages=messages,
                sent_messages=sent_messages,
                retry_key=None,
                reply_token=reply_token,
                request_id=request_id,
                at=now,
            )
            if request_log is not None:
                self._record_request(conn, request_log)

    def send(
        self,
        endpoint: str,
        recipients: list[str] | None,
        messages: list[dict[str, Any]],
        sent_messages: list[dict[str, Any]] | None,
        retry_key: str | None,
        request_id: str,
        request_log: dict[str, Any] | None = None,
    ) -> list[str]:
        """Accept the retry key, count recipients against the quota and record the send.

        ``recipients=None`` means every followed user (broadcast, narrowcast). It all happens in
        one transaction, so a key is accepted only with a successful send: RetryKeyAccepted or
        QuotaExceeded leave nothing behind. A concurrent request with the same key waits on the
        key's unique index (PostgreSQL) or the write lock (SQLite), then sees it accepted.
        ``request_log`` as for `send_reply`.
        """
        now = now_ms()
        with self.engine.begin() as conn:
            if retry_key is not None:
                self._accept_retry_key(conn, retry_key, endpoint, request_id, sent_messages, now)
            if recipients is None:
                recipients = list(
                    conn.scalars(
                        sa.select(t.users.c.user_id)
                        .where(t.users.c.followed.is_(True))
                        .order_by(t.users.c.user_id)
                    )
                )
            if not self._consume_quota(conn, len(recipients)):
                raise QuotaExceeded()
            self._record_sent(
                conn,
                endpoint=endpoint,
                recipients=recipients,
                messages=messages,
                sent_messages=sent_messages,
                retry_key=retry_key,
                reply_token=None,
                request_id=request_id,
                at=now,
            )
            if request_log is not None:
                self._record_request(conn, request_log)
        return recipients

    @staticmethod
    def _accept_retry_key(conn, retry_key, endpoint, request_id, sent_messages, now) -> None:
        keys = t.retry_keys
        inserted = conn.execute(
            _insert(conn, keys)
            .values(
                retry_key=retry_key,
                endpoint=endpoint,
                request_id=request_id,
                sent_messages=sent_messages,
                accepted_at=now,
            )
            .on_conflict_do_nothing(index_elements=["retry_key"])
            .returning(keys.c.retry_key)  # rowcount of an INSERT is -1 with psycopg
        ).first()
        if inserted is None:
            first = conn.execute(sa.select(keys).where(keys.c.retry_key == retry_key)).one()
            raise RetryKeyAccepted(first.request_id, first.sent_messages)

    @staticmethod
    def _record_sent(conn, *, recipients, at, **values) -> int:
        _lock(conn, _SENT_LOCK)
        seq = conn.execute(
            _insert_sent(), {"recipients": recipients, "at": at, **values}
        ).scalar_one()
        unique = sorted(set(recipients))
        if unique:
            conn.execute(t.sent_recipients.insert(), [{"seq": seq, "user_id": u} for u in unique])
        return seq

    def list_sent(
        self,
        *,
        user: str | None = None,
        after: int = 0,
        endpoint: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return what was sent, in order: seq > after, addressed to user, from endpoint."""
        sent = t.sent
        query = sa.select(sent).where(sent.c.seq > after).order_by(sent.c.seq)
        if user is not None:
            query = query.where(
                sent.c.seq.in_(
                    sa.select(t.sent_recipients.c.seq).where(
                        t.sent_recipients.c.user_id == user,
                        t.sent_recipients.c.seq > after,
                    )
                )
            )
        if endpoint is not None:
            query = query.where(sent.c.endpoint == endpoint)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
        return [row._asdict() for row in rows]

    # -- quota ----------------------------------------------------------------------------

    @staticmethod
    def _consume_quota(conn: sa.Connection, count: int) -> bool:
        quota = t.quota
        consumed = conn.execute(
            quota.update()
            .where(
                quota.c.id == _QUOTA_ROW,
                sa.or_(
                    quota.c.limit_value.is_(None),
                    quota.c.total_usage + count <= quota.c.limit_value,
                ),
            )
            .values(total_usage=quota.c.total_usage + count)
        )
        return consumed.rowcount == 1

    def get_quota(self) -> tuple[int | None, int]:
        """Return (monthly limit or None for no limit, total usage)."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(t.quota).where(t.quota.c.id == _QUOTA_ROW)).one()
        return row.limit_value, row.total_usage

    def set_quota_limit(self, limit: int | None) -> None:
        """Set the monthly limit (None: no limit)."""
        with self.engine.begin() as conn:
            conn.execute(
                t.quota.update().where(t.quota.c.id == _QUOTA_ROW).values(limit_value=limit)
            )

    def set_quota_usage(self, total_usage: int) -> None:
        """Set this month's usage."""
        with self.engine.begin() as conn:
            conn.execute(
                t.quota.update().where(t.quota.c.id == _QUOTA_ROW).values(total_usage=total_usage)
            )

    # -- faults -----------------------------------------------------------------------------

    def add_fault(
        self,
        endpoint: str,
        status: int,
        count: int,
        delay: float,
        body: dict[str, Any] | None,
        when: str,
    ) -> dict[str, Any]:
        """Add a fault for the next ``count`` calls to ``endpoint``."""
        with self.engine.begin() as conn:
            fault_id = conn.execute(
                t.faults.insert()
                .values(
                    endpoint=endpoint,
                    status=status,
                    remaining=count,
                    delay=delay,
                    body=body,
                    phase=when,
                )
                .returning(t.faults.c.id)
            ).scalar_one()
            row = conn.execute(sa.select(t.faults).where(t.faults.c.id == fault_id)).one()
        return _fault_dict(row)

    def list_faults(self) -> list[dict[str, Any]]:
        """Return every fault, used up or not, oldest first."""
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(t.faults).order_by(t.faults.c.id)).all()
        return [_fault_dict(row) for row in rows]

    def clear_faults(self) -> int:
        """Delete every fault; return how many there were."""
        with self.engine.begin() as conn:
            return conn.execute(t.faults.delete()).rowcount

    def take_fault(self, endpoint: str) -> Fault | None:
        """Take one use of the oldest fault that matches ``endpoint`` (or ``*``), atomically.

        Every API call asks, and almost always none is set: a read-only look first, so the
        common case takes no write lock (on SQLite that lock made every call wait in turn)."""
        faults = t.faults
        with self.engine.connect().execution_options(**READ_ONLY) as conn:
            if conn.execute(_live_fault(), {"endpoints": [endpoint, "*"]}).first() is None:
                return None
        with self.engine.begin() as conn:
            candidates = conn.execute(
                sa.select(faults)
                .where(faults.c.endpoint.in_([endpoint, "*"]), faults.c.remaining > 0)
                .order_by(faults.c.id)
            ).all()
            for row in candidates:
                taken = conn.execute(
                    faults.update()
                    .where(faults.c.id == row.id, faults.c.remaining > 0)
                    .values(remaining=faults.c.remaining - 1)
                )
                if taken.rowcount == 1:
                    return Fault(row.id, row.endpoint, row.status, row.delay, row.body, row.phase)
        return None

    # -- request log ----------------------------------------------------------------------

    def record_request(self, **values: Any) -> None:
        """Log one API call (endpoint, method, path, status, error, retry_key, request_id).

        A successful send logs itself in its own transaction instead (`send_reply`, `send`):
        one write, not two, per call; a failed one rolls back and is logged here."""
        with self.engine.begin() as conn:
            self._record_request(conn, values)

    @staticmethod
    def _record_request(conn: sa.Connection, values: dict[str, Any]) -> None:
        _lock(conn, _REQUESTS_LOCK)
        conn.execute(_insert_request(), {"at": now_ms(), **values})

    def list_requests(
        self, *, endpoint: str | None = None, after: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Return logged API calls with seq > after, in order."""
        log = t.api_requests
        query = sa.select(log).where(log.c.seq > after).order_by(log.c.seq)
        if endpoint is not None:
            query = query.where(log.c.endpoint == endpoint)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
        return [row._asdict() for row in rows]


def _user_dict(row) -> dict[str, Any]:
    return {
        "userId": row.user_id,
        "displayName": row.display_name,
        "language": row.language,
        "pictureUrl": row.picture_url,
        "followed": row.followed,
    }


def _fault_dict(row) -> dict[str, Any]:
    return {
        "id": row.id,
        "endpoint": row.endpoint,
        "status": row.status,
        "remaining": row.remaining,
        "delay": row.delay,
        "body": row.body,
        "when": row.phase,
    }
