"""Samoe's announcement benchmark (issue 8): one announcement to many volunteers.

    python bench/announce.py [--db sqlite|postgresql|both] [--volunteers 100000] [--quick]

On each database it starts the standalone LINE emulator (`python -m emulator`, its own SQLite
database on /dev/shm), makes a fresh Samoe database (`flask db upgrade`), generates the
volunteers (registered, followed, role volunteer, spread over the subdistricts of district
4007; PostgreSQL: COPY, SQLite: executemany in one transaction), an officer account and an API
token, and starts Samoe's API (gunicorn) and one `flask worker` process. Then:

1. clean run: POST /api/v1/announcements; the time from the 202 to the emulator's last
   accepted multicast and to `status: sent`; calls, largest batch, recipients delivered, twice
   and missing (from the emulator's sent log); the worker's peak RSS and CPU seconds;
2. kill-and-restart run: a second announcement; after some batches were accepted, LINE is made
   to accept the next batch and answer late (a fault: status 200, delay, when="after"), the
   worker is SIGKILLed while it waits, a new worker is started; twice and missing (both must
   be 0), the 409s, the time to finish.

The Markdown table and JSON go to stdout and bench/results/announce.{md,json}; logs of every
process to bench/results/logs/announce-*.log. See bench/README.md, "Benchmarks: announcements".
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from run import (  # noqa: E402  (bench/run.py: the webhook benchmark's helpers)
    CREATED_DATABASES,
    LOGS,
    RESULTS,
    ROOT,
    BenchError,
    Processes,
    _terminate,
    background_load,
    cpu_seconds,
    create_pg_database,
    drop_pg_database,
    free_port,
    iso_ms,
    log,
    machine,
    machine_busy,
    package_version,
    pg_admin,
    run_command,
    wait_http,
)

DISTRICT = "4007"
TARGET_S = 10.0
TEXT = ("ขอเชิญ อสม. ทุกท่านร่วมอบรมการเยี่ยมบ้านเด็กปฐมวัย วันเสาร์นี้ 09:00 น. "
        "ณ ห้องประชุมอำเภอ")


@dataclass
class Settings:
    dbs: list[str]
    volunteers: int
    quick: bool
    rate: float | None  # MULTICAST_PER_SECOND given to the worker (None: the app's default)
    lease_seconds: float | None  # SENDER_LEASE_SECONDS (None: the app's default)
    kill_after: int  # batches accepted in the second run before LINE is made to answer late
    fault_delay: float
    timeout: float
    rounds: int  # clean runs (announcements) per database
    kill: bool  # the kill-and-restart run too
    wait_quiet: float  # bench/run.py's background_load reads this
    secret: str = field(default_factory=lambda: os.urandom(16).hex())
    access_token: str = field(default_factory=lambda: "bench-" + os.urandom(12).hex())


def parse_args(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(prog="python bench/announce.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--volunteers", type=int,
                        help="volunteers generated (default 100,000; 10,000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10,000 volunteers")
    parser.add_argument("--rate", type=float,
                        help="MULTICAST_PER_SECOND for the worker (default: the app's, 200)")
    parser.add_argument("--lease-seconds", type=float,
                        help="SENDER_LEASE_SECONDS (default: the app's, 60): how long a batch "
                             "claimed by the killed worker waits before another resends it")
    parser.add_argument("--kill-after", type=int,
                        help="batches accepted in the second run before the late answer and "
                             "the kill (default: a tenth of the batches, at least 1)")
    parser.add_argument("--fault-delay", type=float, default=30.0,
                        help="seconds LINE holds its answer to the batch in flight (default 30)")
    parser.add_argument("--rounds", type=int,
                        help="clean runs (one announcement each) per database; the report shows "
                             "the median and the range (default 3; 1 with --quick)")
    parser.add_argument("--no-kill", action="store_true",
                        help="clean runs only (no kill-and-restart run): for quick comparisons")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                        help="first wait up to SECONDS for other work on the machine to fall "
                             "below 0.3 core (default: do not wait)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="give up on a run after this many seconds (default 600)")
    args = parser.parse_args(argv)
    volunteers = args.volunteers or (10_000 if args.quick else 100_000)
    if volunteers < 1000:
        parser.error("--volunteers: at least 1,000 (two batches or more)")
    batches = -(-volunteers // 500)
    return Settings(
        dbs=["sqlite", "postgresql"] if args.db == "both" else [args.db],
        volunteers=volunteers,
        quick=args.quick,
        rate=args.rate,
        lease_seconds=args.lease_seconds,
        kill_after=args.kill_after or max(1, batches // 10),
        fault_delay=args.fault_delay,
        timeout=args.timeout,
        rounds=args.rounds or (1 if args.quick else 3),
        kill=not args.no_kill,
        wait_quiet=args.wait_quiet,
    )


# -- small helpers ---------------------------------------------------------------------------


def api(method: str, url: str, token: str | None = None, body: dict | None = None,
        timeout: float = 60.0) -> tuple[int, dict]:
    """One JSON call; returns (status, body) for 2xx and 4xx alike."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"raw": raw.decode(errors="replace")[:500]}


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (kB) of a process, from /proc/<pid>/status."""
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


class RssSampler:
    """Samples a process's VmRSS every `every` seconds in a thread; the peak is kept."""

    def __init__(self, pid: int, every: float = 0.1):
        self.pid = pid
        self.every = every
        self.peak_kb = 0
        self.samples = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            rss = proc_status(self.pid).get("VmRSS")
            if rss:
                self.peak_kb = max(self.peak_kb, rss)
                self.samples += 1
            self.stop.wait(self.every)

    def close(self) -> int:
        self.stop.set()
        self.thread.join()
        return self.peak_kb


def mib(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


def kill_group(procs: Processes, name: str) -> None:
    """SIGKILL a process group at once (no SIGTERM first) and reap its leader."""
    proc = procs.running.pop(name)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


# -- the standalone emulator ----------------------------------------------------------------


class Emulator:
    """`python -m emulator` (werkzeug, threaded), its state in SQLite on /dev/shm."""

    def __init__(self, procs: Processes, settings: Settings, name: str, folder: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.name = name
        procs.start(name, [
            sys.executable, "-m", "emulator", "--port", str(self.port),
            "--database-url", f"sqlite:///{folder / 'emulator.db'}",
            "--channel-secret", settings.secret,
            "--channel-access-token", settings.access_token,
        ], dict(os.environ), ROOT)
        wait_http(self.base + "/api/health", procs, name)
        status, _ = api("POST", self.base + "/api/quota", body={"type": "none"})
        if status != 200:
            raise BenchError(f"emulator: POST /api/quota answered {status}")

    def _pages(self, path: str, after: int, limit: int) -> tuple[list[dict], int]:
        items: list[dict] = []
        while True:
            sep = "&" if "?" in path else "?"
            status, page = api("GET", f"{self.base}{path}{sep}after={after}&limit={limit}",
                               timeout=300)
            if status != 200:
                raise BenchError(f"emulator: GET {path} answered {status}")
            items.extend(page["items"])
            after = page["last"]
            if len(page["items"]) < limit:
                return items, after

    def sent(self, after: int) -> tuple[list[dict], int]:
        """The accepted multicasts with seq > after, and the last seq seen."""
        return self._pages("/api/sent?endpoint=multicast", after, 100)

    def requests(self, after: int, endpoint: str | None = None) -> tuple[list[dict], int]:
        """The API calls received with seq > after (refused ones too), and the last seq."""
        path = "/api/requests" + (f"?endpoint={endpoint}" if endpoint else "")
        return self._pages(path, after, 5000)

    def marks(self) -> tuple[int, int]:
        """The last seq of the sent log and of the request log: a new run counts after them."""
        return self.sent(0)[1], self.requests(0)[1]

    def fault(self, **body) -> None:
        status, answer = api("POST", self.base + "/api/faults", body=body)
        if status != 201:
            raise BenchError(f"emulator: POST /api/faults answered {status}: {answer}")

    def faults(self) -> list[dict]:
        return api("GET", self.base + "/api/faults")[1]["items"]


# -- Samoe on a fresh database --------------------------------------------------------------


class Samoe:
    """A fresh database with the volunteers, an officer and a token; the API and a worker."""

    def __init__(self, procs: Processes, settings: Settings, db: str, emulator: Emulator,
                 workdir: Path):
        self.procs = procs
        self.settings = settings
        self.db = db
        self.pg_name = None
        if db == "sqlite":
            self.path = workdir / "samoe.db"
            self.url = f"sqlite:///{self.path}"
        else:
            self.pg_name = f"samoe_bench_ann_{os.getpid()}"
            self.url = create_pg_database(self.pg_name)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            DATABASE_URL=self.url,
            LINE_CHANNEL_SECRET=settings.secret,
            LINE_CHANNEL_ACCESS_TOKEN=settings.access_token,
            LINE_API_BASE_URL=emulator.base,
            LINE_DATA_API_BASE_URL=emulator.base,
            LINE_EMULATOR="0",
            WORKER_IN_PROCESS="0",
            SCHEDULER_INTERVAL="0",
            QUIET_HOURS="",
            SECRET_KEY=os.urandom(32).hex(),
            PORT=str(self.port),
        )
        if settings.rate is not None:
            self.env["MULTICAST_PER_SECOND"] = str(settings.rate)
        if settings.lease_seconds is not None:
            self.env["SENDER_LEASE_SECONDS"] = str(settings.lease_seconds)
        self.flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
        self.workers = 0
        self.facts: dict = {}
        started = time.monotonic()
        run_command(self.flask + ["db", "upgrade"], env=self.env)
        self.facts["db_upgrade_s"] = round(time.monotonic() - started, 2)
        if db == settings.dbs[0]:  # the catalogs (*.mo are not in git)
            run_command(self.flask + ["translate", "compile"], env=self.env)
        self.facts["config"] = self._config()
        self.subdistricts = self._subdistricts()
        started = time.monotonic()
        self.volunteer_ids = self._generate()
        self.facts["generate_s"] = round(time.monotonic() - started, 2)
        self.facts["subdistricts"] = len(self.subdistricts)
        log(f"{db}: {len(self.volunteer_ids):,} volunteers over {len(self.subdistricts)} "
            f"subdistricts of {DISTRICT} in {self.facts['generate_s']} s")
        run_command(self.flask + ["create-user", "--username", "bench.officer", "--password",
                                  "bench-password-123", "--role", "officer", "--agency",
                                  "LEARN", "--area", DISTRICT], env=self.env)
        self.token = run_command(self.flask + ["create-token", "bench.officer", "--name",
                                               "announcement benchmark"],
                                 env=self.env).strip().splitlines()[-1]
        procs.start(f"announce-{db}-web", [
            sys.executable, "-m", "gunicorn", "--no-control-socket", "-w", "2",
            "-b", f"127.0.0.1:{self.port}", "wsgi:app"], self.env, ROOT)
        wait_http(self.base + "/healthz", procs, f"announce-{db}-web")
        status, _ = api("GET", self.base + "/api/v1/announcements", self.token)
        if status != 200:
            raise BenchError(f"{db}: GET /api/v1/announcements with the token answered {status}")

    def _config(self) -> dict:
        """What the worker runs with (read through the app's own config and engine)."""
        code = (
            "import json\n"
            "from wsgi import app\n"
            "from bot.extensions import db\n"
            "c = app.config\n"
            "out = {k: c[k] for k in ('MULTICAST_PER_SECOND', 'SENDER_LEASE_SECONDS',\n"
            "       'QUIET_HOURS', 'SCHEDULER_INTERVAL', 'WORKER_IN_PROCESS', 'LINE_EMULATOR',\n"
            "       'LINE_TIMEOUT')}\n"
            "with app.app_context():\n"
            "    conn = db.session.connection()\n"
            "    if db.engine.dialect.name == 'sqlite':\n"
            "        names = ['journal_mode', 'synchronous', 'busy_timeout']\n"
            "        out.update({n: conn.exec_driver_sql('PRAGMA ' + n).scalar() for n in names})\n"
            "        out['sqlite'] = conn.exec_driver_sql('select sqlite_version()').scalar()\n"
            "    else:\n"
            "        names = ['server_version', 'synchronous_commit', 'fsync']\n"
            "        out.update({n: conn.exec_driver_sql('SHOW ' + n).scalar() for n in names})\n"
            "print(json.dumps(out))\n"
        )
        return json.loads(run_command([sys.executable, "-c", code], env=self.env)
                          .strip().splitlines()[-1])

    # -- the database, directly -------------------------------------------------------------

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.db == "sqlite":
            conn = sqlite3.connect(self.path, timeout=60)
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()

    def _subdistricts(self) -> list[str]:
        codes = [code for (code,) in self.query(
            "SELECT code FROM areas WHERE code LIKE ? AND length(code) = 6 ORDER BY code",
            (DISTRICT + "%",))]
        if not codes:
            raise BenchError(f"no subdistricts of {DISTRICT} in the areas table")
        return codes

    def _generate(self) -> list[str]:
        """The volunteers, as registration leaves them: role volunteer, registered, followed."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        rng = random.Random(8)
        columns = ("line_user_id", "display_name", "role", "language", "followed",
                   "followed_at", "created_at", "full_name", "phone", "village", "village_no",
                   "subdistrict_code", "registered_at", "code_failures")
        ids = [f"U{n:032x}" for n in range(1, self.settings.volunteers + 1)]
        rows = []
        for n, line_id in enumerate(ids):
            place = self.subdistricts[n % len(self.subdistricts)]
            rows.append((line_id, f"อสม. {n}", "volunteer", "th", True, stamp, stamp,
                         f"อาสาสมัคร ทดสอบ {n}", f"08{rng.randrange(10**8):08d}",
                         f"บ้านทดสอบ {n % 20}", n % 20 + 1, place, stamp, 0))
        names = ", ".join(columns)
        if self.db == "sqlite":
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    f"INSERT INTO line_users ({names}) VALUES ({', '.join('?' * len(columns))})",
                    rows)
                conn.execute("COMMIT")
            finally:
                conn.close()
        else:
            import psycopg

            with psycopg.connect(self.url) as conn, conn.cursor() as cur:
                with cur.copy(f"COPY line_users ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cur.execute("ANALYZE line_users")
        return ids

    # -- processes --------------------------------------------------------------------------

    def start_worker(self) -> str:
        self.workers += 1
        name = f"announce-{self.db}-worker{self.workers}"
        self.procs.start(name, self.flask + ["worker"], self.env, ROOT)
        return name

    def worker_ready(self, name: str, timeout: float = 60.0) -> None:
        """Wait until the worker logs that its loop started (imports and warm-up done)."""
        deadline = time.monotonic() + timeout
        log_path = LOGS / f"{name}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        while time.monotonic() < deadline:
            self.procs.check(name)
            with open(log_path, "rb") as fh:
                fh.seek(offset)
                if b"started" in fh.read():
                    return
            time.sleep(0.1)
        raise BenchError(f"{name} did not start within {timeout:.0f} s; see {log_path}")

    def stop(self) -> None:
        for name in list(self.procs.running):
            if name.startswith(f"announce-{self.db}-"):
                self.procs.stop(name)
        if self.pg_name:
            drop_pg_database(self.pg_name)
            self.pg_name = None


# -- the two runs ---------------------------------------------------------------------------


def post_announcement(samoe: Samoe, text: str) -> tuple[int, float, float]:
    """POST the announcement; returns (id, wall time of the 202, seconds the POST took)."""
    started = time.monotonic()
    status, body = api("POST", samoe.base + "/api/v1/announcements", samoe.token,
                       {"text": text, "audience": ["volunteers"], "area": DISTRICT})
    accepted = time.time()
    if status != 202:
        raise BenchError(f"POST /api/v1/announcements answered {status}: {body}")
    if body.get("estimate") != len(samoe.volunteer_ids):
        raise BenchError(f"the announcement's estimate is {body.get('estimate')}, not "
                         f"{len(samoe.volunteer_ids)}")
    return body["id"], accepted, round(time.monotonic() - started, 3)


def wait_sent(samoe: Samoe, announcement_id: int, deadline: float, procs: Processes,
              worker: str) -> tuple[dict, float]:
    """Poll the announcement until it is sent (or failed); its body and the wall time seen."""
    while True:
        procs.check(worker)
        status, body = api("GET", f"{samoe.base}/api/v1/announcements/{announcement_id}",
                           samoe.token)
        if status == 200 and body["status"] in ("sent", "failed", "cancelled"):
            return body, time.time()
        if time.monotonic() > deadline:
            raise BenchError(f"announcement {announcement_id} not sent within the timeout: "
                             f"{body}")
        time.sleep(0.1)


def delivery(samoe: Samoe, items: list[dict]) -> dict:
    """Counts from the emulator's sent log: calls, batches, recipients, twice, missing."""
    received = Counter(u for item in items for u in item["to"])
    wanted = set(samoe.volunteer_ids)
    return {
        "multicast_calls_accepted": len(items),
        "largest_batch": max((len(item["to"]) for item in items), default=0),
        "recipients_delivered": sum(1 for u in received if u in wanted),
        "twice": sum(1 for n in received.values() if n > 1),
        "missing": len(wanted - set(received)),
        "strangers": sum(1 for u in received if u not in wanted),
    }


def db_timeline(samoe: Samoe, announcement_id: int, accepted: float) -> dict:
    """Seconds after the 202 at which the worker released it, sent the first and last batch
    (by the database's clocks) and settled it."""
    (started, finished), = samoe.query(
        "SELECT started_at, finished_at FROM announcements WHERE id = ?", (announcement_id,))
    (first, last, rows, created), = samoe.query(
        "SELECT min(sent_at), max(sent_at), count(*), min(created_at) FROM outbox_messages "
        "WHERE announcement_id = ?", (announcement_id,))
    statuses = dict(samoe.query(
        "SELECT status, count(*) FROM outbox_messages WHERE announcement_id = ? "
        "GROUP BY status", (announcement_id,)))
    errors = dict(samoe.query(
        "SELECT coalesce(last_error, ''), count(*) FROM outbox_messages "
        "WHERE announcement_id = ? GROUP BY last_error", (announcement_id,)))

    def after(value) -> float | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return round(value.replace(tzinfo=dt.UTC).timestamp() - accepted, 3)

    return {"released_s": after(started), "rows_created_s": after(created),
            "first_row_sent_s": after(first), "last_row_sent_s": after(last),
            "settled_s": after(finished), "outbox_rows": rows, "row_statuses": statuses,
            "row_last_errors": errors}


def other_work(busy0: tuple[float, float], busy1: tuple[float, float], ours_cpu: float,
               wall: float) -> float:
    cores = os.cpu_count() or 1
    machine_cores = (busy1[0] - busy0[0]) / max(1e-9, busy1[1] - busy0[1]) * cores
    return round(max(0.0, machine_cores - ours_cpu / max(wall, 1e-9)), 2)


def clean_run(procs: Processes, samoe: Samoe, emulator: Emulator, worker: str,
              settings: Settings, number: int) -> dict:
    pid = procs.running[worker].pid
    sent_mark, request_mark = emulator.marks()
    everyone = procs.pids("")
    cpu0 = {n: cpu_seconds(procs.pids(n)) for n in (worker, emulator.name,
                                                     f"announce-{samoe.db}-web")}
    all0 = cpu_seconds(everyone)
    busy0 = machine_busy()
    rss_before = proc_status(pid)
    sampler = RssSampler(pid)
    try:
        announcement_id, accepted, post_s = post_announcement(samoe, f"{TEXT} ({number})")
        body, seen_sent = wait_sent(samoe, announcement_id, time.monotonic() + settings.timeout,
                                    procs, worker)
    finally:
        peak_sampled = sampler.close()
    rss_after = proc_status(pid)  # VmHWM: the peak since the worker started
    wall = time.time() - accepted
    cpu = {n: round(cpu_seconds(procs.pids(n)) - v, 2) for n, v in cpu0.items()}
    ours = cpu_seconds(everyone) - all0
    busy1 = machine_busy()
    items, _ = emulator.sent(sent_mark)
    requests, _ = emulator.requests(request_mark, "multicast")
    at = [iso_ms(item["at"]) for item in items]
    result = {
        "announcement_id": announcement_id,
        "status": body["status"],
        "api_sent": body["sent"], "api_failed": body["failed"],
        "post_s": post_s,
        "to_first_multicast_s": round(min(at) / 1000 - accepted, 3) if at else None,
        "to_last_multicast_s": round(max(at) / 1000 - accepted, 3) if at else None,
        "to_status_sent_s": round(seen_sent - accepted, 3),
        **delivery(samoe, items),
        "multicast_statuses": dict(Counter(str(r["status"]) for r in requests)),
        "worker_rss_before_mib": mib(rss_before.get("VmRSS")),
        "worker_peak_rss_sampled_mib": mib(peak_sampled),
        "worker_vmhwm_mib": mib(rss_after.get("VmHWM")),
        "worker_cpu_s": cpu[worker],
        "web_cpu_s": cpu[f"announce-{samoe.db}-web"],
        "emulator_cpu_s": cpu[emulator.name],
        "other_work_cores": other_work(busy0, busy1, ours, wall),
        "timeline": db_timeline(samoe, announcement_id, accepted),
    }
    t = result["timeline"]
    batches = result["multicast_calls_accepted"]
    if batches > 1 and t["first_row_sent_s"] is not None:
        result["ms_per_batch"] = round((t["last_row_sent_s"] - t["first_row_sent_s"]) * 1000
                                       / (batches - 1), 1)
        result["worker_cpu_ms_per_batch"] = round(result["worker_cpu_s"] * 1000 / batches, 1)
        result["emulator_cpu_ms_per_batch"] = round(result["emulator_cpu_s"] * 1000 / batches, 1)
    result["target_met"] = (result["to_last_multicast_s"] is not None
                            and result["to_last_multicast_s"] <= TARGET_S)
    log(f"{samoe.db} clean run {number}: last multicast {result['to_last_multicast_s']} s after "
        f"the 202, sent {result['to_status_sent_s']} s; {result['multicast_calls_accepted']} "
        f"calls ({result.get('ms_per_batch')} ms apart), "
        f"{result['recipients_delivered']:,} delivered, twice {result['twice']}, missing "
        f"{result['missing']}; worker peak RSS {result['worker_vmhwm_mib']} MiB, CPU "
        f"{result['worker_cpu_s']} s")
    return result


def kill_run(procs: Processes, samoe: Samoe, emulator: Emulator, worker: str,
             settings: Settings) -> dict:
    sent_mark, request_mark = emulator.marks()
    busy0 = machine_busy()
    announcement_id, accepted, post_s = post_announcement(samoe, f"{TEXT} (kill)")
    deadline = time.monotonic() + settings.timeout
    # let some batches through, then make LINE carry out the next one and answer late
    while len(emulator.requests(request_mark, "multicast")[0]) < settings.kill_after:
        procs.check(worker)
        if time.monotonic() > deadline:
            raise BenchError("the kill run's first batches were not sent in time")
        time.sleep(0.02)
    emulator.fault(endpoint="multicast", status=200, count=1, delay=settings.fault_delay,
                   when="after")
    while any(f["endpoint"] == "multicast" and f["remaining"] > 0 for f in emulator.faults()):
        procs.check(worker)
        if time.monotonic() > deadline:
            raise BenchError("no multicast took the late-answer fault")
        time.sleep(0.02)
    fault_taken = time.time()
    # the batch is recorded before LINE's (late) answer; the request log entry comes after it
    while True:
        accepted_items, _ = emulator.sent(sent_mark)
        answered = emulator.requests(request_mark, "multicast")[0]
        if len(accepted_items) > len(answered):
            break
        if time.time() - fault_taken > 5:
            raise BenchError("the batch in flight was not recorded by the emulator")
        time.sleep(0.02)
    time.sleep(0.3)
    first_pid = procs.running[worker].pid
    first_hwm = proc_status(first_pid).get("VmHWM")
    kill_group(procs, worker)
    killed = time.time()
    accepted_items, _ = emulator.sent(sent_mark)
    answered = emulator.requests(request_mark, "multicast")[0]
    answered_keys = {r["retry_key"] for r in answered}
    in_flight = [i["retry_key"] for i in accepted_items if i["retry_key"] not in answered_keys]
    log(f"{samoe.db} kill run: worker SIGKILLed with {len(answered)} batches answered and "
        f"{len(in_flight)} accepted but unanswered")

    second = samoe.start_worker()
    restarted = time.time()
    pid = procs.running[second].pid
    everyone = procs.pids("")
    cpu0 = cpu_seconds(procs.pids(second))
    all0 = cpu_seconds(everyone)
    sampler = RssSampler(pid)
    try:
        body, seen_sent = wait_sent(samoe, announcement_id, deadline, procs, second)
    finally:
        peak_sampled = sampler.close()
    hwm = proc_status(pid).get("VmHWM")
    finished = time.time()
    cpu = round(cpu_seconds(procs.pids(second)) - cpu0, 2)
    ours = cpu_seconds(everyone) - all0
    busy1 = machine_busy()
    # the late answer is logged when the emulator's delay is over: wait for it, then count
    while time.time() < fault_taken + settings.fault_delay + 5:
        late = {r["retry_key"] for r in emulator.requests(request_mark, "multicast")[0]
                if r["status"] == 200}
        if set(in_flight) <= late:
            break
        time.sleep(0.5)
    items, _ = emulator.sent(sent_mark)
    requests, _ = emulator.requests(request_mark, "multicast")
    at = [iso_ms(item["at"]) for item in items]
    resent = [r for r in requests if r["status"] == 409]
    result = {
        "announcement_id": announcement_id,
        "status": body["status"],
        "api_sent": body["sent"], "api_failed": body["failed"],
        "post_s": post_s,
        "batches_answered_before_kill": len(answered),
        "accepted_unanswered_at_kill": len(in_flight),
        "killed_after_s": round(killed - accepted, 3),
        **delivery(samoe, items),
        "multicast_statuses": dict(Counter(str(r["status"]) for r in requests)),
        "conflicts_409": len(resent),
        "resent_key_was_in_flight": bool(resent) and all(r["retry_key"] in in_flight
                                                         for r in resent),
        "restart_to_409_s": (round(iso_ms(resent[0]["at"]) / 1000 - restarted, 3)
                             if resent else None),
        "restart_to_last_multicast_s": round(max(at) / 1000 - restarted, 3) if at else None,
        "restart_to_status_sent_s": round(seen_sent - restarted, 3),
        "accept_to_status_sent_s": round(seen_sent - accepted, 3),
        "first_worker_vmhwm_mib": mib(first_hwm),
        "second_worker_vmhwm_mib": mib(hwm),
        "second_worker_peak_rss_sampled_mib": mib(peak_sampled),
        "second_worker_cpu_s": cpu,
        "other_work_cores": other_work(busy0, busy1, ours, finished - restarted),
        "timeline": db_timeline(samoe, announcement_id, accepted),
    }
    result["exactly_once"] = result["twice"] == 0 and result["missing"] == 0
    log(f"{samoe.db} kill run: twice {result['twice']}, missing {result['missing']}, 409s "
        f"{result['conflicts_409']}, sent {result['restart_to_status_sent_s']} s after the "
        "restart")
    return result


def summarise_rounds(rounds: list[dict]) -> dict:
    """The clean runs in one: medians of times and costs (with their ranges), the worst of the
    counts, the highest peak of memory."""
    out: dict = {"rounds": len(rounds)}
    for key in ("post_s", "to_first_multicast_s", "to_last_multicast_s", "to_status_sent_s",
                "ms_per_batch", "worker_cpu_s", "worker_cpu_ms_per_batch", "web_cpu_s",
                "emulator_cpu_s", "emulator_cpu_ms_per_batch", "other_work_cores"):
        values = [r.get(key) for r in rounds if r.get(key) is not None]
        out[key] = median(values)
        out[key + "_range"] = [min(values), max(values)] if values else None
    for key in ("multicast_calls_accepted", "largest_batch", "twice", "missing", "strangers"):
        out[key] = max(r[key] for r in rounds)
    out["recipients_delivered"] = min(r["recipients_delivered"] for r in rounds)
    out["worker_rss_before_mib"] = rounds[0]["worker_rss_before_mib"]
    out["worker_vmhwm_mib"] = max(r["worker_vmhwm_mib"] or 0 for r in rounds)
    out["worker_peak_rss_sampled_mib"] = max(r["worker_peak_rss_sampled_mib"] for r in rounds)
    out["multicast_statuses"] = dict(sum((Counter(r["multicast_statuses"]) for r in rounds),
                                         Counter()))
    out["timeline"] = {key: median([r["timeline"][key] for r in rounds
                                    if r["timeline"][key] is not None])
                       for key in ("released_s", "first_row_sent_s", "last_row_sent_s",
                                   "settled_s")}
    out["target_met"] = out["to_last_multicast_s"] is not None and \
        out["to_last_multicast_s"] <= TARGET_S
    out["target_met_every_round"] = all(r["target_met"] for r in rounds)
    return out


def run_db(procs: Processes, settings: Settings, db: str) -> dict:
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    workdir = Path(tempfile.mkdtemp(prefix="samoe-announce-"))
    emudir = Path(tempfile.mkdtemp(prefix="samoe-announce-emu-", dir=shm))
    samoe = None
    try:
        emulator = Emulator(procs, settings, f"announce-{db}-emulator", emudir)
        samoe = Samoe(procs, settings, db, emulator, workdir)
        worker = samoe.start_worker()
        samoe.worker_ready(worker)
        out = {"database": samoe.facts, "rounds": []}
        for number in range(1, settings.rounds + 1):
            out["rounds"].append(clean_run(procs, samoe, emulator, worker, settings, number))
        out["clean"] = summarise_rounds(out["rounds"])
        if settings.kill:
            out["kill"] = kill_run(procs, samoe, emulator, worker, settings)
        return out
    finally:
        if samoe is not None:
            samoe.stop()
        for name in list(procs.running):
            if name.startswith(f"announce-{db}-"):
                procs.stop(name)
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(emudir, ignore_errors=True)


# -- the report ------------------------------------------------------------------------------


def versions(dbs: list[str]) -> dict:
    import platform

    out = {"python": platform.python_version(), "sqlite (python module)": sqlite3.sqlite_version}
    for name in ("flask", "sqlalchemy", "gunicorn", "line-bot-sdk", "psycopg", "werkzeug"):
        out[name] = package_version(name)
    if "postgresql" in dbs:
        out["postgresql"] = pg_admin("SHOW server_version")[0][0]
    return out


def git_state() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout

    dirty = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no")
             .splitlines() if line.strip()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "uncommitted_changes": dirty}


def fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def spread(entry: dict, key: str, digits: int = 2) -> str:
    """A median with its range over the rounds: 7.59 (7.20–8.01)."""
    text = fmt(entry.get(key), digits)
    low_high = entry.get(key + "_range")
    if low_high and entry.get("rounds", 1) > 1:
        text += f" ({fmt(low_high[0], digits)}–{fmt(low_high[1], digits)})"
    return text


def markdown(report: dict) -> str:
    s = report["settings"]
    m = report["machine"]
    rate = next((r["database"]["config"]["MULTICAST_PER_SECOND"]
                 for r in report["databases"].values() if "database" in r), None)
    lease = next((r["database"]["config"]["SENDER_LEASE_SECONDS"]
                  for r in report["databases"].values() if "database" in r), None)
    lines = [
        f"# Samoe announcement benchmark, {report['started']}",
        "",
        f"One announcement to {s['volunteers']:,} volunteers of district {DISTRICT} "
        "(POST /api/v1/announcements), sent by one `flask worker` process through the "
        "standalone LINE emulator (`python -m emulator`, SQLite on /dev/shm); "
        f"MULTICAST_PER_SECOND {fmt(rate, 0)}, SENDER_LEASE_SECONDS {fmt(lease, 0)}. "
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, shared with other "
        f"work (load average {' '.join(report['loadavg_start'])} at the start, "
        f"{' '.join(report['loadavg_end'])} at the end; other work used "
        f"{fmt(report['background']['cores_busy_before'])} cores just before the run). "
        f"{'QUICK run. ' if s['quick'] else ''}{s['rounds']} clean run(s) per database: "
        f"medians (min–max). Whole run {fmt(report['wall_s'], 1)} s.",
        "",
        "| database | batches (calls) | largest | delivered | twice | missing | 202 → last "
        f"multicast, s | 202 → `sent`, s | ≤ {TARGET_S:.0f} s (median; every round) | ms per "
        "batch | worker CPU, s | worker RSS before → peak, MiB | emulator CPU, s | other work, "
        "cores |",
        "| --- |" + " ---: |" * 7 + " --- |" + " ---: |" * 5,
    ]
    for db, r in report["databases"].items():
        c = r.get("clean")
        if not c:
            lines.append(f"| {db} | failed: {r.get('error')} |" + " |" * 12)
            continue
        lines.append(
            f"| {db} | {c['multicast_calls_accepted']} | {c['largest_batch']} | "
            f"{fmt(c['recipients_delivered'])} | {c['twice']} | {c['missing']} | "
            f"{spread(c, 'to_last_multicast_s')} | {spread(c, 'to_status_sent_s')} | "
            f"{fmt(c['target_met'])}; {fmt(c['target_met_every_round'])} | "
            f"{spread(c, 'ms_per_batch', 1)} | {spread(c, 'worker_cpu_s')} | "
            f"{fmt(c['worker_rss_before_mib'], 1)} → {fmt(c['worker_vmhwm_mib'], 1)} | "
            f"{spread(c, 'emulator_cpu_s')} | {spread(c, 'other_work_cores')} |")
    kills = [(db, r["kill"]) for db, r in report["databases"].items() if r.get("kill")]
    lines += [
        "",
        "Kill and restart: a second announcement; after some batches, LINE accepts the next one "
        f"and holds its answer {fmt(s['fault_delay'], 0)} s (fault: status 200, when=after); "
        "the worker is SIGKILLed while it waits, and a new worker started at once. The batch "
        "it held is resent when its lease (SENDER_LEASE_SECONDS) has expired.",
        "",
        "| database | answered before the kill | accepted, unanswered at the kill | twice | "
        "missing | 409 | restart → last new multicast, s | restart → 409, s | restart → "
        "`sent`, s | 202 → `sent`, s | calls: status × n |",
        "| --- |" + " ---: |" * 9 + " --- |",
    ] if kills else []
    for db, k in kills:
        lines.append(
            f"| {db} | {k['batches_answered_before_kill']} | "
            f"{k['accepted_unanswered_at_kill']} | {k['twice']} | {k['missing']} | "
            f"{k['conflicts_409']} | {fmt(k['restart_to_last_multicast_s'])} | "
            f"{fmt(k['restart_to_409_s'])} | {fmt(k['restart_to_status_sent_s'])} | "
            f"{fmt(k['accept_to_status_sent_s'])} | "
            f"{', '.join(f'{st} × {n}' for st, n in sorted(k['multicast_statuses'].items()))} |")
    lines += ["", "Where the time goes, seconds after the 202 (the database's own timestamps; "
              "clean runs: medians):", "",
              "| database, run | released (rows queued) | first batch sent | last batch sent | "
              "settled (`sent`) | POST took |",
              "| --- |" + " ---: |" * 5]
    for db, r in report["databases"].items():
        for run in ("clean", "kill"):
            x = r.get(run)
            if not x:
                continue
            t = x["timeline"]
            lines.append(f"| {db}, {run} | {fmt(t['released_s'])} | "
                         f"{fmt(t['first_row_sent_s'])} | {fmt(t['last_row_sent_s'])} | "
                         f"{fmt(t['settled_s'])} | {fmt(x['post_s'], 3)} |")
    lines += [""]
    for db, r in report["databases"].items():
        if "database" in r:
            lines.append(f"- {db}: {json.dumps(r['database'], ensure_ascii=False)}")
        if r.get("rounds"):
            lines.append(f"- {db}, each clean run, 202 → last multicast: "
                         + ", ".join(f"{x['to_last_multicast_s']} s" for x in r["rounds"]))
        if r.get("error"):
            lines.append(f"- {db} failed: {r['error']}")
    lines += [
        f"- Settings: {json.dumps(s)}",
        f"- Versions: {json.dumps(report['versions'])}",
        f"- Code: {json.dumps(report['git'])}",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    started = time.time()
    report: dict = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        "settings": {k: v for k, v in settings.__dict__.items()
                     if k not in ("secret", "access_token")},
        "git": git_state(),
        "databases": {},
    }
    procs = Processes()
    previous = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    failed = False
    try:
        if "postgresql" in settings.dbs:
            try:
                pg_admin("SELECT 1")
            except Exception as exc:
                raise BenchError(f"PostgreSQL is not reachable ({exc}); run with --db sqlite") \
                    from exc
        report["versions"] = versions(settings.dbs)
        report["background"] = background_load(settings)
        for db in settings.dbs:
            log(f"{db}: {settings.volunteers:,} volunteers")
            try:
                report["databases"][db] = run_db(procs, settings, db)
            except BenchError as exc:
                log(f"{db} failed: {exc}")
                report["databases"][db] = {"error": str(exc)}
                failed = True
    except BenchError as exc:
        log(f"failed: {exc}")
        return 1
    except KeyboardInterrupt as exc:
        log(f"interrupted ({exc}); every process started was stopped")
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        procs.stop_all()
        for name in sorted(CREATED_DATABASES):
            drop_pg_database(name)
    report["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    report["wall_s"] = round(time.time() - started, 1)
    text = markdown(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "announce.md").write_text(text)
    (RESULTS / "announce.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(text)
    print("```json")
    print(json.dumps(report, indent=1, ensure_ascii=False))
    print("```")
    log(f"written {RESULTS / 'announce.md'} and {RESULTS / 'announce.json'}")
    bad = [db for db, r in report["databases"].items()
           if "clean" not in r or r["clean"]["twice"] or r["clean"]["missing"]
           or (settings.kill and ("kill" not in r or not r["kill"]["exactly_once"]))]
    return 1 if failed or bad else 0


if __name__ == "__main__":
    sys.exit(main())
