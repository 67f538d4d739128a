"""CPU per event of Samoe's hot path: the webhook's acknowledgement and the worker's handling.

    python bench/profile_worker.py [--db sqlite|postgresql|both] [--events 2000] [--users 1000]
                                   [--profile worker|webhook] [--top 40] [--steps]

Wall-clock throughput on a shared 2-core machine moves with everyone else's work; CPU time
counts only the work done, so it is what this measures (time.process_time, this process only).
In one process, on a fresh database (`flask db upgrade`; SQLite in a temporary folder with the
app's durable settings, or a new PostgreSQL database on 127.0.0.1:5432, dropped at the end):

1. the webhook: N signed one-event requests (the bench's Thai text message, from U users in
   turn, every id new, timestamped now) posted to /callback through Flask's test client, one
   at a time; CPU ms per 200, with the test client's own cost (the same request to a route that
   does nothing) measured beside it;
2. the worker: one `bot.worker.Worker` (the same class as `flask worker`) runs rounds until the
   inbox and outbox are empty; its replies go to bench/trivial_server.js (a LINE reply API that
   costs nothing and runs in another process, so none of its CPU is counted); CPU ms per event
   (and of it the worker's own thread's, time.thread_time: the rest is its send threads', the
   replies' HTTP calls through the SDK), SQL statements and commits per event.

It checks that every event was handled once and every reply was sent, and exits non-zero if
not. `--steps` also gives the CPU per event of each step of the worker (Steps). `--profile
worker` (or `webhook`) runs that phase under cProfile and prints the top functions by own
time and by cumulative time.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import hmac
import json
import os
import pstats
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(ROOT))

from loadgen import BOT_USER_ID, TEXT, token_for, ulid, user_for  # noqa: E402
from run import (  # noqa: E402
    Processes,
    create_pg_database,
    drop_pg_database,
    free_port,
    run_command,
    wait_http,
)

SECRET = "profile-channel-secret"
TOKEN = "profile-access-token"


def body_of(index: int, users: int, prefix: str) -> tuple[str, str]:
    """One webhook body (one text-message event, new ids, timestamp now) and its signature."""
    now_ms = time.time_ns() // 1_000_000
    event = {
        "type": "message",
        "message": {"type": "text", "id": f"{900000000 + index:018d}",
                    "quoteToken": secrets.token_urlsafe(48), "text": TEXT},
        "webhookEventId": ulid(now_ms),
        "deliveryContext": {"isRedelivery": False},
        "timestamp": now_ms,
        "source": {"type": "user", "userId": user_for(prefix, index % users)},
        "replyToken": token_for(prefix, index),
        "mode": "active",
    }
    body = json.dumps({"destination": BOT_USER_ID, "events": [event]}, ensure_ascii=False,
                      separators=(",", ":"))
    signature = base64.b64encode(
        hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).digest()).decode()
    return body, signature


class Counter:
    """SQL statements and commits on the app's engine, and those of the webhook's own
    connections, outside the engine: PostgreSQL's (bot.inbox.PgWriter: each insert is one
    statement in autocommit mode, counted as a statement and a commit) and SQLite's
    (bot.inbox.SqliteWriter: an insert a row, and a commit a transaction)."""

    def __init__(self, engine) -> None:
        import sqlalchemy as sa

        from bot import inbox

        self.statements = 0
        self.commits = 0
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine, "commit", self._commit)
        insert = inbox.PgWriter._insert

        def counted(writer, rows):
            self.statements += 1
            self.commits += 1
            return insert(writer, rows)

        inbox.PgWriter._insert = counted
        transaction = inbox.SqliteWriter._transaction

        def counted_transaction(writer, items, deadline):
            results = transaction(writer, items, deadline)
            self.statements += sum(len(events) for events, _destination in items)
            self.commits += 1
            return results

        inbox.SqliteWriter._transaction = counted_transaction

    def _statement(self, *args) -> None:
        self.statements += 1

    def _commit(self, *args) -> None:
        self.commits += 1

    def reset(self) -> tuple[int, int]:
        values = (self.statements, self.commits)
        self.statements = self.commits = 0
        return values


#: the worker's steps `--steps` times: (module, class or None, function, label)
STEPS = (
    ("bot.inbox", None, "claim", "inbox.claim (lease users, read their events)"),
    ("bot.inbox", None, "release_leases", "inbox.release_leases"),
    ("bot.inbox", None, "extend_leases", "inbox.extend_leases"),
    ("bot.worker", None, "parse_event", "parse_event (the SDK's model)"),
    ("bot.worker", "Worker", "_load_users", "Worker._load_users"),
    ("bot.conversation", None, "preload_states", "conversation.preload_states"),
    ("bot.dispatch", "Dispatcher", "dispatch", "Dispatcher.dispatch (the conversation step)"),
    ("bot.conversation", None, "match", "intents.match (within the step)"),
    ("bot.worker", None, "reply_rows", "outbox.reply_rows"),
    ("bot.worker", "Worker", "_mark_handled", "Worker._mark_handled"),
    ("bot.worker", None, "insert_rows", "outbox.insert_rows"),
    ("bot.worker", None, "detached", "outbox.detached"),
    ("sqlalchemy.orm", "Session", "flush", "Session.flush"),
    ("sqlalchemy.orm", "Session", "commit", "Session.commit"),
    ("bot.sender", "Sender", "finish_deferred", "Sender.finish_deferred (outcomes)"),
    ("bot.sender", "Sender", "send_due", "Sender.send_due (its round)"),
    ("bot.worker", "Worker", "_batch", "Worker._batch (all of a batch)"),
    ("bot.line_client", "LineClient", "reply", "LineClient.reply (on the send threads)"),
)


class Steps:
    """CPU time of the thread that runs each step, summed over its calls (a step inside
    another counts in both): where a worker's CPU per event goes, for `--steps`. The
    wrappers cost a little CPU of their own, so the worker's total is higher than without."""

    def __init__(self) -> None:
        import collections
        import functools
        import importlib

        self.seconds: collections.Counter = collections.Counter()
        self.calls: collections.Counter = collections.Counter()
        for module, cls, name, label in STEPS:
            owner = importlib.import_module(module)
            if cls is not None:
                owner = getattr(owner, cls)
            original = getattr(owner, name)

            def timed(*a, _original=original, _label=label, **k):
                started = time.thread_time()
                try:
                    return _original(*a, **k)
                finally:
                    self.seconds[_label] += time.thread_time() - started
                    self.calls[_label] += 1

            setattr(owner, name, functools.wraps(original)(timed))

    def report(self, events: int) -> dict:
        return {label: {"cpu_ms_per_event": round(seconds * 1000 / events, 3),
                        "calls": self.calls[label]}
                for label, seconds in self.seconds.most_common()}


def profiled(enabled: bool, top: int, work):
    """Run `work()`, under cProfile if asked (and print what it found)."""
    if not enabled:
        return work()
    profile = cProfile.Profile(time.process_time)  # CPU time: waits on LINE and fsync are not work
    result = profile.runcall(work)
    stats = pstats.Stats(profile, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return result


def measure(db_kind: str, args, procs: Processes) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="samoe-profile-"))
    pg_name = None
    if db_kind == "sqlite":
        url = f"sqlite:///{workdir / 'samoe.db'}"
    else:
        pg_name = f"samoe_bench_profile_{os.getpid()}"
        url = create_pg_database(pg_name)
    try:
        stub_port = free_port()
        procs.start("profile-reply-stub", [shutil.which("node"),
                                           str(BENCH / "trivial_server.js")],
                    dict(os.environ, PORT=str(stub_port), HOST="127.0.0.1"), BENCH)
        wait_http(f"http://127.0.0.1:{stub_port}/", procs, "profile-reply-stub")
        stub = f"http://127.0.0.1:{stub_port}"
        os.environ.update(DATABASE_URL=url, LINE_EMULATOR="0", WORKER_IN_PROCESS="0",
                          LINE_CHANNEL_SECRET=SECRET, LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
                          LINE_API_BASE_URL=stub, LINE_DATA_API_BASE_URL=stub,
                          SECRET_KEY=secrets.token_hex(16))
        run_command([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                    env=dict(os.environ))
        return run_phases(db_kind, args, url)
    finally:
        procs.stop("profile-reply-stub")
        if pg_name:
            drop_pg_database(pg_name)
        shutil.rmtree(workdir, ignore_errors=True)


def run_phases(db_kind: str, args, url: str) -> dict:
    import sqlalchemy as sa

    from bot import create_app
    from bot.extensions import db
    from bot.worker import Worker
    from models import InboxEvent, OutboxMessage

    config = {"TESTING": False}
    for item in args.config:
        key, _, value = item.partition("=")
        config[key] = json.loads(value) if value[:1] in "0123456789-[{tf" else value
    app = create_app(config)
    steps = Steps() if args.steps else None
    app.add_url_rule("/profile-noop", "profile_noop", lambda: ("", 200), methods=["POST"])
    client = app.test_client()
    n, users = args.events, args.users
    headers = {"Content-Type": "application/json"}
    rounds = []

    with app.app_context():
        counter = Counter(db.engine)
        worker = Worker(app, app.extensions["samoe.dispatcher"], name="profile-worker")
        db.session.remove()
        for repeat in range(args.repeat):
            prefix = secrets.token_hex(8)  # new users each repeat: the same work each time
            bodies = [body_of(i, users, prefix) for i in range(n)]
            if repeat == 0:  # the test client's own cost: the requests to a no-op route
                started = time.process_time()
                for body, signature in bodies[: min(n, 500)]:
                    client.post("/profile-noop", data=body.encode(),
                                headers={**headers, "X-Line-Signature": signature})
                floor_ms = (time.process_time() - started) * 1000 / min(n, 500)

            def post_all(bodies=bodies) -> int:
                ok = 0
                for body, signature in bodies:
                    answer = client.post("/callback", data=body.encode(),
                                         headers={**headers, "X-Line-Signature": signature})
                    ok += answer.status_code == 200
                return ok

            def drain() -> int:
                total = 0
                for _ in range(100_000):
                    done = worker.run_once()
                    total += done
                    if done == 0:
                        return total
                return total

            counter.reset()
            started, wall = time.process_time(), time.perf_counter()
            ok = profiled(args.profile == "webhook" and repeat == 0, args.top, post_all)
            webhook_cpu = time.process_time() - started
            webhook_wall = time.perf_counter() - wall
            webhook_statements, webhook_commits = counter.reset()

            started, wall = time.process_time(), time.perf_counter()
            main_started = time.thread_time()  # the worker's own thread (drain runs on it)
            profiled(args.profile == "worker" and repeat == 0, args.top, drain)
            worker_cpu = time.process_time() - started
            main_cpu = time.thread_time() - main_started
            worker_wall = time.perf_counter() - wall
            worker_statements, worker_commits = counter.reset()

            session = db.session
            mine = InboxEvent.user_key.like(f"U{prefix}%")
            handled = session.scalar(sa.select(sa.func.count()).select_from(InboxEvent).where(
                mine, InboxEvent.status == InboxEvent.DONE))
            pending = session.scalar(sa.select(sa.func.count()).select_from(InboxEvent).where(
                mine, InboxEvent.status != InboxEvent.DONE))
            replies = OutboxMessage.recipient.like(f"U{prefix}%")
            sent = session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
                replies, OutboxMessage.status == OutboxMessage.SENT))
            pushed = session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
                replies, OutboxMessage.status == OutboxMessage.SENT,
                OutboxMessage.via == "push"))
            rows = session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
                replies))
            db.session.remove()
            rounds.append({
                "acked": ok, "handled": handled, "not_handled": pending, "outbox_rows": rows,
                "sent": sent, "of_which_pushed": pushed,
                "webhook_cpu_ms_per_ack": round(webhook_cpu * 1000 / n, 3),
                "webhook_statements_per_ack": round(webhook_statements / n, 2),
                "webhook_commits_per_ack": round(webhook_commits / n, 2),
                "webhook_wall_s": round(webhook_wall, 2),
                "worker_cpu_ms_per_event": round(worker_cpu * 1000 / max(1, handled), 3),
                "worker_main_thread_cpu_ms_per_event": round(main_cpu * 1000 / max(1, handled), 3),
                "worker_statements_per_event": round(worker_statements / max(1, handled), 2),
                "worker_commits_per_event": round(worker_commits / max(1, handled), 2),
                "worker_wall_s": round(worker_wall, 2),
            })
        db.engine.dispose()

    def spread(key: str) -> list:
        values = sorted(r[key] for r in rounds)
        return [values[0], values[len(values) // 2], values[-1]]

    result = {
        "db": db_kind, "events": n, "users": users, "repeats": args.repeat,
        "test_client_floor_ms": round(floor_ms, 3),
        "webhook_cpu_ms_per_ack (min, median, max)": spread("webhook_cpu_ms_per_ack"),
        "worker_cpu_ms_per_event (min, median, max)": spread("worker_cpu_ms_per_event"),
        # the rest of the worker's CPU is its send threads' (the replies' HTTP calls)
        "of_which_main_thread (min, median, max)": spread("worker_main_thread_cpu_ms_per_event"),
        "webhook_statements_per_ack": rounds[-1]["webhook_statements_per_ack"],
        "webhook_commits_per_ack": rounds[-1]["webhook_commits_per_ack"],
        "worker_statements_per_event": rounds[-1]["worker_statements_per_event"],
        "worker_commits_per_event": rounds[-1]["worker_commits_per_event"],
        "worker_wall_s": [r["worker_wall_s"] for r in rounds],
        "pushed_not_replied": [r["of_which_pushed"] for r in rounds],
        "rounds": rounds,
    }
    if steps is not None:
        result["steps (CPU ms per event of the thread that ran each)"] = steps.report(
            n * args.repeat)
    result["ok"] = all(r["acked"] == n and r["handled"] == n and r["not_handled"] == 0
                       and r["sent"] == n for r in rounds)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--profile", choices=["worker", "webhook"], default=None)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--steps", action="store_true",
                        help="also time the worker's steps (CPU ms per event of each)")
    parser.add_argument("--verbose", action="store_true", help="print every round")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="app config for the run, e.g. WORKER_BATCH_EVENTS=50 (repeatable)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of N events (new users each); min, median and max shown")
    args = parser.parse_args()
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if len(dbs) > 1:  # one app per process: the models bind to one engine
        rc = 0
        for db_kind in dbs:
            argv = [sys.executable, __file__, "--db", db_kind, "--events", str(args.events),
                    "--users", str(args.users), "--top", str(args.top),
                    "--repeat", str(args.repeat)]
            if args.profile:
                argv += ["--profile", args.profile]
            if args.steps:
                argv.append("--steps")
            if args.verbose:
                argv.append("--verbose")
            for item in args.config:
                argv += ["--config", item]
            rc |= subprocess.call(argv)
        return rc
    procs = Processes()
    try:
        result = measure(dbs[0], args, procs)
    finally:
        procs.stop_all()
    print(json.dumps(result if args.verbose else
                     {k: v for k, v in result.items() if k != "rounds"}))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
