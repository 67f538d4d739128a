"""The sender: delivers the outbox to LINE by the reply-or-push rule of DESIGN.md §6.

- Reply while the token is fresh. Push (with the row's retry key) only when the token was older
  than 50 s before the first try, or the first try got a definite 400 "Invalid reply token".
- After an unclear reply (5xx, timeout, or a sender that died holding the row: its lease ran
  out unfinished), retry the reply while the token is fresh; a 400 then means the first try
  most likely landed: the row is recorded as `uncertain`, never doubled.
- Push and multicast retry with backoff on 5xx, timeouts and rate-limit 429, never on other
  4xx; a 409 on a retry means LINE already accepted the key: delivered. A monthly-limit 429
  holds every push until the quota allows again (checked every few minutes) or next month.
- Users who unfollowed get nothing until they follow again.
- A multicast batch of a cancelled announcement is skipped before every attempt; multicast
  calls are paced together by every sender process (SharedRateLimit: MULTICAST_PER_SECOND in
  all, through the database).
Rows are claimed with a lease (a conditional UPDATE), so several senders never send one twice.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import random
import time
from concurrent.futures import Executor

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from bot import line_client as lc
from bot import recordset, richmenu
from bot.i18n import force_locale, user_locale
from bot.outbox import MESSAGES, detached, render
from bot.quiet_hours import QuietHours, from_config
from models import BANGKOK, Announcement, LineUser, OutboxMessage, ServiceState, utcnow
from models.outbox import RateSlot
from services import reminders

log = logging.getLogger(__name__)

PUSH_AFTER_TOKEN_AGE_MS = 50_000
TOKEN_LIFETIME_MS = 60_000
MAX_ATTEMPTS = 10
LEASE_SECONDS = 60
HOLD_KEY = "push_hold"
HOLD_RECHECK = dt.timedelta(minutes=10)


def backoff(attempts: int, base: float = 1.0, cap: float = 300.0) -> dt.timedelta:
    """Exponential backoff with jitter for the n-th failed attempt."""
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return dt.timedelta(seconds=delay * random.uniform(0.8, 1.2))


def start_of_next_month(now: dt.datetime) -> dt.datetime:
    """When the monthly quota starts again (midnight on the 1st, Asia/Bangkok)."""
    local = now.astimezone(BANGKOK)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return dt.datetime(year, month, 1, tzinfo=BANGKOK).astimezone(dt.UTC)


#: The shared pace leaves this much of the rate unused: a call's slot is when it leaves, and
#: the network and LINE add a few milliseconds of jitter before it is counted there.
PACE_MARGIN = 0.10
#: A slot further ahead than this is not believed (a clock set wrong somewhere): start again.
PACE_HORIZON_SECONDS = 10.0


class SharedRateLimit:
    """At most `rate` calls a second across every process that shares the database, evenly
    paced: each call takes the next free moment from one `rate_slots` row with a conditional
    UPDATE ... RETURNING (one short transaction on a connection of its own; the row is made on
    first use) and sleeps until then. LINE allows multicast 200 requests a second per channel,
    whatever the number of sender processes or machines: MULTICAST_PER_SECOND is that total.
    Slots are 1/rate apart plus PACE_MARGIN, so jitter on the way cannot push a second over."""

    def __init__(self, engine: sa.Engine, name: str, rate: float, clock=time.time,
                 sleep=time.sleep):
        self.engine = engine
        self.name = name
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self.step_us = int(1_000_000 * (1 + PACE_MARGIN) / rate) if rate > 0 else 0

    def take(self) -> float:
        """The moment (Unix seconds) this call may go; the row moves one step past it."""
        now_us = int(self.clock() * 1_000_000)
        table = RateSlot.__table__
        fresh = sa.and_(table.c.next_us > now_us,
                        table.c.next_us < now_us + int(PACE_HORIZON_SECONDS * 1_000_000))
        statement = (table.update().where(table.c.name == self.name)
                     .values(next_us=sa.case((fresh, table.c.next_us), else_=now_us)
                             + self.step_us)
                     .returning(table.c.next_us))
        with self.engine.begin() as connection:
            taken = connection.execute(statement).scalar()
            if taken is None:  # the first call ever: make the row (another may at once)
                dialect = connection.dialect.name
                insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
                connection.execute(insert.values(name=self.name, next_us=now_us)
                                   .on_conflict_do_nothing(index_elements=["name"]))
                taken = connection.execute(statement).scalar()
        return (taken - self.step_us) / 1_000_000

    def wait(self) -> None:
        if self.rate <= 0:
            return
        delay = self.take() - self.clock()
        if delay > 0:
            self.sleep(delay)


@functools.cache
def _finish_statement(keys: tuple[str, ...]):
    """UPDATE of one shape of outcome for executemany: row_id, owner, new_<column>..."""
    table = OutboxMessage.__table__
    return (
        table.update()
        .where(table.c.id == sa.bindparam("row_id"), table.c.lease_owner == sa.bindparam("owner"))
        .values({key: sa.bindparam("new_" + key) for key in keys})
    )


def _finish_json(connection, keys: tuple[str, ...], params: list[dict], owner: str) -> None:
    """PostgreSQL: one shape of outcome for many rows in one UPDATE ... FROM
    json_to_recordset (an executemany is a statement a row for the server: a batch's replies
    were a fifth of its statements), each row only if `owner` still holds its lease."""
    statement, processors = _finish_json_statement(keys, connection.dialect)
    records = [{"row_id": p["row_id"], **{"new_" + key: recordset.bound(p["new_" + key],
                                                                        processors[key])
                                          for key in keys}}
               for p in params]
    connection.exec_driver_sql(statement, (recordset.dumps(records), owner))


@functools.cache
def _finish_json_statement(keys: tuple[str, ...], dialect):
    table = OutboxMessage.__table__
    types = "row_id BIGINT, " + recordset.columns(table, keys, dialect, prefix="new_")
    sets = ", ".join(f"{key} = r.new_{key}" for key in keys)
    statement = (f"UPDATE {table.name} AS o SET {sets} "
                 f"FROM json_to_recordset(%s::json) AS r({types}) "
                 f"WHERE o.id = r.row_id AND o.lease_owner = %s")
    return statement, recordset.processors(table, keys, dialect)


# a worker looks for due rows several times a second: its statements are built once
@functools.cache
def _due_statement(limit: int):
    now = sa.bindparam("now", type_=OutboxMessage.next_attempt_at.type)
    earlier = aliased(OutboxMessage)
    blocked = (
        sa.select(earlier.id)
        .where(
            earlier.recipient == OutboxMessage.recipient,
            earlier.status == OutboxMessage.PENDING,
            earlier.id < OutboxMessage.id,
            # an earlier row due now or being sent holds the later ones back; one waiting
            # for its backoff or for the monthly quota does not (replies must not wait)
            sa.or_(earlier.next_attempt_at <= now, earlier.lease_expires_at > now),
        )
        .exists()
    )
    return (
        sa.select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxMessage.PENDING,
            OutboxMessage.next_attempt_at <= now,
            sa.or_(
                OutboxMessage.lease_expires_at.is_(None),
                OutboxMessage.lease_expires_at < now,
            ),
            ~blocked,  # one user's messages leave in the order they were queued
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )


@functools.cache
def _hold_quiet_statement():
    until = sa.bindparam("until", type_=OutboxMessage.next_attempt_at.type)
    return (
        sa.update(OutboxMessage)
        .where(OutboxMessage.status == OutboxMessage.PENDING,
               OutboxMessage.quiet.is_(True), OutboxMessage.next_attempt_at < until)
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )


class Sender:
    """Delivers due outbox rows; one instance per worker process or thread."""

    def __init__(self, session: Session, client: lc.LineClient, owner: str, clock=utcnow,
                 quiet: QuietHours | None | str = "config", defer_finish: bool = False,
                 pool: Executor | None = None):
        self.session = session
        # outcomes held back to be written together (finish_deferred): the worker's answers
        # sent right after their batch's commit are recorded in one transaction, not one each
        self.deferred: list[tuple[int, dict]] | None = [] if defer_finish else None
        # with defer_finish and a pool of threads, `deliver` only queues the row, and
        # finish_deferred (or start_sending) makes the replies of different users side by side
        self.pool = pool if defer_finish else None
        self.queued: list[tuple[OutboxMessage, LineUser | None, list[dict]]] = []
        # the reply calls started on the pool (start_sending) and not yet collected
        self.in_flight: tuple[list, list] | None = None
        self.client = client
        self.owner = owner
        self.clock = clock
        if quiet == "config":
            quiet = from_config(current_app.config) if has_app_context() else None
        self.quiet = quiet
        rate = (float(current_app.config.get("MULTICAST_PER_SECOND", 200))
                if has_app_context() else 200.0)
        self.multicast_limit = SharedRateLimit(session.get_bind(), "multicast", rate)
        self.lease_seconds = (float(current_app.config.get("SENDER_LEASE_SECONDS",
                                                           LEASE_SECONDS))
                              if has_app_context() else LEASE_SECONDS)
        config = current_app.config if has_app_context() else {}
        self.backoff_base = float(config.get("SENDER_BACKOFF_BASE", 1.0))
        self.backoff_cap = float(config.get("SENDER_BACKOFF_CAP", 300.0))

    # -- quiet hours -------------------------------------------------------------------------

    def hold_quiet_rows(self) -> int:
        """While QUIET_HOURS last, rows marked `quiet` (reminders, digests, scheduled
        announcements) wait for the end of the quiet period; nothing else waits. Moving their
        time, rather than skipping them, keeps them from holding back a user's later rows."""
        if self.quiet is None:
            return 0
        now = self.clock()
        if not self.quiet.contains(now):
            return 0
        until = self.quiet.end_after(now).astimezone(dt.UTC)
        return self.session.execute(_hold_quiet_statement(), {"until": until}).rowcount

    # -- the monthly-quota hold --------------------------------------------------------------

    def push_hold(self) -> dict | None:
        """The active monthly-limit hold, if pushes are paused."""
        value = self.session.scalar(
            sa.select(ServiceState.value).where(ServiceState.key == HOLD_KEY)
        )
        self.session.rollback()  # no transaction stays open across a call to LINE
        if not value:
            return None
        hold = json.loads(value)
        now = self.clock()
        if now >= dt.datetime.fromisoformat(hold["until"]):
            self._set_hold(None)
            return None
        if now >= dt.datetime.fromisoformat(hold["recheck"]):
            quota = self.client.quota()
            if quota and (quota["type"] == "none" or quota["used"] < (quota["value"] or 0)):
                log.info("monthly quota allows pushes again: %s", quota)
                self._set_hold(None)
                return None
            hold["recheck"] = (now + HOLD_RECHECK).isoformat()
            self._set_hold(hold)
        return hold

    def _set_hold(self, hold: dict | None) -> None:
        row = self.session.get(ServiceState, HOLD_KEY)
        if row is None:
            row = ServiceState(key=HOLD_KEY)
            self.session.add(row)
        row.value = json.dumps(hold) if hold else None
        self.session.commit()

    def _hold_pushes(self) -> dict:
        now = self.clock()
        hold = {
            "since": now.isoformat(),
            "until": start_of_next_month(now).isoformat(),
            "recheck": (now + HOLD_RECHECK).isoformat(),
        }
        log.error("LINE monthly message limit reached: pushes held until %s", hold["until"])
        self._set_hold(hold)
        return hold

    # -- claiming ----------------------------------------------------------------------------

    def _due_ids(self, limit: int) -> list[int]:
        return list(self.session.scalars(_due_statement(limit), {"now": self.clock()}))

    def _claim(self, row_id: int) -> bool:
        now = self.clock()
        taken = self.session.execute(
            sa.update(OutboxMessage)
            .where(
                OutboxMessage.id == row_id,
                OutboxMessage.status == OutboxMessage.PENDING,
                sa.or_(
                    OutboxMessage.lease_expires_at.is_(None),
                    OutboxMessage.lease_expires_at < now,
                ),
            )
            .values(
                lease_owner=self.owner,
                lease_expires_at=now + dt.timedelta(seconds=self.lease_seconds),
                # a lease that ran out unfinished: its holder died, perhaps after its reply
                # reached LINE; a retry that finds the token used is then uncertain, not a push
                reply_unclear=sa.case((OutboxMessage.lease_owner.is_not(None), sa.true()),
                                      else_=OutboxMessage.reply_unclear),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        self.session.commit()
        return taken == 1

    def _finish(self, row_id: int, **values) -> None:
        """Write an attempt's outcome and drop the lease (only if we still hold it)."""
        values.setdefault("lease_owner", None)
        values.setdefault("lease_expires_at", None)
        if self.deferred is not None:
            self.deferred.append((row_id, values))
            return
        self.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.lease_owner == self.owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        self.session.commit()

    def release(self, row_id: int) -> None:
        """Give a claimed row back untried (a sender takes it as new, not as an unclear try)."""
        self._finish(row_id)

    def finish_deferred(self) -> None:
        """Send what `deliver` queued (with a pool), then write the outcomes held back, in one
        transaction: one statement (PostgreSQL) or executemany (SQLite) per shape of outcome,
        each row only if we still hold its lease. A crash before this commit leaves the rows
        leased to us: a sender takes them over when the lease runs out, as unclear tries (a
        retried reply that finds its token used is delivered-uncertain)."""
        if self.queued:
            self.start_sending()
        if self.in_flight is not None:
            self._collect_sent()
        if not self.deferred:
            return
        held, self.deferred = self.deferred, []
        shapes: dict[tuple[str, ...], list[dict]] = {}
        for row_id, values in held:
            shapes.setdefault(tuple(sorted(values)), []).append(
                {"row_id": row_id, **{"new_" + key: value for key, value in values.items()}})
        connection = self.session.connection()
        for keys, params in shapes.items():
            if connection.dialect.name == "postgresql" and len(params) > 1:
                _finish_json(connection, keys, params, self.owner)
            else:
                connection.execute(_finish_statement(keys), [
                    {**p, "owner": self.owner} for p in params])
        self.session.commit()

    # -- sending -----------------------------------------------------------------------------

    def send_due(self, limit: int = 50) -> int:
        """Deliver up to `limit` due rows; return how many were attempted."""
        if self.quiet is not None:
            held = self.hold_quiet_rows()
            if held:
                self.session.commit()
            else:  # release SQLite's write lock at once: the webhook must not wait on it
                self.session.rollback()
        done = 0
        for row_id in self._due_ids(limit):
            if not self._claim(row_id):
                continue
            try:
                row, user, messages = self._load(row_id)
                if messages is None:  # a reminder no longer true (services.reminders)
                    self._finish(row_id, status=OutboxMessage.SKIPPED, last_error="no longer due")
                else:
                    self.deliver(row, user, messages)
            except Exception as exc:  # a bug in rendering must not stop the other rows
                log.exception("outbox row %s could not be sent", row_id)
                self.session.rollback()
                self._finish(row_id, status=OutboxMessage.FAILED, last_error=repr(exc)[:500])
            done += 1
        return done

    def _user(self, line_user_id: str | None) -> LineUser | None:
        if not line_user_id:
            return None
        return self.session.scalar(
            sa.select(LineUser).where(LineUser.line_user_id == line_user_id)
        )

    def _load(self, row_id: int) -> tuple[OutboxMessage, LineUser | None, list[dict] | None]:
        """Read and render a claimed row, then end the transaction: no database transaction
        stays open while LINE is called (on SQLite it would hold the write lock). A visit or
        appointment reminder is checked again first (services.reminders.still_due): None as
        the messages when it is no longer true."""
        row = self.session.get(OutboxMessage, row_id, populate_existing=True)
        user = self._user(row.recipient)
        shown: OutboxMessage | None = row
        if row.kind in reminders.RECHECKED:
            payload = reminders.still_due(self.session, row.kind, json.loads(row.payload),
                                          self.clock())
            shown = None if payload is None else detached(row)
            if shown is not None:  # rendered as it reads now; the row itself is unchanged
                shown.payload = json.dumps(payload, ensure_ascii=False)
        messages = None
        if shown is not None:
            with force_locale(user_locale(user.language if user else None)):
                messages = render(shown, user)
        self.session.expunge(row)
        if user is not None:
            self.session.expunge(user)
        self.session.rollback()
        return row, user, messages

    def deliver(self, row: OutboxMessage, user: LineUser | None, messages: list[dict]) -> None:
        """Send one claimed row (its lease held by this sender) and record the outcome (with
        a pool: queue it, for finish_deferred)."""
        if self.pool is not None:
            self.queued.append((row, user, messages))
            return
        self._deliver(row, user, messages)

    def _first_reply(self, row: OutboxMessage) -> bool:
        """Would `_reply` start with a call to LINE's reply API (not a push, not a give-up)?"""
        if row.kind != MESSAGES or row.recipients or not row.reply_token or row.via == "push":
            return False
        age_ms = int(self.clock().timestamp() * 1000) - (row.token_issued_ms or 0)
        if row.attempts == 0 and not row.reply_unclear and age_ms > PUSH_AFTER_TOKEN_AGE_MS:
            return False
        return not (row.reply_unclear and age_ms >= TOKEN_LIFETIME_MS)

    def _replies_in_order(self, calls: list[tuple[str, list[dict]]]) -> list[lc.SendResult]:
        """One user's replies, one after another (their order is the user's), stopping after
        the first that LINE did not take: what follows it waits for its outcome."""
        results = []
        for token, messages in calls:
            results.append(self.client.reply(token, messages))
            if not results[-1].delivered:
                break
        return results

    def _replies_of(self, share: list[tuple[str | None, list[OutboxMessage]]],
                    messages_of: dict[int, list[dict]]) -> dict[int, lc.SendResult]:
        """The reply calls of some users (on a pool thread): {id(row): result}."""
        results: dict[int, lc.SendResult] = {}
        for _recipient, rows in share:
            answers = self._replies_in_order(
                [(row.reply_token, messages_of[id(row)]) for row in rows])
            results.update({id(row): answer for row, answer in zip(rows, answers,
                                                                   strict=False)})
        return results

    def start_sending(self) -> None:
        """Start the queued rows' reply calls on the pool and return without waiting for
        them: the calls of different users side by side (the round trip to LINE, not our
        CPU, is most of a reply's time), each user's in order. `finish_deferred` collects
        them; meanwhile this thread may do other work, but must neither use the rows nor
        send to their users. (The worker steps its next batch meanwhile: bot.worker.)"""
        if self.in_flight is not None:
            raise RuntimeError("the previous replies are not collected yet")
        if not self.queued or self.pool is None:
            return
        queued, self.queued = self.queued, []
        by_user: dict[str | None, list[OutboxMessage]] = {}
        for row, _user, _messages in queued:
            by_user.setdefault(row.recipient, []).append(row)
        messages_of = {id(row): messages for row, _user, messages in queued}
        ahead: dict[str | None, list[OutboxMessage]] = {}
        for recipient, rows in by_user.items():
            for row in rows:  # the user's leading run of plain first replies
                if not self._first_reply(row):
                    break
                ahead.setdefault(recipient, []).append(row)
        # as many tasks as threads, each with its share of the users (a task per user cost
        # more hand-overs between threads than the calls gained)
        width = max(1, min(len(ahead), getattr(self.pool, "_max_workers", 8)))
        shares = [list(ahead.items())[i::width] for i in range(width)]
        tasks = [self.pool.submit(self._replies_of, share, messages_of) for share in shares]
        self.in_flight = (queued, tasks)

    def _collect_sent(self) -> None:
        """Wait for the calls `start_sending` started; then every row's outcome in queue
        order, here, and the rows not replied ahead (pushes, a user's rows after a refused
        reply) the usual way, in order too."""
        (queued, tasks), self.in_flight = self.in_flight, None
        results: dict[int, lc.SendResult] = {}
        for task in tasks:
            try:
                results.update(task.result())
            except Exception:  # not called, or no answer: the usual way below decides
                log.exception("replies could not be made ahead")
        call_seconds = sum(self.client.timeout)  # the longest one call to LINE can take
        for row, user, messages in queued:
            try:
                if id(row) in results:
                    self._reply(row, messages, user, result=results[id(row)])
                elif (row.lease_expires_at is not None and
                      (row.lease_expires_at - self.clock()).total_seconds() < call_seconds):
                    # earlier calls were slow: the lease could run out during this one and a
                    # sender take the row over meanwhile; give it back untried instead
                    self.release(row.id)
                else:
                    self._deliver(row, user, messages)
            except Exception:  # the lease runs out and a sender round takes the row over
                log.exception("outbox row %s not sent at once", row.id)
                self.session.rollback()

    def _deliver(self, row: OutboxMessage, user: LineUser | None, messages: list[dict]) -> None:
        if row.kind == richmenu.LINK_KIND:  # not a message: link the user's rich menu
            richmenu.deliver_link(self, row, user)
            return
        if row.recipients:
            self._multicast(row, messages)
            return
        if row.reply_token and row.via != "push":
            self._reply(row, messages, user)
            return
        self._push(row, messages, user)

    def _reply(self, row: OutboxMessage, messages: list[dict], user: LineUser | None,
               result: lc.SendResult | None = None) -> None:
        """Reply (or push, or give up) by the rules above; `result`: the reply call was
        made already (start_sending), only its outcome is left."""
        if result is None:
            result = self._reply_call(row, messages, user)
            if result is None:
                return
        self._reply_outcome(row, messages, user, result)

    def _reply_call(self, row: OutboxMessage, messages: list[dict], user: LineUser | None
                    ) -> lc.SendResult | None:
        age_ms = int(self.clock().timestamp() * 1000) - (row.token_issued_ms or 0)
        if row.attempts == 0 and not row.reply_unclear and age_ms > PUSH_AFTER_TOKEN_AGE_MS:
            log.info("outbox %s: reply token %.0f s old before the first try: push", row.id,
                     age_ms / 1000)
            row.via = "push"
            self._push(row, messages, user)
            return None
        if row.reply_unclear and age_ms >= TOKEN_LIFETIME_MS:
            # the unclear first try may have landed and the token can no longer tell us
            self._finish(row.id, status=OutboxMessage.UNCERTAIN, via="reply")
            return None
        return self.client.reply(row.reply_token, messages)

    def _reply_outcome(self, row: OutboxMessage, messages: list[dict], user: LineUser | None,
                       result: lc.SendResult) -> None:
        attempts = row.attempts + 1
        common = {"attempts": attempts, "last_status": result.status,
                  "request_id": result.request_id}
        if result.delivered:
            self._finish(row.id, status=OutboxMessage.SENT, via="reply", sent_at=self.clock(),
                         last_error=None, **common)
        elif result.outcome == lc.INVALID_REPLY_TOKEN:
            if row.reply_unclear:
                log.warning("outbox %s: reply retry refused after an unclear try: "
                            "delivered-uncertain", row.id)
                self._finish(row.id, status=OutboxMessage.UNCERTAIN, via="reply",
                             last_error=result.message, **common)
            else:
                row.attempts = attempts
                row.via = "push"
                self._push(row, messages, user)
        elif result.outcome in lc.RETRYABLE:
            self._finish(
                row.id,
                reply_unclear=row.reply_unclear or result.unclear,
                next_attempt_at=self.clock() + backoff(attempts, base=0.5, cap=5),
                last_error=result.message or result.outcome,
                **common,
            )
        else:
            self._finish(row.id, status=OutboxMessage.FAILED, via="reply",
                         last_error=result.message or result.outcome, **common)

    def _push(self, row: OutboxMessage, messages: list[dict], user: LineUser | None) -> None:
        if user is not None and not user.followed:
            self._finish(row.id, status=OutboxMessage.SKIPPED, via="push",
                         last_error="unfollowed")
            return
        if self._held(row, "push"):
            return
        result = self.client.push(row.recipient, messages, row.retry_key)
        self._after_paid_call(row, result, "push")

    def _listed(self, recipients: str):
        """The ids of a multicast row's JSON list, unpacked by the database: the list is bound
        as one value, as 500 bound parameters cost more than the query (bench/announce.py)."""
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            return sa.select(sa.func.json_array_elements_text(
                sa.cast(sa.literal(recipients), sa.JSON)).column_valued())
        if dialect == "sqlite":
            listed = sa.func.json_each(sa.literal(recipients)).table_valued("value")
            return sa.select(listed.c.value)
        return json.loads(recipients)

    def _multicast(self, row: OutboxMessage, messages: list[dict]) -> None:
        """One batch: skipped if its announcement was cancelled (checked before every
        attempt, so a batch that got a 5xx or 429 while the cancel came is not sent later),
        then to the recipients still following (those who unfollowed since are counted into
        the announcement's skipped_blocked when the batch ends)."""
        if row.announcement_id is not None and self.session.scalar(
                sa.select(Announcement.status).where(Announcement.id == row.announcement_id)
        ) == Announcement.CANCELLED:
            self._finish_batch(row, 0, status=OutboxMessage.SKIPPED, via="multicast",
                               last_error="cancelled")
            return
        wanted = json.loads(row.recipients)
        blocked = set(
            self.session.scalars(
                sa.select(LineUser.line_user_id).where(
                    LineUser.line_user_id.in_(self._listed(row.recipients)),
                    LineUser.followed.is_(False),
                )
            )
        )
        # the hold check below reads in the same transaction and ends it (push_hold): none
        # stays open across the call to LINE
        to = [user_id for user_id in wanted if user_id not in blocked]
        if not to:
            self._finish_batch(row, len(wanted), status=OutboxMessage.SKIPPED,
                               via="multicast", recipient_count=0,
                               last_error="every recipient unfollowed")
            return
        if self._held(row, "multicast"):
            return
        self.multicast_limit.wait()
        result = self.client.multicast(to, messages, row.retry_key)
        self._after_paid_call(row, result, "multicast", to=len(to),
                              dropped=len(wanted) - len(to))

    def _finish_batch(self, row: OutboxMessage, dropped: int, **values) -> None:
        """A multicast batch's last outcome, and (in the same transaction, only if we still
        held the batch) its recipients who had unfollowed added to the announcement's
        skipped_blocked: `recipient_count` is then what was sent, so the announcement's counts
        add up. Written at once even in a deferred sender (a batch ends once)."""
        values.setdefault("lease_owner", None)
        values.setdefault("lease_expires_at", None)
        done = self.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.lease_owner == self.owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done == 1 and dropped and row.announcement_id is not None:
            self.session.execute(
                sa.update(Announcement).where(Announcement.id == row.announcement_id)
                .values(skipped_blocked=Announcement.skipped_blocked + dropped)
                .execution_options(synchronize_session=False))
        self.session.commit()

    def _held(self, row: OutboxMessage, via: str) -> bool:
        hold = self.push_hold()
        if hold is None:
            return False
        self._finish(row.id, via=via, next_attempt_at=dt.datetime.fromisoformat(hold["recheck"]),
                     last_error="monthly limit")
        return True

    def _after_paid_call(self, row: OutboxMessage, result: lc.SendResult, via: str,
                         to: int | None = None, dropped: int = 0) -> None:
        """Record a push or multicast call's outcome; for a multicast batch (`to`: how many it
        went to, `dropped`: how many had unfollowed), its end goes through _finish_batch."""
        attempts = row.attempts + 1
        common = {"attempts": attempts, "last_status": result.status,
                  "request_id": result.request_id, "via": via}

        def end(**values) -> None:
            if to is None:
                self._finish(row.id, **values)
            else:
                self._finish_batch(row, dropped, recipient_count=to, **values)

        if result.delivered:
            end(status=OutboxMessage.SENT, sent_at=self.clock(),
                last_error=None if result.outcome == lc.OK else "409 retry key accepted",
                **common)
        elif result.outcome == lc.MONTHLY_LIMIT:
            hold = self._hold_pushes()
            self._finish(row.id, next_attempt_at=dt.datetime.fromisoformat(hold["recheck"]),
                         last_error="monthly limit", **common)
        elif result.outcome in lc.RETRYABLE and attempts < MAX_ATTEMPTS:
            self._finish(row.id, next_attempt_at=self.clock() + backoff(
                             attempts, base=self.backoff_base, cap=self.backoff_cap),
                         last_error=result.message or result.outcome, **common)
        else:
            end(status=OutboxMessage.FAILED, last_error=result.message or result.outcome,
                **common)
