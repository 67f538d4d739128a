"""Samoe's console benchmark (issue 7): the case queue and the supervisors' figures on a
million generated cases in PostgreSQL.

    python bench/console.py [--requests 30] [--cases 1000000] [--label after]

1. bench/console_data.py makes (or reuses) the database `samoe_bench_console`: the cases
   generated with COPY, the schema by the migrations (`flask db upgrade`, so a new migration
   is applied to the existing data before the run).
2. Two accounts (`flask create-user`): an officer of LEARN in district 4001 (the province's
   busiest: its own cases and those referred to LEARN) and a supervisor of the province (40,
   every case); a `flask create-token` for each, for the API.
3. Samoe is started as in production: `gunicorn -w 2 wsgi:app` (sync workers), on
   127.0.0.1, with the bench's keys (it reads the encrypted columns the generator wrote).
4. Each account signs in through /console/login (the form and its CSRF token, like a
   browser) and every view is requested in turn: the queue in each order, with each filter,
   page 1 and a deep page (reached by following "next page" links), a name, a first name and
   a reference typed in the search box; the supervisors' dashboard (/console/dashboard, when
   the app has it: its stored figures are made first with `flask dashboard refresh` and
   renewed every `--refresh-every` seconds during the run, as the worker's scheduler does)
   and GET /api/v1/stats. Warm-up rounds first; then `--requests` timed
   rounds, the views in a rotating order each round so that other work on the machine falls
   on all of them. One request at a time: the latency one officer sees, from sending the
   request to reading the whole page.

It prints a Markdown table (p50 / p95 / p99 / max per view, the rows shown and the "All"
chip's count) and writes bench/results/console-<label>.json and .md; the server's log goes to
bench/results/logs/console-web.log. `--explain` writes EXPLAIN (ANALYZE, BUFFERS) of every
SQL statement each queue view runs (captured from the app's own code: services.queue and the
console's listing) to bench/results/console-explain-<label>.txt instead.

`--app-dir DIR` runs the server from another checkout (e.g. `git archive <commit>` unpacked
in /tmp) against the same database, for a before/after on the same data; with
`--schema REV` the database is first migrated down (or up) to that revision, so indexes added
since are gone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import console_data  # noqa: E402
from run import (  # noqa: E402  (bench/run.py: the webhook benchmark's helpers)
    LOGS,
    RESULTS,
    ROOT,
    BenchError,
    Processes,
    background_load,
    cpu_seconds,
    free_port,
    machine,
    machine_busy,
    package_version,
    wait_http,
)

PASSWORD = "bench-password-123"
DISTRICT = "4001"
ACCOUNTS = {
    "officer": {"username": "bench.officer", "role": "officer", "agency": "LEARN",
                "area": DISTRICT},
    "supervisor": {"username": "bench.supervisor", "role": "supervisor", "agency": "EDU",
                   "area": "40"},
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ROW = re.compile(r'<a href="/console/cases/(KK-[0-9-]+)"')
NEXT = re.compile(r'<a href="([^"]+)" rel="next"')
ALL_CHIP = re.compile(r'class="chip[^"]*">[^<]*<b>([^<]*)</b>')


def log(message: str) -> None:
    print(f"[console {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (0-100), linear between closest ranks; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# -- what is measured ----------------------------------------------------------------------------

def samples(url: str) -> dict:
    """Values the views use, read from the generated data: a subdistrict of the district, a
    child's name, first name and reference of cases in the officer's scope."""
    import psycopg

    with psycopg.connect(url) as conn:
        subdistrict = conn.execute(
            "SELECT code FROM areas WHERE parent_code = %s ORDER BY code LIMIT 1",
            (DISTRICT,)).fetchone()[0]
        name, reference = conn.execute(
            "SELECT child_name_norm, reference FROM cases WHERE district_code = %s AND "
            "owner_agency_code = 'LEARN' AND stage <> 'closed' ORDER BY id DESC "
            "OFFSET 5000 LIMIT 1", (DISTRICT,)).fetchone()
    missing = console_data.NAMES["villages"][0]  # a village's name: no child is called that
    return {"subdistrict": subdistrict, "name": name, "first_name": name.split()[0],
            "reference": reference, "missing": missing}


def views(sample: dict, with_dashboard: bool) -> list[dict]:
    """(name, account, query string, pages to follow first) of every view measured."""
    queue = [
        ("newest (default)", {}),
        ("oldest first", {"sort": "oldest"}),
        ("deadline soonest", {"sort": "due_soon"}),
        ("deadline latest", {"sort": "due_late"}),
        ("stage in support", {"stage": "in_support"}),
        ("stage received", {"stage": "received"}),
        ("group early childhood", {"group": "early_childhood"}),
        ("subdistrict", {"district": DISTRICT, "subdistrict": sample["subdistrict"]}),
        ("overdue", {"overdue": "1"}),
        ("overdue, deadline soonest", {"overdue": "1", "sort": "due_soon"}),
        ("referred to us", {"referred_to_us": "1"}),
        ("escalated (district)", {"escalated": "district"}),
        ("escalated (province)", {"escalated": "province"}),
        ("stale 30 days", {"stale": "1"}),
        ("search: name", {"q": sample["name"]}),
        ("search: first name", {"q": sample["first_name"]}),
        ("search: reference", {"q": sample["reference"]}),
        ("search: no match", {"q": sample["missing"]}),
    ]
    deep = [
        ("newest, deep page", {}),
        ("deadline soonest, deep page", {"sort": "due_soon"}),
        ("overdue, deep page", {"overdue": "1"}),
    ]
    out = []
    for account in ("officer", "supervisor"):
        chosen = list(queue)
        if account == "supervisor":
            chosen.insert(7, ("district", {"district": DISTRICT}))
        for name, query in chosen:
            out.append({"view": f"queue: {name}", "account": account, "path": "/console/cases",
                        "query": query, "follow": 0, "kind": "queue"})
        for name, query in deep:
            out.append({"view": f"queue: {name}", "account": account, "path": "/console/cases",
                        "query": query, "follow": -1, "kind": "queue"})
        out.append({"view": "GET /api/v1/stats", "account": account, "path": "/api/v1/stats",
                    "query": {}, "follow": 0, "kind": "api"})
    if with_dashboard:
        out.append({"view": "dashboard", "account": "supervisor", "path": "/console/dashboard",
                    "query": {}, "follow": 0, "kind": "dashboard"})
        out.append({"view": "dashboard, one district", "account": "supervisor",
                    "path": "/console/dashboard", "query": {"district": DISTRICT}, "follow": 0,
                    "kind": "dashboard"})
    return out


# -- the server and its users ----------------------------------------------------------------------

def flask_cli(args: list[str], url: str, app_dir: Path, check: bool = True) -> str:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args],
                          env=console_data.app_env(url), cwd=app_dir, capture_output=True,
                          text=True, timeout=1800, stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        raise BenchError(f"flask {' '.join(args)} failed:\n{done.stdout[-2000:]}\n"
                         f"{done.stderr[-3000:]}")
    return done.stdout


def accounts(url: str) -> dict[str, str]:
    """Make the two accounts if they are missing; a new API token for each."""
    import psycopg

    with psycopg.connect(url) as conn:
        have = {row[0] for row in conn.execute("SELECT username FROM officers")}
    tokens = {}
    for key, spec in ACCOUNTS.items():
        if spec["username"] not in have:
            flask_cli(["create-user", "--username", spec["username"], "--password", PASSWORD,
                       "--role", spec["role"], "--agency", spec["agency"], "--area",
                       spec["area"]], url, ROOT)
        tokens[key] = flask_cli(["create-token", spec["username"], "--days", "1", "--name",
                                 "console benchmark"], url, ROOT).strip().splitlines()[-1]
    return tokens


class Client:
    """One signed-in officer: the console's session cookie and the API token."""

    def __init__(self, base: str, username: str, token: str):
        self.base = base
        self.http = requests.Session()
        self.token = token
        page = self.http.get(base + "/console/login", timeout=30)
        match = CSRF.search(page.text)
        if not match:
            raise BenchError(f"no CSRF token on the login page ({page.status_code})")
        answer = self.http.post(base + "/console/login", allow_redirects=False, timeout=60,
                                data={"username": username, "password": PASSWORD,
                                      "csrf_token": match.group(1)})
        if answer.status_code != 302:
            raise BenchError(f"{username} could not sign in: {answer.status_code}")

    def get(self, path: str, timeout: float = 300) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if path.startswith("/api/") \
            else {}
        return self.http.get(self.base + path, headers=headers, timeout=timeout)


def address(view: dict) -> str:
    from urllib.parse import urlencode

    query = urlencode(view["query"])
    return view["path"] + (f"?{query}" if query else "")


def follow(client: Client, path: str, pages: int) -> tuple[str, int]:
    """The address reached by following "next page" `pages` times (fewer if it ends)."""
    import html

    followed = 0
    for _ in range(pages):
        found = NEXT.search(client.get(path).text)
        if not found:
            break
        path = html.unescape(found.group(1))
        followed += 1
    return path, followed


def server(procs: Processes, url: str, app_dir: Path, workers: int) -> str:
    port = free_port()
    env = console_data.app_env(url)
    procs.start("console-web", [sys.executable, "-m", "gunicorn", "--no-control-socket",
                                "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout",
                                "600", "wsgi:app"], env, app_dir)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz", procs, "console-web")
    return base


class DashboardRefresher:
    """What the worker's scheduler does in production: the dashboard's stored figures
    (`flask dashboard refresh`, apps that have it) made before the run, then renewed during
    it every `every` seconds (DASHBOARD_REFRESH_SECONDS), in a process beside the server, so
    the dashboard is measured while its figures are being recomputed as often as they would
    be. An older app computes its figures on each request: nothing to do."""

    def __init__(self, url: str, app_dir: Path, every: float):
        self.url, self.app_dir, self.every = url, app_dir, every
        self.runs: list[dict] = []
        self.available = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _refresh(self, older_than: float) -> dict:
        started = time.monotonic()
        out = flask_cli(["dashboard", "refresh", "--older-than", str(older_than)], self.url,
                        self.app_dir)
        done = json.loads(out.strip().splitlines()[-1])
        return {"at": time.strftime("%H:%M:%S"), "seconds": round(time.monotonic() - started, 1),
                "areas": len(done.get("refreshed", [])), "skipped": len(done.get("skipped", []))}

    def first(self) -> dict:
        probe = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "dashboard",
                                "refresh", "--help"], env=console_data.app_env(self.url),
                               cwd=self.app_dir, capture_output=True, text=True, timeout=300)
        self.available = probe.returncode == 0
        if not self.available:
            log("the app has no stored dashboard figures: computed on each request")
            return {"available": False}
        log("making the dashboard's stored figures (flask dashboard refresh)")
        first = self._refresh(0)
        log(f"{first['areas']} areas in {first['seconds']} s")
        return {"available": True, "every_s": self.every, "first": first}

    def start(self) -> None:
        if not self.available or self.every <= 0:
            return

        def loop():
            while not self._stop.wait(self.every):
                try:
                    self.runs.append(self._refresh(self.every / 2))
                    log(f"dashboard figures renewed: {self.runs[-1]}")
                except BenchError as exc:
                    log(f"dashboard refresh failed: {exc}")

        self._thread = threading.Thread(target=loop, name="dashboard-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(600)


# -- the run ---------------------------------------------------------------------------------------

def measure(settings) -> dict:
    url, data = console_data.ensure(settings.cases, settings.seed, settings.force,
                                    upgrade=not settings.schema)
    app_dir = Path(settings.app_dir).resolve() if settings.app_dir else ROOT
    if settings.schema:
        log(f"migrating the database to {settings.schema}")
        started = time.monotonic()
        try:
            flask_cli(["db", "downgrade", settings.schema], url, ROOT)
        except BenchError:
            flask_cli(["db", "upgrade", settings.schema], url, ROOT)
        log(f"migrated in {time.monotonic() - started:.0f} s")
    revision = flask_cli(["db", "current"], url, ROOT, check=False).strip().splitlines()
    flask_cli(["translate", "compile"], url, app_dir)
    tokens = accounts(url)
    sample = samples(url)
    refresher = DashboardRefresher(url, app_dir, settings.refresh_every)
    first_refresh = refresher.first()
    load_before = background_load(types.SimpleNamespace(wait_quiet=settings.wait_quiet))
    procs = Processes()
    report: dict = {"label": settings.label, "data": data, "sample": sample,
                    "schema_revision": revision[-1] if revision else None,
                    "app_dir": str(app_dir), "commit": commit(app_dir), "machine": machine(),
                    "versions": {name: package_version(name) for name in
                                 ("flask", "sqlalchemy", "gunicorn", "psycopg")},
                    "settings": {k: v for k, v in vars(settings).items()},
                    "load_before": load_before, "dashboard_refresh": first_refresh}
    try:
        base = server(procs, url, app_dir, settings.workers)
        clients = {key: Client(base, spec["username"], tokens[key])
                   for key, spec in ACCOUNTS.items()}
        probe = clients["supervisor"].get("/console/dashboard")
        with_dashboard = probe.status_code == 200
        log("the dashboard " + ("answers: measured" if with_dashboard else
                                f"is not there ({probe.status_code}): not measured"))
        chosen = [v for v in views(sample, with_dashboard)
                  if not settings.only or re.search(settings.only, v["view"])]
        for view in chosen:
            view["url"] = address(view)
            if view["follow"]:
                view["url"], view["followed"] = follow(clients[view["account"]], view["url"],
                                                       settings.deep_pages)
            view["latencies_ms"], view["statuses"] = [], {}
        rounds = settings.warmup + settings.requests
        log(f"{len(chosen)} views x {rounds} rounds ({settings.warmup} warm-up)")
        busy0, total0 = machine_busy()
        ours0 = cpu_seconds(procs.pids("console-web"))
        started = time.monotonic()
        refresher.start()
        for number in range(rounds):
            order = chosen[number % len(chosen):] + chosen[:number % len(chosen)]
            for view in order:
                client = clients[view["account"]]
                t0 = time.perf_counter()
                answer = client.get(view["url"])
                body = answer.content
                elapsed = (time.perf_counter() - t0) * 1000
                if number < settings.warmup:
                    continue
                view["latencies_ms"].append(round(elapsed, 2))
                status = str(answer.status_code)
                view["statuses"][status] = view["statuses"].get(status, 0) + 1
                if "rows" not in view:
                    text = body.decode("utf-8", "replace")
                    view["rows"] = len(ROW.findall(text)) if view["kind"] == "queue" else None
                    chip = ALL_CHIP.search(text) if view["kind"] == "queue" else None
                    view["all_chip"] = chip.group(1) if chip else None
            if number == settings.warmup - 1:
                log("warm-up done")
            elif number >= settings.warmup and (number - settings.warmup + 1) % 5 == 0:
                log(f"round {number - settings.warmup + 1} of {settings.requests} "
                    f"({time.monotonic() - started:.0f} s)")
        wall = time.monotonic() - started
        busy1, total1 = machine_busy()
        ours = cpu_seconds(procs.pids("console-web")) - ours0
    finally:
        refresher.stop()
        procs.stop_all()
    report["dashboard_refresh"]["during_run"] = refresher.runs
    cores = os.cpu_count() or 1
    machine_cores = (busy1 - busy0) / max(1e-9, total1 - total0) * cores
    report["run"] = {"wall_s": round(wall, 1), "machine_busy_cores": round(machine_cores, 2),
                     "web_cores": round(ours / wall, 2),
                     "loadavg_end": os.getloadavg()}
    report["views"] = []
    for view in chosen:
        lat = view.pop("latencies_ms")
        report["views"].append({
            **{k: v for k, v in view.items() if k != "path"},
            "n": len(lat), "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95),
            "p99_ms": percentile(lat, 99), "max_ms": max(lat) if lat else None,
            "mean_ms": statistics.fmean(lat) if lat else None, "latencies_ms": lat})
    return report


def commit(app_dir: Path) -> str | None:
    marker = app_dir / "COMMIT"
    if marker.exists():
        return marker.read_text().strip()
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=app_dir,
                          capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           cwd=app_dir, capture_output=True, text=True).stdout.strip()
    return (done.stdout.strip() + (" (uncommitted changes in the tree)" if dirty else "")) \
        if done.returncode == 0 else None


def fmt(value) -> str:
    return "–" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def dashboard_note(refresh: dict) -> str:
    if not refresh.get("available"):
        return "Dashboard: figures computed on each request (this app stores none)."
    runs = refresh.get("during_run") or []
    during = ", ".join(f"{r['at']} {r['areas']} areas in {r['seconds']} s" for r in runs)
    return (f"Dashboard: stored figures made before the run ({refresh['first']['areas']} areas "
            f"in {refresh['first']['seconds']} s, `flask dashboard refresh`), renewed every "
            f"{refresh['every_s']:g} s beside the server during it"
            + (f": {during}." if during else " (no renewal fell in the run)."))


def markdown(report: dict) -> str:
    run = report["run"]
    lines = [
        f"Console benchmark `{report['label']}`: {report['data']['rows']['cases']:,} cases, "
        f"commit {report['commit']}, schema {report['schema_revision']}, "
        f"{report['settings']['requests']} timed requests per view (one at a time, after "
        f"{report['settings']['warmup']} warm-up rounds), gunicorn -w "
        f"{report['settings']['workers']}; {run['wall_s']:.0f} s; the machine's CPU busy "
        f"{run['machine_busy_cores']} of {report['machine']['cores']} cores during the run "
        f"(the server {run['web_cores']}, the rest PostgreSQL, this client and other work); "
        f"other work before the run: {report['load_before']['cores_busy_before']} cores.",
        "",
        dashboard_note(report.get("dashboard_refresh") or {}),
        "",
        "| view | account | p50 ms | p95 ms | p99 ms | max ms | rows shown | \"All\" chip |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for view in report["views"]:
        bad = {k: v for k, v in view["statuses"].items() if k != "200"}
        name = view["view"] + (f" (page {view['followed'] + 1})" if view.get("followed")
                               else "") + (f" **{bad}**" if bad else "")
        lines.append(f"| {name} | {view['account']} | {fmt(view['p50_ms'])} | "
                     f"{fmt(view['p95_ms'])} | {fmt(view['p99_ms'])} | {fmt(view['max_ms'])} | "
                     f"{'–' if view['rows'] is None else view['rows']} | "
                     f"{view.get('all_chip') or '–'} |")
    return "\n".join(lines) + "\n"


# -- EXPLAIN ---------------------------------------------------------------------------------------

def explain(settings) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement each queue view runs, captured from the
    app's own listing and count code in this process."""
    url, _data = console_data.ensure(settings.cases, settings.seed, settings.force)
    os.environ.update(console_data.app_env(url))
    sys.path.insert(0, str(ROOT))
    import sqlalchemy as sa
    from werkzeug.datastructures import MultiDict

    from bot import create_app
    from bot.extensions import db
    from handlers.console import listing, pages
    from models import Officer, utcnow
    from services.access import Actor

    accounts(url)
    sample = samples(url)
    app = create_app()
    out = [f"EXPLAIN (ANALYZE, BUFFERS) of the console queue's statements, {time.ctime()}, "
           f"commit {commit(ROOT)}\n"]
    with app.app_context(), app.test_request_context():
        captured: list[tuple[str, dict]] = []

        def capture(_conn, _cursor, statement, parameters, _context, _many):
            if statement.lstrip().upper().startswith("SELECT"):
                captured.append((statement, parameters))

        engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", capture)
        for view in views(sample, False):
            if view["kind"] != "queue" or view["follow"] or (
                    settings.only and not re.search(settings.only, view["view"])):
                continue
            officer = db.session.scalar(sa.select(Officer).where(
                Officer.username == ACCOUNTS[view["account"]]["username"]))
            who = Actor.for_officer(officer, via="console")
            filters, values = pages.queue_filters(MultiDict(view["query"]))
            now = utcnow()
            captured.clear()
            started = time.perf_counter()
            listing.page(db.session, who, filters, values["sort"], None, pages.PAGE_SIZE, now)
            listing.chip_counts(db.session, who, filters, now)
            took = (time.perf_counter() - started) * 1000
            db.session.rollback()
            statements = list(captured)
            out.append(f"\n{'=' * 100}\n{view['view']} ({view['account']}): {view['query']}"
                       f" -- page + counts in {took:.0f} ms\n")
            for statement, parameters in statements:
                with engine.connect() as conn:
                    plan = conn.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).fetchall()
                    conn.rollback()
                out.append(f"\n-- {statement}\n-- {parameters}\n")
                out.extend(row[0] + "\n" for row in plan)
        # the supervisors' figures: the dashboard's (when the app has it) and the API's
        from services import stats

        try:
            from services import dashboard
        except ImportError:
            dashboard = None
        jobs = [("stats.case_stats", account, lambda who: stats.case_stats(db.session, who))
                for account in ACCOUNTS]
        if dashboard is not None:
            jobs += [("dashboard.figures", "supervisor",
                      lambda who: dashboard.figures(db.session, who)),
                     (f"dashboard.figures, district {DISTRICT}", "supervisor",
                      lambda who: dashboard.figures(db.session, who, district=DISTRICT))]
        if dashboard is not None and hasattr(dashboard, "current"):
            # what the page runs: the stored figures (made first when missing)
            import datetime as dt

            day = dt.timedelta(days=1)
            for district in (None, DISTRICT):
                dashboard.current(db.session, Actor("officer", "bench", "supervisor", "EDU",
                                                    "40"), district, day, "bench-explain")
            jobs += [("dashboard.current (the stored figures)", "supervisor",
                      lambda who: dashboard.current(db.session, who, None, day, "bench")),
                     (f"dashboard.current (the stored figures), district {DISTRICT}",
                      "supervisor",
                      lambda who: dashboard.current(db.session, who, DISTRICT, day, "bench"))]
        for name, account, job in jobs:
            if settings.only and not re.search(settings.only, name):
                continue
            officer = db.session.scalar(sa.select(Officer).where(
                Officer.username == ACCOUNTS[account]["username"]))
            who = Actor.for_officer(officer, via="console")
            captured.clear()
            started = time.perf_counter()
            job(who)
            took = (time.perf_counter() - started) * 1000
            db.session.rollback()
            out.append(f"\n{'=' * 100}\n{name} ({account}) -- in {took:.0f} ms\n")
            for statement, parameters in list(captured):
                with engine.connect() as conn:
                    plan = conn.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).fetchall()
                    conn.rollback()
                out.append(f"\n-- {statement}\n-- {parameters}\n")
                out.extend(row[0] + "\n" for row in plan)
        sa.event.remove(engine, "before_cursor_execute", capture)
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / f"console-explain-{settings.label}.txt"
    target.write_text("".join(out), encoding="utf-8")
    log(f"wrote {target}")


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--force", action="store_true", help="generate the data again")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per view")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up rounds")
    parser.add_argument("--deep-pages", type=int, default=10,
                        help="'next page' links followed to reach a deep page")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--only", help="measure only the views whose name matches this regex")
    parser.add_argument("--label", default="latest", help="names the result files")
    parser.add_argument("--app-dir", help="run the server from this checkout instead")
    parser.add_argument("--schema", help="migrate the database to this revision first")
    parser.add_argument("--wait-quiet", type=float, default=0,
                        help="wait up to this many seconds for other work to stop")
    parser.add_argument("--refresh-every", type=float, default=300,
                        help="renew the dashboard's stored figures this often during the run, "
                        "as the worker does (DASHBOARD_REFRESH_SECONDS; 0: only before it)")
    parser.add_argument("--explain", action="store_true",
                        help="write EXPLAIN (ANALYZE, BUFFERS) of the queue's statements")
    return parser.parse_args(argv)


def _terminate(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    LOGS.mkdir(parents=True, exist_ok=True)
    if settings.explain:
        explain(settings)
        return 0
    report = measure(settings)
    text = markdown(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"console-{settings.label}.md").write_text(text, encoding="utf-8")
    (RESULTS / f"console-{settings.label}.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    print(text)
    log(f"wrote bench/results/console-{settings.label}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
