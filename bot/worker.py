"""The worker: takes events from the inbox one user at a time, runs the handlers, and sends
the outbox. Runs as `flask --app wsgi worker` (or in-process when serving HTTP on SQLite)."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot import conversation, inbox
from bot.dispatch import CONTENT, QUOTA, Dispatcher, EventContext, NeedsLine, parse_event
from bot.extensions import db
from bot.i18n import force_locale, user_locale
from bot.line_client import LineClient
from bot.outbox import detached, insert_rows, reply_rows
from bot.scheduler import Scheduler
from bot.sender import LEASE_SECONDS as SEND_LEASE_SECONDS
from bot.sender import Sender, backoff
from bot.thai_text import warm_up
from models import InboxEvent, LineUser, utcnow
from services import announcements, audit

log = logging.getLogger(__name__)

LEASE_SECONDS = 30
MAX_EVENT_ATTEMPTS = 5
EVENTS_PER_LEASE = 50
MAX_LINE_FETCHES = 4  # LINE calls one step may ask for before it is taken for a bug
CLAIM_USERS = 50  # users leased by one round
BATCH_EVENTS = 50
BATCH_MS = 50
BATCH_MS_SQLITE = 15  # on SQLite the webhook's inserts wait for the batch's write lock
#: threads making a batch's replies side by side: enough to keep LINE's answers overlapping;
#: more only add switches between threads (8 cost 15-30% more CPU per event than 4 and were
#: no faster, bench/profile_worker.py)
SEND_THREADS = 4
#: while the inbox keeps a worker busy, how often it looks for due outbox rows (pushes,
#: retries, announcements): every round, that look was an eighth of the worker's CPU under a
#: steady trickle of events (WORKER_OUTBOX_POLL_MS; bench/README.md)
OUTBOX_POLL_MS = 250
QUOTA_RETRY_SECONDS = 30  # after LINE's quota could not be read, before it is asked again


class LeaseLost(RuntimeError):
    """Another worker took this user's lease (ours expired): stop without committing."""


@dataclass(frozen=True)
class Stop:
    """Why a batch was rolled back: the event that stopped it and its error (NeedsLine: its
    step asked for something from LINE)."""

    event: InboxEvent
    error: Exception


@functools.cache
def _insert_users(dialect: str):
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(LineUser.__table__).on_conflict_do_nothing(index_elements=["line_user_id"])


# statements of every batch, built once (bot.inbox says why)


@functools.cache
def _select_users():
    return sa.select(LineUser).where(
        LineUser.line_user_id.in_(sa.bindparam("ids", expanding=True)))


@functools.cache
def _mark_events():
    table = InboxEvent.__table__
    return (table.update()
            .where(table.c.id.in_(sa.bindparam("ids", expanding=True)),
                   table.c.status == InboxEvent.PENDING)
            .values(status=sa.bindparam("to_status"),
                    handled_at=sa.bindparam("now", type_=table.c.handled_at.type),
                    attempts=table.c.attempts + 1)
            .returning(table.c.id))


def make_client(app: Flask) -> LineClient:
    """The LINE client configured for this app (the emulator's address when it is mounted)."""
    token = app.config["LINE_CHANNEL_ACCESS_TOKEN"] or "emulator-access-token"
    return LineClient(app.config["LINE_API_BASE_URL"], token, app.config["LINE_TIMEOUT"],
                      app.config["LINE_DATA_API_BASE_URL"])


def worker_name() -> str:
    """A name unique to this worker, shown in leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """One worker: inbox handling and outbox sending in a loop."""

    def __init__(self, app: Flask, dispatcher: Dispatcher, name: str | None = None):
        self.app = app
        self.dispatcher = dispatcher
        self.name = name or worker_name()
        self.client = make_client(app)
        self.lease_seconds = float(app.config.get("WORKER_LEASE_SECONDS", LEASE_SECONDS))
        # an answer is born leased to this worker for as long as its call to LINE can take
        # (and never longer than a sender's lease): if the worker dies, a sender takes it over
        # while the reply token is still fresh, and retries the reply (bot.sender)
        connect, read = app.config.get("LINE_TIMEOUT", (3.0, 10.0))
        self.send_lease_seconds = min(
            float(app.config.get("SENDER_LEASE_SECONDS", SEND_LEASE_SECONDS)),
            connect + read + 5)
        self.sent_now = 0  # rows sent right after their event, counted into run_once
        # events handled in one transaction: at most this many, and no more once it has been
        # open this long (on SQLite the webhook's inserts wait for its write lock)
        self.batch_events = int(app.config.get("WORKER_BATCH_EVENTS", BATCH_EVENTS))
        self.claim_users = int(app.config.get("WORKER_CLAIM_USERS", CLAIM_USERS))
        sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
        self.batch_seconds = float(app.config.get(
            "WORKER_BATCH_MS", BATCH_MS_SQLITE if sqlite else BATCH_MS)) / 1000
        self._users: dict[str, LineUser] | None = None  # the batch's users, read ahead
        self._ahead = self.batch_events  # events a batch reads ahead (_batch)
        # a batch's replies to different users are made side by side (bot.sender)
        self.pool = ThreadPoolExecutor(int(app.config.get("WORKER_SEND_THREADS", SEND_THREADS)),
                                       thread_name_prefix="samoe-send")
        self._sender: Sender | None = None  # the batch's sender, while it sends its answers
        # the last batch's sender while its replies are made on the pool (settle)
        self._in_flight: Sender | None = None
        warm_up()  # load the Thai word list now, not on the first user's message
        self.wakeup = threading.Event()
        self.scheduler = Scheduler(app, self.name)
        self.announce_every = 1.0  # seconds between looks for announcements to release
        self.next_announce = 0.0
        self.quota_retry_at = 0.0  # when LINE's quota may be asked again after a failed ask
        self.seal_every = 5.0  # seconds between sealings of the audit log
        self.next_seal = 0.0
        self.outbox_every = float(app.config.get("WORKER_OUTBOX_POLL_MS", OUTBOX_POLL_MS)) / 1000
        self.next_outbox = 0.0

    @property
    def session(self):
        return db.session

    # -- the inbox ---------------------------------------------------------------------------

    def handle_inbox(self, limit_users: int | None = None) -> int:
        """Handle the due events of up to `limit_users` users (leased together, given back
        together: bot.inbox.claim), in batches of one transaction each (`_batch`); return
        how many were handled."""
        claim = inbox.claim(self.session, self.name, self.lease_seconds,
                            limit_users or self.claim_users, EVENTS_PER_LEASE)
        queue = deque(event for key in claim.user_keys for event in claim.events[key])
        stopped: set[str] = set()  # users whose lease was lost or whose event failed
        stop: Stop | None = None  # the event that stopped a batch: batches end before it
        parsed: dict[int, tuple] = {}  # event id -> parse_event(payload), once per round
        handled = 0
        try:
            while queue:
                event = queue[0]
                if event.user_key in stopped:  # later events wait, keeping the user's order
                    queue.popleft()
                    continue
                if stop is not None and event is stop.event:
                    queue.popleft()
                    if isinstance(stop.error, NeedsLine):
                        if self._handle_alone(event, stop.error.key):
                            handled += 1
                        else:
                            stopped.add(event.user_key)
                    else:
                        stopped.add(event.user_key)
                        if isinstance(stop.error, LeaseLost):
                            log.warning("lease on %s lost; another worker goes on",
                                        event.user_key)
                        else:  # failed: not run again until its retry
                            self._record_failure(event.id, stop.error)
                    stop = None
                    continue
                done, new_stop = self._batch(queue, stopped, stop.event if stop else None,
                                             parsed)
                handled += done
                stop = new_stop or stop
        finally:
            self.session.rollback()
            try:
                self.settle()  # before the leases are given back: see settle
            except Exception:  # the rows stay leased to us: a sender takes them over later
                log.exception("the outcomes of a batch's replies could not be recorded")
                self.session.rollback()
            inbox.release_leases(self.session, claim.user_keys, self.name)
        return handled

    def _batch(self, queue: deque, stopped: set[str], until: InboxEvent | None,
               parsed: dict[int, tuple] | None = None) -> tuple[int, Stop | None]:
        """Handle events from the front of `queue` in one transaction and one commit, then
        start sending their answers on the pool and return how many were handled: the
        replies are made while the next batch is handled, and their outcomes recorded in one
        more transaction by the next `settle()` (before the next batch's answers leave, or
        at the end of the round).

        The transaction reads the users' LineUser rows and conversation states in two
        queries, and before its commit proves and extends their leases in one (if one was
        taken over meanwhile, the batch is rolled back and handled again without that user).
        It takes at most `batch_events` events, none from `until` on, and after the first no
        more once it has been open `batch_seconds` (on SQLite it holds the write lock that
        the webhook's inserts wait for). A step that needs LINE (NeedsLine) or fails rolls
        the batch back and returns (0, Stop): the events before it are handled again in
        batches that end before it; then that event alone if it needs LINE (`_handle_alone`),
        or its failure is recorded for a retry later (handle_inbox).

        It reads ahead (parses, and reads the users and states of) as many events as the
        previous batch handled and half as many again (`_ahead`), not all it may take: a batch
        that its time limit ends early would read for nothing, and an event beyond the read
        ahead is still handled, its user and state read on their own. `parsed` keeps each
        event's parse for the round, so an event read ahead by a batch that ended before it
        is not parsed again."""
        if parsed is None:
            parsed = {}
        ahead = []
        for event_row in queue:
            if event_row is until or len(ahead) == self._ahead:
                break
            if event_row.user_key not in stopped:
                ahead.append(event_row)
        for e in ahead:
            if e.id not in parsed:
                parsed[e.id] = parse_event(e.payload)
        user_ids = list(dict.fromkeys(
            raw["source"]["userId"] for _event, raw in (parsed[e.id] for e in ahead)
            if isinstance(raw.get("source"), dict) and raw["source"].get("userId")))
        done: list[InboxEvent] = []
        answers: list[tuple[list[dict], LineUser | None]] = []  # per event: rows, recipient
        marks: dict[str, list[int]] = {}  # status -> ids of the events handled
        try:
            self._users = self._load_users(user_ids)
            conversation.preload_states(self.session, user_ids)
            deadline = time.monotonic() + self.batch_seconds
            while queue and len(done) < self.batch_events:
                event_row = queue[0]
                if event_row.user_key in stopped:
                    queue.popleft()
                    continue
                if event_row is until or (done and time.monotonic() > deadline):
                    break
                if event_row.id not in parsed:
                    parsed[event_row.id] = parse_event(event_row.payload)
                event, raw = parsed[event_row.id]
                try:
                    rows, user, status = self._step(event_row, event, raw, {})
                except Exception as exc:  # NeedsLine or a failure: see above
                    self.session.rollback()
                    queue.extendleft(reversed(done))
                    return 0, Stop(event_row, exc)
                queue.popleft()
                done.append(event_row)
                answers.append((rows, user))
                marks.setdefault(status, []).append(event_row.id)
            # the next batch reads ahead what this one handled and half as much again
            self._ahead = min(self.batch_events, max(4, len(done) + len(done) // 2 + 1))
            keys = list(dict.fromkeys(e.user_key for e in done))
            held = inbox.extend_leases(self.session, keys, self.name, self.lease_seconds)
            missing = self._mark_handled(marks)
            taken = {e.user_key for e in done if e.id in missing}
            lost = [key for key in keys if key not in held or key in taken]
            if lost:  # taken over meanwhile: their events are not ours
                self.session.rollback()
                for key in lost:
                    log.warning("lease on %s lost; another worker goes on", key)
                    stopped.add(key)
                queue.extendleft(reversed(done))
                return 0, None
            self.session.flush()
            inserted = iter(insert_rows(self.session, [r for rows, _user in answers
                                                        for r in rows]))
            outgoing = [([next(inserted) for _row in rows],
                         detached(user) if user is not None else None)
                        for rows, user in answers]
            self.session.commit()
        finally:
            self._users = None
            conversation.forget_states(self.session)
        # the previous batch's replies are made and recorded before this one's leave (a
        # user's answers stay in order); this batch's are then made while the next batch is
        # handled, and collected by the next settle()
        self.settle()
        self._sender = sender = Sender(self.session, self.client, self.name, defer_finish=True,
                                       pool=self.pool)
        try:
            for rows, user in outgoing:
                self._send_now(rows, user)
        finally:
            self._sender = None
            self._in_flight = sender
        sender.start_sending()
        return len(done), None

    def settle(self) -> None:
        """Wait for the reply calls the last batch started (`Sender.start_sending`) and
        record their outcomes (one transaction). Called before any other answer is sent,
        and before the users' leases are given back: a user's answers leave in order."""
        sender, self._in_flight = self._in_flight, None
        if sender is not None:
            sender.finish_deferred()

    def _handle_alone(self, event: InboxEvent, need: tuple[str, ...] | None = None) -> bool:
        """Handle one event in its own transaction (`_handle`; `need`: what its step already
        asked LINE for); False if it failed (recorded for a retry) or its lease was lost."""
        self.settle()  # its answers go after those of the batches before it
        try:
            self._handle(event, need)
        except LeaseLost:
            log.warning("lease on %s lost; another worker goes on", event.user_key)
            self.session.rollback()
            return False
        except Exception as exc:  # a handler bug must not stop the worker
            self.session.rollback()
            self._record_failure(event.id, exc)
            return False  # later events of this user wait for this one's retry, keeping order
        return True

    def _load_users(self, line_user_ids: list[str]) -> dict[str, LineUser]:
        """The LineUser rows of these ids, those not known yet inserted first (one
        executemany; as the ORM would, with the columns' defaults)."""
        if not line_user_ids:
            return {}
        found = {u.line_user_id: u for u in self.session.scalars(
            _select_users(), {"ids": line_user_ids})}
        missing = [i for i in line_user_ids if i not in found]
        if missing:
            connection = self.session.connection()
            connection.execute(_insert_users(connection.dialect.name),
                               [{"line_user_id": i, "followed": True} for i in missing])
            found.update({u.line_user_id: u for u in self.session.scalars(
                _select_users(), {"ids": missing})})
        return found

    def _mark_handled(self, marks: dict[str, list[int]]) -> set[int]:
        """Mark these events handled (status -> ids), each only if still pending; return the
        ids that were not (another worker handled them: our lease was not ours any more)."""
        now = utcnow()
        missing: set[int] = set()
        for status, ids in marks.items():
            marked = self.session.connection().execute(
                _mark_events(), {"ids": ids, "to_status": status, "now": now}).scalars().all()
            missing.update(set(ids) - set(marked))
        return missing

    def _user(self, raw: dict) -> LineUser | None:
        source = raw.get("source") or {}
        user_id = source.get("userId")
        if not user_id:
            return None
        known = self._users
        if known is not None and user_id in known:
            return known[user_id]
        # one beyond the batch's read-ahead: the same two cached statements
        user = self._load_users([user_id])[user_id]
        if known is not None:
            known[user_id] = user
        return user

    def _handle(self, event_row: InboxEvent, need: tuple[str, ...] | None = None) -> None:
        """Run the event's step and commit it with its answer; what the step needs from LINE
        is fetched between tries, with no transaction open (bot.dispatch.NeedsLine)."""
        event, raw = parse_event(event_row.payload)
        fetched: dict = {}
        if need is not None:  # asked for already, in a batch that was rolled back for it
            fetched[need] = self._fetch(need, raw)
        while True:
            try:
                self._run_step(event_row, event, raw, fetched)
                return
            except NeedsLine as need:
                self.session.rollback()  # nothing of the step is kept, and no lock is held
                if need.key in fetched or len(fetched) >= MAX_LINE_FETCHES:
                    raise RuntimeError(f"the step asked LINE for {need.key} again") from None
                fetched[need.key] = self._fetch(need.key, raw)

    def _run_step(self, event_row: InboxEvent, event, raw: dict, fetched: dict) -> None:
        rows, user, status = self._step(event_row, event, raw, fetched)
        if not inbox.extend_lease(self.session, event_row.user_key, self.name, self.lease_seconds):
            raise LeaseLost(event_row.user_key)
        if self._mark_handled({status: [event_row.id]}):
            raise LeaseLost(event_row.user_key)
        self.session.flush()
        outgoing = insert_rows(self.session, rows)
        recipient = detached(user) if user is not None else None
        self.session.commit()
        self._send_now(outgoing, recipient)

    def _step(self, event_row: InboxEvent, event, raw: dict, fetched: dict
              ) -> tuple[list[dict], LineUser | None, str]:
        """Within the caller's transaction, run the event's handler; return its answer (the
        outbox rows to insert, born leased to this worker: bot.outbox.reply_rows), the user,
        and the status the event is to be marked with (`_mark_handled`)."""
        user = self._user(raw)
        ctx = EventContext(event=event, raw=raw, inbox_event=event_row, session=self.session,
                           user=user, fetched=fetched)
        with force_locale(user_locale(user.language if user else None)):
            self.dispatcher.dispatch(ctx)
            rows = reply_rows(event_row, ctx.reply_token, ctx.messages,
                              lease_owner=self.name, lease_seconds=self.send_lease_seconds)
        return rows, user, InboxEvent.DONE if ctx.can_send else InboxEvent.SKIPPED

    def _fetch(self, key: tuple[str, ...], raw: dict):
        """Make the LINE call a step asked for; the caller holds no transaction."""
        if key[0] == CONTENT:
            self._show_loading(raw, 10)  # the data host may take a while
            return self.client.get_content(key[1])
        if key[0] == QUOTA:
            return self.client.quota()
        raise ValueError(f"no such LINE call: {key!r}")

    def _send_now(self, outgoing: list, user: LineUser | None) -> None:
        """Send an event's answer at once (its rows were born leased to this worker): the
        reply leaves while the token is fresh, without waiting for the next sender round.
        In a batch, the batch's sender records the outcomes together afterwards."""
        if not outgoing:
            return
        sender = self._sender or Sender(self.session, self.client, self.name)
        for row, messages in outgoing:
            try:
                sender.deliver(row, user, messages)
                self.sent_now += 1
            except Exception:  # the lease expires and a sender round tries again
                log.exception("outbox row %s not sent at once", row.id)
                self.session.rollback()

    def _show_loading(self, raw: dict, seconds: int) -> None:
        """The typing animation, before a slow fetch a step asked for (only then: an event
        that merely waited in the inbox is answered at once, and an animation then would only
        add a LINE call per event when Samoe is busiest)."""
        source = raw.get("source") or {}
        if source.get("type") == "user" and source.get("userId") and raw.get("mode") != "standby":
            self.client.show_loading(source["userId"], seconds)

    def _record_failure(self, event_id: int, exc: Exception) -> None:
        log.error("event %s failed: %s", event_id, "".join(traceback.format_exception(exc)))
        row = self.session.get(InboxEvent, event_id, populate_existing=True)
        row.attempts += 1
        row.last_error = "".join(traceback.format_exception_only(exc))[:2000]
        if row.attempts >= MAX_EVENT_ATTEMPTS:
            row.status = InboxEvent.FAILED
        else:
            row.available_at = utcnow() + backoff(row.attempts)
        self.session.commit()

    # -- the loop ----------------------------------------------------------------------------

    def release_announcements(self) -> int:
        """Queue the batches of announcements whose time has come, and settle the finished
        ones (at most once a second: two indexed queries)."""
        now = time.monotonic()
        if now < self.next_announce:
            return 0
        self.next_announce = now + self.announce_every
        try:
            released = 0
            if announcements.due(self.session):
                self.session.rollback()  # no transaction stays open across the call to LINE
                # the budget is checked again at send time (None: LINE could not be asked;
                # after a failed ask, not asked again for QUOTA_RETRY_SECONDS)
                quota = None
                if now >= self.quota_retry_at:
                    quota = self.client.quota()
                    if quota is None:
                        self.quota_retry_at = now + QUOTA_RETRY_SECONDS
                released = announcements.release_due(self.session, quota)
                self.session.commit()
            announcements.settle(self.session)
            self.session.commit()
        except Exception:
            log.exception("announcements could not be released")
            self.session.rollback()
            return 0
        return released

    def seal_audit(self) -> int:
        """Chain the audit rows added since the last time (services.audit.seal)."""
        now = time.monotonic()
        if now < self.next_seal:
            return 0
        self.next_seal = now + self.seal_every
        try:
            return audit.seal(self.session)
        except Exception:
            log.exception("the audit log could not be sealed")
            self.session.rollback()
            return 0

    def run_once(self, poll_outbox: bool = True) -> int:
        """One round: handle due inbox events, release due announcements, then send the due
        outbox (with `poll_outbox` False, only if the inbox gave no work or the last look
        was `outbox_every` ago). Returns work done."""
        handled = self.handle_inbox() + self.release_announcements()
        sent = self.sent_now
        self.sent_now = 0
        now = time.monotonic()
        if poll_outbox or handled == 0 or now >= self.next_outbox:
            self.next_outbox = now + self.outbox_every
            sent += Sender(self.session, self.client, self.name).send_due()
        db.session.remove()
        return handled + sent

    def burst(self) -> int:
        """Work until nothing in the inbox or outbox is due now; return the total done."""
        total = 0
        self.announce_every = 0.0  # look every round
        while True:
            done = self.run_once()
            total += done
            if done == 0:
                return total

    def run(self, stop: threading.Event, idle: float = 0.5) -> None:
        """Loop until `stop` is set, sleeping up to `idle` seconds when there is nothing to do."""
        log.info("worker %s started", self.name)
        while not stop.is_set():
            try:
                self.scheduler.tick()  # the jobs due now (08:00 reminders), once per interval
                self.seal_audit()
                done = self.run_once(poll_outbox=False)
            except Exception:  # the database may be away: wait and try again
                log.exception("worker round failed")
                db.session.rollback()
                done = 0
            if done == 0:
                self.wakeup.wait(idle)
                self.wakeup.clear()
        log.info("worker %s stopped", self.name)


def start_in_process(app: Flask) -> Worker:
    """Run a worker thread inside this web process (the embedded SQLite default)."""
    worker = Worker(app, app.extensions["samoe.dispatcher"])
    stop = threading.Event()

    def target():
        with app.app_context():
            worker.run(stop)

    thread = threading.Thread(target=target, name="samoe-worker", daemon=True)
    worker.stop, worker.thread = stop, thread
    thread.start()
    app.extensions["samoe.worker"] = worker
    return worker


def wake_worker(app: Flask) -> None:
    """Tell the app's in-process worker, if it has one, that new events are waiting."""
    worker = app.extensions.get("samoe.worker")
    if worker is not None:
        worker.wakeup.set()
