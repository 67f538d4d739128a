"""Samoe's webhook benchmarks against line-bot-sdk's echo bots (DESIGN.md §9, issue 3).

    python bench/run.py [--quick] [--db sqlite|postgresql|both]

One run, one machine, one load generator (bench/loadgen.py), the same signed one-event webhook
requests for every system (every event new). It starts and stops everything itself:

1. the load generator against a trivial server (its own ceiling);
2. the LINE emulator's reply throughput (the ceiling of anything that replies through it);
3. the Python echo (bench/echo_flask.py, gunicorn, 2 workers) and the Node echo
   (bench/node_echo, one process): closed-loop acknowledgement throughput and latency;
4. Samoe (gunicorn, 2 workers, plus `flask worker` processes) on SQLite and PostgreSQL:
   closed-loop ack throughput and latency while its workers drain, then events fully handled
   per second and event-to-reply latency from the emulator's sent log;
5. open loop: every system at a fixed offered rate (half the Python echo's maximum), latency
   measured from the scheduled send time.

The Markdown table and JSON go to stdout and bench/results/latest.{md,json}; logs of every
process to bench/results/logs/. See bench/README.md for the method.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"
NODE_ECHO = BENCH / "node_echo"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(ROOT))

from loadgen import summarise, token_for, user_for  # noqa: E402


class BenchError(RuntimeError):
    """Something the benchmark needs is missing or broke; the message says what."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- settings ------------------------------------------------------------------------------


@dataclass
class Settings:
    quick: bool
    dbs: list[str]
    connections: int
    rounds: int
    duration: float
    warmup: float
    open_rounds: int
    open_duration: float
    open_connections: int
    sustain_duration: float
    drain_timeout: float
    users: int
    samoe_workers: int
    worker_class: str
    echo_worker_class: str
    threads: int
    emulator_db: str
    emulator_workers: int
    emulator_threads: int
    stub: bool
    wait_quiet: float
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    access_token: str = field(default_factory=lambda: "bench-" + secrets.token_hex(12))


def parse_args(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true",
                        help="one short round of each phase (a smoke run; rough figures)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--connections", type=int, default=32,
                        help="closed loop: concurrent connections (default 32)")
    parser.add_argument("--rounds", type=int, help="closed-loop rounds per system (default 3)")
    parser.add_argument("--duration", type=float, help="seconds measured per closed-loop round")
    parser.add_argument("--open-rounds", type=int, help="open-loop rounds per system (default 2)")
    parser.add_argument("--open-duration", type=float,
                        help="seconds measured per open-loop round")
    parser.add_argument("--sustain-duration", type=float,
                        help="seconds measured per round of Samoe at the Python echo's "
                             "closed-loop rate (default 10)")
    parser.add_argument("--users", type=int, default=1000,
                        help="distinct LINE users the events come from (default 1000)")
    parser.add_argument("--samoe-workers", type=int, default=2,
                        help="`flask worker` processes beside Samoe's gunicorn (default 2)")
    parser.add_argument("--worker-class", choices=("gthread", "sync"), default="gthread",
                        help="gunicorn worker class for Samoe (default gthread)")
    parser.add_argument("--echo-worker-class", choices=("gthread", "sync"), default="gthread",
                        help="gunicorn worker class for the Python echo (default gthread)")
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker")
    parser.add_argument("--emulator-db", choices=("sqlite", "postgresql"), default="sqlite",
                        help="the emulator's own state (sqlite: a file on /dev/shm)")
    parser.add_argument("--emulator-workers", type=int, default=2)
    parser.add_argument("--emulator-threads", type=int, default=1,
                        help="threads of each emulator process (default 1: its CPU-bound "
                             "requests ran no faster on more, and cost more CPU each)")
    parser.add_argument("--no-stub", action="store_true",
                        help="skip the echoes against a no-op reply stub")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                        help="first wait up to SECONDS for other work on the machine to fall "
                             f"below {QUIET_CORES} core (default: do not wait)")
    args = parser.parse_args(argv)
    quick = args.quick
    return Settings(
        quick=quick,
        dbs=["sqlite", "postgresql"] if args.db == "both" else [args.db],
        connections=args.connections,
        rounds=args.rounds or (1 if quick else 3),
        duration=args.duration or (3.0 if quick else 5.0),
        warmup=1.0,
        open_rounds=args.open_rounds or (1 if quick else 2),
        open_duration=args.open_duration or (3.0 if quick else 6.0),
        open_connections=64,
        sustain_duration=args.sustain_duration or (5.0 if quick else 10.0),
        drain_timeout=40.0 if quick else 90.0,
        users=args.users,
        samoe_workers=args.samoe_workers,
        worker_class=args.worker_class,
        echo_worker_class=args.echo_worker_class,
        threads=args.threads,
        emulator_db=args.emulator_db,
        emulator_workers=args.emulator_workers,
        emulator_threads=args.emulator_threads,
        stub=not args.no_stub,
        wait_quiet=args.wait_quiet,
    )


QUIET_CORES = 0.3


def background_load(settings: Settings) -> dict:
    """How busy the machine is before the run starts (cores), waiting for quiet if asked."""
    started = time.monotonic()
    while True:
        busy0, total0 = machine_busy()
        time.sleep(3)
        busy1, total1 = machine_busy()
        cores = round((busy1 - busy0) / max(1e-9, total1 - total0) * (os.cpu_count() or 1), 2)
        waited = time.monotonic() - started
        if cores < QUIET_CORES or waited >= settings.wait_quiet:
            break
        log(f"other work uses {cores} cores; waiting for quiet ({waited:.0f} of "
            f"{settings.wait_quiet:.0f} s)")
    if cores >= QUIET_CORES:
        log(f"warning: other work on this machine uses {cores} of {os.cpu_count()} cores; "
            "figures will be noisy (the report shows it per phase)")
    return {"cores_busy_before": cores, "waited_s": round(waited, 1)}


# -- processes -----------------------------------------------------------------------------


class Processes:
    """Every process the run starts, each in its own process group, stopped in `stop_all`."""

    def __init__(self) -> None:
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        with open(LOGS / f"{name}.log", "ab") as out:
            out.write(f"\n=== {time.strftime('%F %T')} {' '.join(argv)}\n".encode())
            out.flush()
            self.running[name] = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )

    def check(self, name: str) -> None:
        proc = self.running.get(name)
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{name} exited with {proc.returncode}; see {LOGS / name}.log")

    def pids(self, prefix: str) -> list[int]:
        """Process ids of the running groups named `prefix` or `prefix-...` (children too);
        every group for an empty prefix."""
        pids = []
        for name, proc in self.running.items():
            mine = not prefix or name == prefix or name.startswith(prefix + "-")
            if mine and proc.poll() is None:
                pids.extend(group_members(proc.pid))
        return pids

    def stop(self, name: str, timeout: float = 10.0) -> None:
        proc = self.running.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop on SIGTERM: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # members of the group that outlived their leader
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            try:
                self.stop(name)
            except Exception as exc:  # keep stopping the others
                log(f"could not stop {name}: {exc}")


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / ticks, sum(values) / ticks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body: dict | None = None, timeout: float = 30.0):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
        kind = response.headers.get("Content-Type", "")
    return json.loads(raw) if "json" in kind else raw.decode()


def wait_http(url: str, procs: Processes, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check(name)
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise BenchError(f"{name} did not answer {url} within {timeout:.0f} s; see {LOGS / name}.log")


def run_command(argv: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT,
                timeout: float = 300) -> str:
    try:
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{' '.join(argv)} took more than {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


# -- preparation ---------------------------------------------------------------------------


def prepare(settings: Settings) -> dict:
    """Install what the run needs (or say what is missing) and note the tools' versions."""
    if sys.prefix == sys.base_prefix:
        log("warning: not in a virtualenv; bench/requirements.txt goes into this Python")
    log("pip install -r bench/requirements.txt")
    run_command([sys.executable, "-m", "pip", "install", "-q", "-r",
                 str(BENCH / "requirements.txt")])
    for module in ("gunicorn", "flask", "linebot.v3", "psycopg", "uvloop"):
        try:
            __import__(module)
        except ImportError as exc:
            raise BenchError(f"Python module {module} is missing: pip install -r "
                             "requirements.txt -r bench/requirements.txt") from exc
    node = shutil.which("node")
    npm = shutil.which("npm")
    if not node or not npm:
        raise BenchError("node and npm are needed for the Node echo: apt-get install -y nodejs npm")
    lock = NODE_ECHO / "package-lock.json"
    stamp = NODE_ECHO / "node_modules" / ".package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        log("npm ci in bench/node_echo")
        run_command([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_ECHO, timeout=600)
    if "postgresql" in settings.dbs or settings.emulator_db == "postgresql":
        try:
            pg_admin("SELECT 1")
        except Exception as exc:
            raise BenchError(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}); start it "
                             "or run with --db sqlite --emulator-db sqlite") from exc
    versions = {
        "python": platform.python_version(),
        "node": run_command([node, "--version"]).strip(),
        "gunicorn": package_version("gunicorn"),
        "line-bot-sdk": package_version("line-bot-sdk"),
        "flask": package_version("flask"),
        "sqlalchemy": package_version("sqlalchemy"),
        "@line/bot-sdk": node_version("@line/bot-sdk"),
        "express": node_version("express"),
    }
    if "postgresql" in settings.dbs or settings.emulator_db == "postgresql":
        versions["postgresql"] = pg_admin("SHOW server_version")[0][0]
    return versions


def package_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def node_version(name: str) -> str:
    path = NODE_ECHO / "node_modules" / name / "package.json"
    return json.loads(path.read_text())["version"]


def pg_admin(sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


#: Databases this run created, dropped at the end whatever happens.
CREATED_DATABASES: set[str] = set()


def create_pg_database(name: str, settings: list[str] = ()) -> str:
    assert re.fullmatch(r"samoe_bench_\w+", name)
    pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    CREATED_DATABASES.add(name)
    pg_admin(f"CREATE DATABASE {name}")
    for setting in settings:
        pg_admin(f"ALTER DATABASE {name} SET {setting}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_pg_database(name: str) -> None:
    assert re.fullmatch(r"samoe_bench_\w+", name)
    try:
        pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        CREATED_DATABASES.discard(name)
    except Exception as exc:
        log(f"could not drop database {name}: {exc}")


# -- the emulator --------------------------------------------------------------------------


class Emulator:
    """The standalone LINE emulator under gunicorn, and what the harness does with its state."""

    def __init__(self, procs: Processes, settings: Settings, database_url: str):
        from emulator.database import make_engine

        self.procs = procs
        self.settings = settings
        self.database_url = database_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, EMULATOR_DATABASE_URL=database_url,
                   LINE_CHANNEL_SECRET=settings.secret,
                   LINE_CHANNEL_ACCESS_TOKEN=settings.access_token)
        # create the schema once, before several workers race to do it
        run_command([sys.executable, "-c", "from emulator import create_emulator_app as c; c()"],
                    env=env)
        procs.start("emulator", [
            sys.executable, "-m", "gunicorn", "--no-control-socket",
            "-w", str(settings.emulator_workers),
            "-k", "gthread", "--threads", str(settings.emulator_threads),
            "-b", f"127.0.0.1:{self.port}",
            "emulator:create_emulator_app()",
        ], env, ROOT)
        wait_http(self.base + "/api/health", procs, "emulator")
        self.engine = make_engine(database_url)

    def reset(self) -> None:
        http("POST", self.base + "/api/reset", {})

    def register_tokens(self, prefix: str, count: int, users: int, user_prefix: str) -> float:
        """Issue reply tokens prefix+0 .. prefix+count-1 now, as `POST /api/events` would
        (a row in the emulator's reply-token table, issued at this moment, valid 60 s)."""
        from emulator import tables
        from emulator.ids import now_ms

        started = time.monotonic()
        issued = now_ms()
        with self.engine.begin() as conn:
            for start in range(0, count, 20_000):
                conn.execute(tables.reply_tokens.insert(), [
                    {
                        "token": token_for(prefix, i),
                        "user_id": user_for(user_prefix, i % users),
                        "webhook_event_id": f"BENCH{prefix[:8]}{i:013d}",
                        "issued_at": issued,
                    }
                    for i in range(start, min(count, start + 20_000))
                ])
        return time.monotonic() - started

    def sent(self, endpoint: str) -> list[dict]:
        items: list[dict] = []
        after = 0
        while True:
            page = http("GET", f"{self.base}/api/sent?endpoint={endpoint}&after={after}"
                               "&limit=5000", timeout=120)
            items.extend(page["items"])
            if len(page["items"]) < 5000:
                return items
            after = page["last"]

    def request_count(self, endpoint: str) -> int:
        count = 0
        after = 0
        while True:
            page = http("GET", f"{self.base}/api/requests?endpoint={endpoint}&after={after}"
                               "&limit=10000", timeout=120)
            count += len(page["items"])
            if len(page["items"]) < 10000:
                return count
            after = page["last"]

    def close(self) -> None:
        self.engine.dispose()


# -- a phase of load -----------------------------------------------------------------------


@dataclass
class System:
    """A system under load: where it listens, which process groups are its own, its results."""

    name: str
    port: int
    path: str = "/callback"
    kind: str = "webhook"  # what the generator sends: webhook or reply
    uses_emulator: bool = True
    samoe: Samoe | None = None
    closed: list[dict] = field(default_factory=list)
    open: list[dict] = field(default_factory=list)
    sustained: list[dict] = field(default_factory=list)  # Samoe at the echo's closed rate
    stopped: str | None = None  # why it was stopped before the end


def run_load(procs: Processes, emulator: Emulator | None, settings: Settings, system: System,
             mode: str, duration: float, warmup: float, rate: float | None = None,
             budget: int = 100_000) -> dict:
    """Register fresh reply tokens, run the load generator once, return its result."""
    prefix = secrets.token_hex(8)
    user_prefix = secrets.token_hex(8)
    register_s = None
    if emulator is not None and system.uses_emulator:
        emulator.reset()
        register_s = emulator.register_tokens(prefix, budget, settings.users, user_prefix)
    spec = {
        "mode": mode,
        "kind": system.kind,
        "host": "127.0.0.1",
        "port": system.port,
        "path": system.path,
        "connections": settings.connections if mode == "closed" else settings.open_connections,
        "duration": duration,
        "warmup": warmup,
        "rate": rate,
        "secret": settings.secret,
        "access_token": settings.access_token,
        "token_prefix": prefix,
        "user_prefix": user_prefix,
        "users": settings.users,
        "max_events": budget,
        "timeout": 10,
    }
    with tempfile.TemporaryDirectory(prefix="samoe-bench-") as tmp:
        spec_path = Path(tmp) / "spec.json"
        out_path = Path(tmp) / "result.json"
        spec_path.write_text(json.dumps(spec))
        server_pids = procs.pids(system.name)
        web_pids = procs.pids(system.name + "-web")
        emulator_pids = procs.pids("emulator") if system.uses_emulator else []
        all_pids = procs.pids("")
        cpu0 = cpu_seconds(server_pids)
        web0 = cpu_seconds(web_pids)
        emu0 = cpu_seconds(emulator_pids)
        all0 = cpu_seconds(all_pids)
        busy0, total0 = machine_busy()
        started = time.monotonic()
        run_command([sys.executable, str(BENCH / "loadgen.py"), str(spec_path), str(out_path)],
                    timeout=warmup + duration + 60)
        wall = time.monotonic() - started
        busy1, total1 = machine_busy()
        result = json.loads(out_path.read_text())
    cores = os.cpu_count() or 1
    ours = cpu_seconds(all_pids) - all0 + result["generator_cpu_s"]
    result["server_cpu_s"] = round(cpu_seconds(server_pids) - cpu0, 3)
    result["server_cores"] = round(result["server_cpu_s"] / wall, 2)
    result["server_cpu_ms_per_ok"] = (
        round(result["server_cpu_s"] * 1000 / result["ok_total"], 2) if result["ok_total"] else None
    )
    result["emulator_cpu_s"] = round(cpu_seconds(emulator_pids) - emu0, 3)
    result["web_cpu_ms_per_ok"] = (
        round((cpu_seconds(web_pids) - web0) * 1000 / result["ok_total"], 2)
        if web_pids and result["ok_total"] else None
    )
    result["emulator_cores"] = (
        round((cpu_seconds(emulator_pids) - emu0) / wall, 2) if emulator_pids else None
    )
    result["machine_busy_cores"] = round((busy1 - busy0) / max(1e-9, total1 - total0) * cores, 2)
    result["other_work_cores"] = round(max(0.0, result["machine_busy_cores"] - ours / wall), 2)
    result["token_prefix"] = prefix
    result["tokens_registered"] = budget if register_s is not None else 0
    result["token_register_s"] = round(register_s, 2) if register_s is not None else None
    if result.get("budget_exhausted"):
        log(f"warning: {system.name} {mode}: all {budget} prepared events were used")
    log(f"{system.name} {mode}{' @' + str(rate) if rate else ''}: {result['throughput_rps']} "
        f"req/s, ms {lat(result['latency_ms'])}, {errors_of(result)} errors; cores: server "
        f"{result['server_cores']} emulator {result['emulator_cores']} generator "
        f"{result['generator_cpu_share']} others {result['other_work_cores']}")
    return result


def replies_of(emulator: Emulator, result: dict) -> dict:
    """Match the emulator's sent log to the phase's events: counts and event-to-reply delays."""
    prefix = result["token_prefix"]
    events = {token_for(prefix, index): ts for index, ts, _status in result["events"]}
    replies = emulator.sent("reply")
    pushes = emulator.sent("push")
    delays = []
    last_ms = 0
    for item in replies:
        at_ms = iso_ms(item["at"])
        last_ms = max(last_ms, at_ms)
        ts = events.get(item["reply_token"])
        if ts is not None:
            delays.append(at_ms - ts)
    for item in pushes:
        last_ms = max(last_ms, iso_ms(item["at"]))
    handling = {
        "events_sent": len(result["events"]),
        "events_acked": sum(1 for _i, _ts, status in result["events"] if status == 200),
        "replies": len(delays),
        "pushes": len(pushes),
        "loading_calls": emulator.request_count("loading"),
        "first_request_ms": result["first_send_ms"],
        "last_reply_ms": last_ms or None,
        "event_to_reply_ms": summarise(delays),
        "delays_ms": delays,
    }
    span = ((last_ms - result["first_send_ms"]) / 1000) if last_ms else 0
    handling["handled_per_s"] = (
        round((handling["replies"] + handling["pushes"]) / span, 1) if span > 0 else None
    )
    return handling


def iso_ms(value: str) -> int:
    return round(dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def budget_for(rate: float, seconds: float, floor: int = 2000) -> int:
    """Reply tokens to prepare for a phase: enough for `rate` over `seconds`, with margin."""
    return max(floor, math.ceil(rate * seconds * 1.25) + 500)


# -- the systems ---------------------------------------------------------------------------


def gunicorn_argv(worker_class: str, threads: int, port: int, app: str) -> list[str]:
    # no control socket: every gunicorn on the machine would share ~/.gunicorn/gunicorn.ctl
    argv = [sys.executable, "-m", "gunicorn", "--no-control-socket", "-w", "2",
            "-b", f"127.0.0.1:{port}"]
    if worker_class == "gthread":
        argv += ["-k", "gthread", "--threads", str(threads)]
    return argv + [app]


def start_python_echo(procs: Processes, settings: Settings, api_base: str,
                      name: str) -> System:
    port = free_port()
    env = dict(os.environ, LINE_CHANNEL_SECRET=settings.secret,
               LINE_CHANNEL_ACCESS_TOKEN=settings.access_token, LINE_API_BASE_URL=api_base)
    argv = gunicorn_argv(settings.echo_worker_class, settings.threads, port, "echo_flask:app")
    procs.start(name, argv, env, BENCH)
    wait_http(f"http://127.0.0.1:{port}/", procs, name)
    return System(name, port)


def start_node_echo(procs: Processes, settings: Settings, api_base: str, name: str) -> System:
    port = free_port()
    env = dict(os.environ, LINE_CHANNEL_SECRET=settings.secret,
               LINE_CHANNEL_ACCESS_TOKEN=settings.access_token, LINE_API_BASE_URL=api_base,
               PORT=str(port), HOST="127.0.0.1", NODE_ENV="production")
    procs.start(name, [shutil.which("node"), "index.js"], env, NODE_ECHO)
    wait_http(f"http://127.0.0.1:{port}/", procs, name)
    return System(name, port)


def start_trivial(procs: Processes, name: str) -> System:
    port = free_port()
    env = dict(os.environ, PORT=str(port), HOST="127.0.0.1")
    procs.start(name, [shutil.which("node"), str(BENCH / "trivial_server.js")], env, BENCH)
    wait_http(f"http://127.0.0.1:{port}/", procs, name)
    return System(name, port, uses_emulator=False)


class Samoe:
    """Samoe under gunicorn with its worker processes, on a fresh database."""

    def __init__(self, procs: Processes, settings: Settings, db: str, api_base: str,
                 workdir: Path, name: str | None = None, root: Path = ROOT):
        """`name` (default samoe-DB) names its processes and its PostgreSQL database; `root`
        is the tree it runs from (bench/ab.py: another commit's worktree)."""
        self.procs = procs
        self.db = db
        self.name = name or f"samoe-{db}"
        self.root = root
        self.pg_name = None
        if db == "sqlite":
            self.url = f"sqlite:///{workdir / 'samoe.db'}"
        else:
            self.pg_name = f"samoe_bench_app_{os.getpid()}" + (f"_{name}" if name else "")
            self.url = create_pg_database(self.pg_name)
        self.port = free_port()
        self.env = dict(
            os.environ,
            DATABASE_URL=self.url,
            LINE_CHANNEL_SECRET=settings.secret,
            LINE_CHANNEL_ACCESS_TOKEN=settings.access_token,
            LINE_API_BASE_URL=api_base,
            LINE_DATA_API_BASE_URL=api_base,
            LINE_EMULATOR="0",
            WORKER_IN_PROCESS="0",
            SECRET_KEY=secrets.token_hex(32),
            PORT=str(self.port),
        )
        flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
        run_command(flask + ["db", "upgrade"], env=self.env, cwd=root)
        if db == settings.dbs[0] or root != ROOT:  # the catalogs are built, never committed
            run_command(flask + ["translate", "compile"], env=self.env, cwd=root)
        self.database_facts = self._database_facts()
        argv = gunicorn_argv(settings.worker_class, settings.threads, self.port, "wsgi:app")
        procs.start(f"{self.name}-web", argv, self.env, root)
        for i in range(settings.samoe_workers):
            procs.start(f"{self.name}-worker{i + 1}", flask + ["worker"], self.env, root)
        wait_http(f"http://127.0.0.1:{self.port}/healthz", procs, f"{self.name}-web")

    def _database_facts(self) -> dict:
        """What Samoe's own connections run with (read through the app's engine)."""
        code = (
            "import json\n"
            "from wsgi import app\n"
            "from bot.extensions import db\n"
            "with app.app_context():\n"
            "    c = db.session.connection()\n"
            "    if db.engine.dialect.name == 'sqlite':\n"
            "        names = ['journal_mode', 'synchronous', 'busy_timeout', 'foreign_keys']\n"
            "        out = {n: c.exec_driver_sql('PRAGMA ' + n).scalar() for n in names}\n"
            "    else:\n"
            "        names = ['synchronous_commit', 'fsync', 'wal_sync_method']\n"
            "        out = {n: c.exec_driver_sql('SHOW ' + n).scalar() for n in names}\n"
            "    print(json.dumps(out))\n"
        )
        facts = json.loads(run_command([sys.executable, "-c", code], env=self.env, cwd=self.root)
                           .strip().splitlines()[-1])
        if self.db == "sqlite":
            facts["synchronous"] = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
                facts["synchronous"], facts["synchronous"])
            facts["begin"] = "BEGIN IMMEDIATE (bot/extensions.py)"
        return facts

    def metrics(self) -> dict:
        text = http("GET", f"http://127.0.0.1:{self.port}/metrics")
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def wait_drained(self, timeout: float) -> dict:
        """Wait until the inbox has no pending event and the outbox no pending row."""
        started = time.monotonic()
        metrics: dict = {}
        while time.monotonic() - started < timeout:
            for name in list(self.procs.running):
                if name.startswith(self.name):
                    self.procs.check(name)
            metrics = self.metrics()
            pending = metrics.get('samoe_inbox_events{status="pending"}', 0)
            backlog = metrics.get("samoe_outbox_backlog", 0)
            if pending == 0 and backlog == 0:
                return {"drained": True, "waited_s": round(time.monotonic() - started, 1)}
            time.sleep(1.0)  # /metrics costs Samoe a few queries: poll gently
        log(f"{self.name}: not drained {timeout:.0f} s after the load: {metrics}")
        return {"drained": False, "waited_s": round(time.monotonic() - started, 1),
                "metrics": metrics}

    def stop(self) -> None:
        for name in list(self.procs.running):
            if name.startswith(self.name):
                self.procs.stop(name)
        if self.pg_name:
            drop_pg_database(self.pg_name)
            self.pg_name = None


# -- the run -------------------------------------------------------------------------------


def rotated(items: list, by: int) -> list:
    """The items in a different order each round, so no system always runs after another."""
    by %= max(1, len(items))
    return items[by:] + items[:by]


def pooled(results: list[dict], key: str = "latencies_ms") -> dict:
    values: list[float] = []
    for result in results:
        values.extend(result.get(key) or [])
    return summarise(values)


def median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else round((values[mid - 1] + values[mid]) / 2, 1)


def one_phase(procs: Processes, emulator: Emulator, settings: Settings, system: System,
              mode: str, duration: float, budget: int, rate: float | None = None) -> dict:
    pids = procs.pids(system.name)
    cpu0 = cpu_seconds(pids)
    result = run_load(procs, emulator, settings, system, mode, duration, settings.warmup,
                      rate=rate, budget=budget)
    if system.uses_emulator and system.kind == "webhook":
        if system.samoe is not None:
            emulator_pids = procs.pids("emulator")
            emu0 = cpu_seconds(emulator_pids)
            result["drain"] = system.samoe.wait_drained(settings.drain_timeout)
            result["drain"]["emulator_cpu_s"] = round(cpu_seconds(emulator_pids) - emu0, 3)
        result["handling"] = replies_of(emulator, result)
        h = result["handling"]
        done = h["replies"] + h["pushes"]
        # CPU of the system's own processes from the first request to the last reply
        h["cpu_ms_per_event"] = (
            round((cpu_seconds(pids) - cpu0) * 1000 / done, 2) if done else None
        )
        emulator_s = result["emulator_cpu_s"] + result.get("drain", {}).get("emulator_cpu_s", 0)
        h["emulator_cpu_ms_per_event"] = round(emulator_s * 1000 / done, 2) if done else None
        if system.samoe is not None:
            log(f"{system.name}: {h['replies']} replies + {h['pushes']} pushes for "
                f"{h['events_acked']} acked events ({h['loading_calls']} loading calls), "
                f"{h['handled_per_s']} handled/s, event-to-reply ms "
                f"{lat(h['event_to_reply_ms'])}, drained {result['drain']}")
    return result


def run(settings: Settings) -> dict:
    started = time.time()
    report: dict = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {k: v for k, v in settings.__dict__.items()
                     if k not in ("secret", "access_token")},
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
    }
    report["versions"] = prepare(settings)
    report["background"] = background_load(settings)
    procs = Processes()
    emulator = None
    emu_pg = None
    samoes: list[Samoe] = []
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    workdir = Path(tempfile.mkdtemp(prefix="samoe-bench-"))
    emudir = Path(tempfile.mkdtemp(prefix="samoe-bench-emu-", dir=shm))
    previous = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        log("load generator against a trivial server")
        trivial = start_trivial(procs, "trivial")
        report["generator"] = run_load(procs, None, settings, trivial, "closed",
                                       settings.duration, settings.warmup, budget=10**9)
        gen_max = max(report["generator"]["throughput_rps"], 1000.0)

        if settings.emulator_db == "sqlite":
            emu_url = f"sqlite:///{emudir / 'emulator.db'}"
        else:
            emu_pg = f"samoe_bench_emu_{os.getpid()}"
            emu_url = create_pg_database(emu_pg, ["synchronous_commit = off"])
        log(f"starting the LINE emulator ({emu_url}), the echoes and Samoe")
        emulator = Emulator(procs, settings, emu_url)
        systems = [
            System("emulator", emulator.port, "/v2/bot/message/reply", "reply"),
            start_python_echo(procs, settings, emulator.base, "python-echo"),
            start_node_echo(procs, settings, emulator.base, "node-echo"),
        ]
        for db in settings.dbs:
            samoe = Samoe(procs, settings, db, emulator.base, workdir)
            samoes.append(samoe)
            systems.append(System(samoe.name, samoe.port, samoe=samoe))
        if settings.stub:
            stub = start_trivial(procs, "reply-stub")
            stub_base = f"http://127.0.0.1:{stub.port}"
            for system in (start_python_echo(procs, settings, stub_base, "stub-python-echo"),
                           start_node_echo(procs, settings, stub_base, "stub-node-echo")):
                system.uses_emulator = False
                systems.append(system)

        closed_budget = budget_for(gen_max, settings.duration + settings.warmup)
        log("warm-up pass (not counted)")
        for system in systems:
            one_phase(procs, emulator, settings, system, "closed", 1.0, closed_budget)

        for round_no in range(settings.rounds):
            log(f"closed loop, round {round_no + 1} of {settings.rounds}")
            for system in rotated(systems, round_no):
                if system.stopped:
                    continue
                result = one_phase(procs, emulator, settings, system, "closed",
                                   settings.duration, closed_budget)
                system.closed.append(result)
                if not result.get("drain", {"drained": True})["drained"]:
                    system.stopped = "its backlog did not drain within " \
                                     f"{settings.drain_timeout:.0f} s"
                    system.samoe.stop()

        by_name = {system.name: system for system in systems}
        python_max = median([r["throughput_rps"] for r in by_name["python-echo"].closed])
        open_rate = max(1.0, round(python_max / 2, 1))
        report["open_rate"] = open_rate
        open_budget = budget_for(open_rate, settings.open_duration + settings.warmup)
        open_systems = [s for s in systems
                        if s.name in ("python-echo", "node-echo") or s.samoe is not None]
        for round_no in range(settings.open_rounds):
            log(f"open loop at {open_rate} req/s, round {round_no + 1} of "
                f"{settings.open_rounds}")
            for system in rotated(open_systems, round_no):
                if system.stopped:
                    continue
                result = one_phase(procs, emulator, settings, system, "open",
                                   settings.open_duration, open_budget, rate=open_rate)
                system.open.append(result)
                if not result.get("drain", {"drained": True})["drained"]:
                    system.stopped = "its open-loop backlog did not drain"
                    system.samoe.stop()

        # Samoe offered the Python echo's closed-loop rate, open loop: the rate the echo
        # handles at most; does Samoe handle it too, every event replied within a second?
        sustain_rate = max(1.0, round(python_max, 1))
        report["sustain_rate"] = sustain_rate
        sustain_budget = budget_for(sustain_rate, settings.sustain_duration + settings.warmup)
        samoe_systems = [s for s in systems if s.samoe is not None]
        for round_no in range(settings.open_rounds):
            log(f"Samoe at the Python echo's rate, {sustain_rate} req/s, round "
                f"{round_no + 1} of {settings.open_rounds}")
            for system in rotated(samoe_systems, round_no):
                if system.stopped:
                    continue
                result = one_phase(procs, emulator, settings, system, "open",
                                   settings.sustain_duration, sustain_budget,
                                   rate=sustain_rate)
                system.sustained.append(result)
                if not result.get("drain", {"drained": True})["drained"]:
                    system.stopped = "its backlog at the echo's rate did not drain"
                    system.samoe.stop()

        report["generator_open"] = run_load(procs, None, settings, trivial, "open",
                                            settings.open_duration, settings.warmup,
                                            rate=open_rate, budget=10**9)
        for samoe in samoes:
            with contextlib.suppress(Exception):
                report.setdefault("samoe_final_metrics", {})[samoe.name] = samoe.metrics()
        report["systems"] = {system.name: summarise_system(system) for system in systems}
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        procs.stop_all()
        for samoe in samoes:
            samoe.stop()
        if emulator is not None:
            emulator.close()
        for name in sorted(CREATED_DATABASES):
            drop_pg_database(name)
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(emudir, ignore_errors=True)
    report["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    report["wall_s"] = round(time.time() - started, 1)
    return strip_raw(report)


def summarise_system(system: System) -> dict:
    """Medians of the rounds' throughputs, latencies pooled over the rounds."""
    out: dict = {"stopped": system.stopped}
    if system.samoe is not None:
        out["database_facts"] = system.samoe.database_facts
    for mode, results in (("closed", system.closed), ("open", system.open),
                          ("sustained", system.sustained)):
        if not results:
            continue
        entry = {
            "rounds": len(results),
            "throughput_rps": median([r["throughput_rps"] for r in results]),
            "throughput_rounds": [r["throughput_rps"] for r in results],
            "latency_ms": pooled(results),
            "statuses": dict(sum((Counter(r["statuses"]) for r in results), Counter())),
            "errors": dict(sum((Counter(r["errors"]) for r in results), Counter())),
            "server_cores": median([r["server_cores"] for r in results]),
            "server_cpu_ms_per_ok": median([r["server_cpu_ms_per_ok"] for r in results]),
            "web_cpu_ms_per_ok": median([r["web_cpu_ms_per_ok"] for r in results]),
            "emulator_cores": median([r["emulator_cores"] for r in results]),
            "generator_core_share": median([r["generator_cpu_share"] for r in results]),
            "other_work_cores": median([r["other_work_cores"] for r in results]),
            "budget_exhausted": any(r.get("budget_exhausted") for r in results),
        }
        if mode in ("open", "sustained"):
            entry["offered_rps"] = results[0]["offered_rps"]
            entry["achieved_rps"] = median([r["achieved_rps"] for r in results])
            entry["dispatch_lag_ms_max"] = max(r["dispatch_lag_ms_max"] for r in results)
        handlings = [r["handling"] for r in results if "handling" in r]
        if handlings:
            entry["handling"] = {
                "events_acked": sum(h["events_acked"] for h in handlings),
                "replies": sum(h["replies"] for h in handlings),
                "pushes": sum(h["pushes"] for h in handlings),
                "loading_calls": sum(h["loading_calls"] for h in handlings),
                "handled_per_s": median([h["handled_per_s"] for h in handlings]),
                "cpu_ms_per_event": median([h["cpu_ms_per_event"] for h in handlings]),
                "emulator_cpu_ms_per_event": median(
                    [h["emulator_cpu_ms_per_event"] for h in handlings]),
                "handled_rounds": [h["handled_per_s"] for h in handlings],
                "event_to_reply_ms": pooled(handlings, "delays_ms"),
            }
        drains = [r["drain"] for r in results if "drain" in r]
        if drains:
            entry["drain_waits_s"] = [d["waited_s"] for d in drains]
            entry["drained"] = all(d["drained"] for d in drains)
        entry["round_details"] = [strip_raw(r) for r in results]
        out[mode] = entry
    return out


def strip_raw(result):
    """A result without the per-event lists (kept out of the JSON report)."""
    if isinstance(result, dict):
        return {k: strip_raw(v) for k, v in result.items()
                if k not in ("events", "latencies_ms", "delays_ms")}
    if isinstance(result, list):
        return [strip_raw(v) for v in result]
    return result


def _terminate(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError):
        mem_kb = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
            "kernel": platform.release()}


# -- the report ----------------------------------------------------------------------------


def fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def lat(summary: dict | None) -> str:
    if not summary or not summary.get("count"):
        return "–"
    return f"{fmt(summary['p50'])} / {fmt(summary['p95'])} / {fmt(summary['p99'])}"


def errors_of(result: dict) -> str:
    bad = {k: v for k, v in (result.get("statuses") or {}).items() if k != "200"}
    bad.update(result.get("errors") or {})
    return ", ".join(f"{k}: {v}" for k, v in bad.items()) or "0"


def spread(entry: dict, key: str = "throughput_rounds") -> str:
    values = [v for v in entry.get(key) or [] if v is not None]
    if len(values) < 2:
        return ""
    return f" ({fmt(min(values))}–{fmt(max(values))})"


def targets(report: dict) -> list[tuple[str, str, bool | None]]:
    systems = report["systems"]
    py = systems["python-echo"]["closed"]["throughput_rps"]
    node = systems["node-echo"]["closed"]
    rate = fmt(report["open_rate"])
    checks: list[tuple[str, str, bool | None]] = []
    for db in ("sqlite", "postgresql"):
        samoe = systems.get(f"samoe-{db}")
        if not samoe:
            continue
        closed = samoe.get("closed")
        if not closed:
            checks.append((f"{db}: every target", "not measured: " + str(samoe["stopped"]),
                           None))
            continue
        ack = closed["throughput_rps"]
        checks.append((f"{db}: ack ≥ 2× Python echo",
                       f"{fmt(ack)} vs 2 × {fmt(py)} = {fmt(2 * py)} ({fmt(ack / py, 2)}×)",
                       ack >= 2 * py))
        stub = (systems.get("stub-python-echo") or {}).get("closed")
        if stub:
            free = stub["throughput_rps"]
            checks.append((f"{db}: (reading aid, not a §9 target) ack ≥ 2× the Python echo "
                           "whose replies cost nothing (no-op reply stub)",
                           f"{fmt(ack)} vs 2 × {fmt(free)} = {fmt(2 * free)}", ack >= 2 * free))
        checks.append((f"{db}: ack ahead of the Node echo",
                       f"{fmt(ack)} vs {fmt(node['throughput_rps'])}",
                       ack > node["throughput_rps"]))
        checks.append((f"{db}: closed-loop p99 ack lower than the Node echo's",
                       f"{fmt(closed['latency_ms']['p99'])} vs "
                       f"{fmt(node['latency_ms']['p99'])} ms",
                       (closed["latency_ms"]["p99"] or 1e12) < (node["latency_ms"]["p99"] or 0)))
        handled = closed["handling"]["handled_per_s"]
        checks.append((f"{db}: handled/s ≥ Python echo",
                       f"{fmt(handled)} vs {fmt(py)}", handled is not None and handled >= py))
        p95 = closed["handling"]["event_to_reply_ms"]["p95"]
        checks.append((f"{db}: event-to-reply p95 ≤ 1 s, closed loop (backlog included)",
                       f"{fmt(p95)} ms", p95 is not None and p95 <= 1000))
        opened = samoe.get("open")
        if opened:
            p95o = opened["handling"]["event_to_reply_ms"]["p95"]
            checks.append((f"{db}: event-to-reply p95 ≤ 1 s at {rate}/s (open loop)",
                           f"{fmt(p95o)} ms", p95o is not None and p95o <= 1000))
            p99 = opened["latency_ms"]["p99"]
            checks.append((f"{db}: p99 ack ≤ 20 ms at {rate}/s (half the Python echo's max)",
                           f"{fmt(p99)} ms, errors {errors_of(opened)}",
                           p99 is not None and p99 <= 20 and errors_of(opened) == "0"))
        else:
            checks.append((f"{db}: p99 ack ≤ 20 ms at half the Python echo's rate",
                           "not measured: " + str(samoe["stopped"]), None))
        sustained = samoe.get("sustained")
        if sustained:
            h = sustained["handling"]
            p95s = h["event_to_reply_ms"]["p95"]
            checks.append((
                f"{db}: (reading aid, the rate a user sees handled) at the Python echo's "
                f"closed-loop rate, {fmt(report['sustain_rate'])}/s offered: every event "
                "replied to, event-to-reply p95 ≤ 1 s (a backlog would push it up all along)",
                f"handled {fmt(h['handled_per_s'])}/s; event-to-reply p95 {fmt(p95s)} ms; "
                f"{h['replies'] + h['pushes']:,} answers for {h['events_acked']:,} events",
                p95s is not None and p95s <= 1000
                and h["replies"] + h["pushes"] == h["events_acked"]))
    return checks


def markdown(report: dict) -> str:
    s = report["settings"]
    systems = report["systems"]
    gen = report["generator"]
    rate = fmt(report["open_rate"])
    lines = [
        f"# Samoe webhook benchmark, {report['started']}",
        "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"{report['machine']['memory_gib']} GiB, shared with other work (load average "
        f"{' '.join(report['loadavg_start'])} at the start, {' '.join(report['loadavg_end'])} "
        f"at the end; other work used {report['background']['cores_busy_before']} cores just "
        f"before the run). {'QUICK run: rough figures. ' if s['quick'] else ''}"
        f"Closed loop: {s['rounds']} round(s) of {fmt(s['duration'])} s per system, "
        f"interleaved, after {fmt(s['warmup'])} s warm-up each, {s['connections']} connections; "
        "req/s is the median of the rounds (min–max), latencies are pooled over the rounds. "
        f"Open loop: {s['open_rounds']} round(s) of {fmt(s['open_duration'])} s at {rate} req/s "
        "(half the Python echo's closed-loop median), latency from the scheduled send time. "
        f"Events from {s['users']:,} users. Samoe: gunicorn -w 2 -k {s['worker_class']}"
        f"{' --threads ' + str(s['threads']) if s['worker_class'] == 'gthread' else ''} and "
        f"{s['samoe_workers']} `flask worker` process(es); Python echo: gunicorn -w 2 -k "
        f"{s['echo_worker_class']}"
        f"{' --threads ' + str(s['threads']) if s['echo_worker_class'] == 'gthread' else ''}; "
        f"Node echo: one process. Whole run {fmt(report['wall_s'])} s.",
        "",
        "| system | ack req/s, closed | ack ms p50 / p95 / p99, closed | errors | handled/s | "
        "event→reply ms p50 / p95 / p99, closed | ack ms p50 / p95 / p99 at "
        f"{rate}/s, open | event→reply ms p50 / p95 / p99 at {rate}/s | server cores | "
        "emulator cores | other work on the machine, cores |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, system in systems.items():
        if name == "emulator" or name.startswith("stub-"):
            continue
        closed = system.get("closed")
        if not closed:
            lines.append(f"| {name} | stopped: {system['stopped']} |  |  |  |  |  |  |  |  |  |")
            continue
        opened = system.get("open") or {}
        handling = closed.get("handling") or {}
        if name.startswith("samoe"):
            handled = fmt(handling.get("handled_per_s")) + spread(handling, "handled_rounds")
            e2r = lat(handling.get("event_to_reply_ms"))
            open_e2r = lat((opened.get("handling") or {}).get("event_to_reply_ms"))
        else:
            handled = f"{fmt(closed['throughput_rps'])} (= ack)"
            e2r = "(= ack)"
            open_e2r = "(= ack)"
        errors = errors_of(closed) + (f"; open: {errors_of(opened)}" if opened else "")
        lines.append(
            f"| {name} | {fmt(closed['throughput_rps'])}{spread(closed)} | "
            f"{lat(closed['latency_ms'])} | {errors} | {handled} | {e2r} | "
            f"{lat(opened.get('latency_ms'))} | {open_e2r} | {fmt(closed['server_cores'], 2)} | "
            f"{fmt(closed['emulator_cores'], 2)} | {fmt(closed['other_work_cores'], 2)} |")
    lines += [
        "",
        "CPU per event (median of the closed-loop rounds; CPU time counts only the work done, "
        "so it is the figure least moved by other work on the machine):",
        "",
        "| system | its CPU ms per acknowledged request, during the load | of which the web "
        "processes | its CPU ms per event fully handled (to the last reply) | emulator CPU ms "
        "per event |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, system in systems.items():
        closed = system.get("closed")
        if not closed:
            continue
        handling = closed.get("handling") or {}
        lines.append(
            f"| {name} | {fmt(closed['server_cpu_ms_per_ok'], 2)} | "
            f"{fmt(closed.get('web_cpu_ms_per_ok'), 2)} | "
            f"{fmt(handling.get('cpu_ms_per_event'), 2)} | "
            f"{fmt(handling.get('emulator_cpu_ms_per_event'), 2)} |")
    emu = systems["emulator"]["closed"]
    lines += [
        "",
        "| reference | req/s | ms p50 / p95 / p99 | notes |",
        "| --- | ---: | ---: | --- |",
        f"| load generator → trivial Node server, closed, {s['connections']} connections | "
        f"{fmt(gen['throughput_rps'])} | {lat(gen['latency_ms'])} | the generator used "
        f"{fmt(gen['generator_cpu_share'], 2)} of a core; it used "
        f"{fmt(max(v['closed']['generator_core_share'] for v in systems.values() if v.get('closed')), 2)}"  # noqa: E501
        " at most against the systems above |",
        f"| load generator → trivial Node server, open at {rate}/s | "
        f"{fmt(report['generator_open']['achieved_rps'])} | "
        f"{lat(report['generator_open']['latency_ms'])} | the open-loop floor of the method |",
        f"| LINE emulator reply API, closed, {s['connections']} connections | "
        f"{fmt(emu['throughput_rps'])}{spread(emu)} | {lat(emu['latency_ms'])} | gunicorn "
        f"-w {s['emulator_workers']} gthread --threads {s['emulator_threads']}, state "
        f"in {s['emulator_db']}; errors "
        f"{errors_of(emu)}; the ceiling of anything that replies through it |",
    ]
    for name in ("stub-python-echo", "stub-node-echo"):
        stub = (systems.get(name) or {}).get("closed")
        if stub:
            lines.append(
                f"| {name.removeprefix('stub-')} → no-op reply stub, closed | "
                f"{fmt(stub['throughput_rps'])}{spread(stub)} | {lat(stub['latency_ms'])} | "
                f"errors {errors_of(stub)}; the echo's own ceiling when replying costs nothing |")
    if report.get("sustain_rate"):
        lines += [
            "",
            f"Samoe offered the Python echo's closed-loop rate ({fmt(report['sustain_rate'])} "
            f"req/s, open loop, {s['open_rounds']} round(s) of {fmt(s['sustain_duration'])} s; "
            "the handled rate counts from the first request to the last reply):",
            "",
            "| system | acked req/s | ack ms p50 / p95 / p99 | handled/s | event→reply ms p50 / "
            "p95 / p99 | backlog left when the load stopped, drained in s | its CPU ms per "
            "event |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, system in systems.items():
            entry = system.get("sustained")
            if not entry:
                continue
            h = entry["handling"]
            lines.append(
                f"| {name} | {fmt(entry['throughput_rps'])} | {lat(entry['latency_ms'])} | "
                f"{fmt(h['handled_per_s'])}{spread(h, 'handled_rounds')} | "
                f"{lat(h['event_to_reply_ms'])} | {entry.get('drain_waits_s')} | "
                f"{fmt(h['cpu_ms_per_event'], 2)} |")
    lines += ["", "Samoe's handling:", ""]
    for name, system in systems.items():
        if not name.startswith("samoe"):
            continue
        for mode in ("closed", "open", "sustained"):
            entry = system.get(mode)
            if not entry:
                continue
            h = entry["handling"]
            lines.append(
                f"- {name}, {mode} loop: {h['events_acked']:,} events acked, {h['replies']:,} "
                f"replies and {h['pushes']:,} pushes recorded by the emulator, "
                f"{h['loading_calls']:,} loading animations; drained after each round: "
                f"{entry.get('drained')} (waits {entry.get('drain_waits_s')} s)")
        lines.append(f"- {name} database: "
                     f"{json.dumps(system.get('database_facts'), ensure_ascii=False)}")
        if system.get("stopped"):
            lines.append(f"- {name} was stopped early: {system['stopped']}")
    lines += ["", "Targets (DESIGN.md §9):", "", "| target | measured | met |",
              "| --- | --- | --- |"]
    for label, measured, met in targets(report):
        verdict = "not measured" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {label} | {measured} | {verdict} |")
    lines += ["", f"Versions: {json.dumps(report['versions'])}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    try:
        report = run(settings)
    except BenchError as exc:
        log(f"failed: {exc}")
        return 1
    except KeyboardInterrupt as exc:
        log(f"interrupted ({exc}); every process started was stopped")
        return 130
    text = markdown(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text(text)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(text)
    print("```json")
    print(json.dumps({k: v for k, v in report.items() if k != "systems"} | {
        "systems": {n: {m: {k: v for k, v in e.items() if k != "round_details"}
                        if isinstance(e, dict) else e for m, e in s.items()}
                    for n, s in report["systems"].items()}}, indent=1, ensure_ascii=False))
    print("```")
    log(f"written {RESULTS / 'latest.md'} and {RESULTS / 'latest.json'} (with every round)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
