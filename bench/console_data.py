"""Generated cases for the console benchmark (issue 7): a PostgreSQL database of its own with a
province's worth of case work, loaded with COPY.

    python bench/console_data.py [--cases 1000000] [--force]

It makes the database `samoe_bench_console` (on BENCH_PG_URL's server, default
postgresql://postgres@127.0.0.1:5432; no other database is touched), builds the schema with
the migrations (`flask db upgrade`) and fills it with `--cases` cases spread over the
districts and subdistricts of the `areas` table (Khon Kaen), created over the last three
years (more in recent months), each with a life that fits its age:

- the child (a Thai name with or without a title, sex, birth date for the group's ages),
  the guardian (name, relation, phone), village and หมู่ที่, situations, a note sometimes,
  a location for most; identity and phone numbers encrypted exactly as the app stores them
  (models.crypto's Fernet tokens under the bench key below, `id_hash` with the bench
  SECRET_KEY), or NULL;
- owner by the routing rule (early childhood: LOCAL of the subdistrict; out of school:
  LEARN of the district), then a history: verified, referred to another agency (accepted:
  the new owner; declined: back; or still pending), in support, follow-up with home visits,
  closed; timeline entries for each step (created, consent, verified, status, referred,
  accepted, declined, visit, note) with their details;
- `due_at`, `first_action_at`, `closed_at`, `escalation` and `updated_at` as services.workflow
  and services.reminders would have left them: some cases overdue (escalated when more than
  7 / 21 days late), some untouched for 30 days;
- one consent per case, volunteers and parents (line_users) as reporters, the reference
  counter of each Buddhist-era year.

Rows are written with psycopg's COPY, with foreign-key triggers off for the load
(`session_replication_role = replica`: the rows are consistent by construction), then
`VACUUM (ANALYZE)`, as autovacuum would leave a table that has settled. What was generated is
kept as the database's comment; the next run with the same `--cases` and `--seed` reuses the
database (`--force` makes it again). The bench keys are fixed (BENCH_ENV) so that the app
started by bench/console.py reads what was written here.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "samoe_bench_console"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NAMES = json.loads((BENCH / "data" / "thai_names.json").read_text(encoding="utf-8"))
#: Bench-only keys (not secrets: the data is generated). The app must read with the same ones.
BENCH_ENV = {
    "SECRET_KEY": "samoe-bench-console-secret-key-not-for-production",
    "DATA_ENCRYPTION_KEYS": base64.urlsafe_b64encode(
        hashlib.sha256(b"samoe bench console data key").digest()).decode(),
    "LINE_CHANNEL_SECRET": "bench", "LINE_CHANNEL_ACCESS_TOKEN": "bench",
    "LINE_EMULATOR": "0", "WORKER_IN_PROCESS": "0", "SCHEDULER_INTERVAL": "0",
    "SESSION_COOKIE_SECURE": "0",
    # code before the stored dashboard figures: every request computes them (its per-process
    # cache off); newer code reads the stored figures bench/console.py makes and renews
    "DASHBOARD_CACHE_SECONDS": "0",
}
FORMAT = 2  # bump when the generated data changes shape: a database of another format is remade
CHUNK = 20_000
YEARS = 3
DAY = dt.timedelta(days=1)
BE_OFFSET = 543
BANGKOK = dt.timezone(dt.timedelta(hours=7))
VOLUNTEERS_PER_SUBDISTRICT = 40
PARENTS = 10_000
#: Referral targets by the owner's agency (weights).
REFER_TO = {"LEARN": {"OBEC": 5, "SOCIAL": 3, "HEALTH": 1, "LOCAL": 1},
            "LOCAL": {"PHC": 4, "SOCIAL": 3, "LEARN": 2, "HEALTH": 1}}
#: The level of the area an agency serves (a referral goes to that level).
SUBDISTRICT_AGENCIES = {"LOCAL", "PHC"}
SITUATIONS = {"early_childhood": ["poverty", "disability", "no_birth_registration",
                                  "family_breakdown", "health", "migrant", "other"],
              "out_of_school": ["poverty", "disability", "never_enrolled", "dropped_out",
                                "family_breakdown", "health", "migrant", "other"]}
RELATIONS = {"mother": 40, "father": 15, "grandparent": 35, "relative": 8, "other": 2}
VISIT_OUTCOMES = {"found": 60, "needs_more_help": 20, "back_in_school": 15, "moved": 3,
                  "not_found": 2}
DEADLINE_DAYS = {"verify": 7, "referral": 7, "first_action": 14, "visit": 30}


def log(message: str) -> None:
    print(f"[console-data {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def admin(sql: str, params=None) -> list[tuple]:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def database_url(name: str = DB_NAME) -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def app_env(url: str) -> dict[str, str]:
    """The environment the bench runs Samoe's commands and server with."""
    return dict(os.environ, DATABASE_URL=url, **BENCH_ENV)


def described(name: str = DB_NAME) -> dict | None:
    """What the database holds (its comment), None if it does not exist or is unfinished."""
    rows = admin("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                 "WHERE datname = %s", (name,))
    if not rows:
        return None
    try:
        return json.loads(rows[0][0] or "")
    except ValueError:
        return {}


def flask(args: list[str], url: str, app_dir: Path = ROOT, timeout: float = 1800) -> str:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args],
                          env=app_env(url), cwd=app_dir, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout[-2000:]}\n"
                           f"{done.stderr[-3000:]}")
    return done.stdout


# -- one case's life ---------------------------------------------------------------------------

def weighted(rng: random.Random, table: dict[str, int]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def citizen_id(rng: random.Random) -> str:
    digits = [rng.randint(1, 8)] + [rng.randint(0, 9) for _ in range(11)]
    check = (11 - sum(d * (13 - i) for i, d in enumerate(digits)) % 11) % 10
    return "".join(map(str, digits)) + str(check)


def final_stage(rng: random.Random, age_days: float) -> str:
    closed = 0.03 if age_days < 30 else 0.2 if age_days < 90 else 0.5 if age_days < 365 \
        else 0.75
    if rng.random() < closed:
        return "closed"
    if age_days < 30:
        weights = {"received": 35, "verifying": 30, "referred": 12, "in_support": 18,
                   "follow_up": 5}
    else:
        weights = {"received": 2, "verifying": 4, "referred": 4, "in_support": 45,
                   "follow_up": 45}
    return weighted(rng, weights)


class Generator:
    """Makes the rows of each table, case by case, with ids given here."""

    def __init__(self, rng: random.Random, now: dt.datetime, subdistricts: list[tuple],
                 volunteers: dict[str, list[tuple]], parents: list[tuple]):
        from models import crypto
        from services.cases import normalise_name

        crypto.configure(crypto.parse_keys(BENCH_ENV["DATA_ENCRYPTION_KEYS"]))
        self.encrypt = crypto.encrypt_text
        self.normalise = normalise_name
        self._norm_cache: dict[str, str] = {}
        self.rng = rng
        self.now = now
        self.subdistricts = subdistricts  # (code, district code, weight)
        self.sub_weights = [w for _c, _d, w in subdistricts]
        self.volunteers = volunteers  # subdistrict -> [(id, line_user_id)]
        self.parents = parents
        self.counters: dict[int, int] = {}
        self.next_id = {"referrals": 1, "timeline_entries": 1, "consents": 1, "visits": 1}
        self.secret = BENCH_ENV["SECRET_KEY"].encode()

    def norm(self, name: str) -> str:
        found = self._norm_cache.get(name)
        if found is None:
            found = self._norm_cache[name] = self.normalise(name)
        return found

    def _id(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value

    def case(self, case_id: int, created: dt.datetime, out: dict[str, list]) -> None:
        rng, now = self.rng, self.now
        group = "out_of_school" if rng.random() < 0.55 else "early_childhood"
        sub, district, _w = rng.choices(self.subdistricts, weights=self.sub_weights)[0]
        owner = ("LOCAL", sub) if group == "early_childhood" else ("LEARN", district)
        year = created.astimezone(BANGKOK).year + BE_OFFSET
        number = self.counters[year] = self.counters.get(year, 0) + 1
        reference = f"KK-{year}-{number:05d}"
        sex = "male" if rng.random() < 0.52 else "female"
        first = rng.choice(NAMES["boys"] if sex == "male" else NAMES["girls"])
        surname = rng.choice(NAMES["surnames"])
        titles = NAMES["child_titles"][sex]  # with a space, none, or written on ("nong")
        title = rng.choice(titles)
        child_name = f"{title}{first} {surname}" if title == titles[-1] else \
            f"{title} {first} {surname}".strip()
        low, high = (0, 6) if group == "early_childhood" else (6, 17)
        age_years = rng.randint(low, high)
        birth_date = None
        precision = None
        if rng.random() < 0.9:
            birth_date = (created - dt.timedelta(days=age_years * 365 + rng.randint(0, 364))
                          ).date()
            precision = "day" if rng.random() < 0.75 else "year"
        id_kind, id_number, id_hash = "none", None, None
        roll = rng.random()
        if roll < 0.6:
            id_kind, plain = "citizen_id", citizen_id(rng)
        elif roll < 0.68:
            id_kind, plain = "g_code", "G" + "".join(str(rng.randint(0, 9)) for _ in range(12))
        if id_kind != "none":
            id_number = self.encrypt(plain)
            id_hash = _hmac(self.secret, plain)
        relation = weighted(rng, RELATIONS)
        adults = NAMES["adult_men"] if relation == "father" or (
            relation in ("grandparent", "relative", "other") and rng.random() < 0.4) \
            else NAMES["adult_women"]
        guardian = f"{rng.choice(adults)} {surname}" if rng.random() < 0.95 else None
        phone = self.encrypt(f"0{rng.choice('689')}{rng.randint(0, 99_999_999):08d}") \
            if rng.random() < 0.85 else None
        situations = rng.sample(SITUATIONS[group], k=rng.choice((1, 1, 2, 2, 3)))
        lat = lon = None
        if rng.random() < 0.6:
            lat, lon = 16.43 + rng.uniform(-0.6, 0.6), 102.83 + rng.uniform(-0.6, 0.6)
        self_reported = rng.random() < 0.05
        if self_reported:
            reporter_id, reporter = rng.choice(self.parents)
        else:
            reporter_id, reporter = rng.choice(self.volunteers[sub])

        age_days = (now - created) / DAY
        stage = final_stage(rng, age_days)
        events = self._life(stage, owner, sub, district, created)
        timeline = out["timeline_entries"]
        timeline.append((self._id("timeline_entries"), case_id, "created", reporter, True,
                         _json({"reference": reference, "owner_agency_code": owner[0],
                                "owner_area_code": owner[1]}), created))
        timeline.append((self._id("timeline_entries"), case_id, "consent", reporter, False,
                         _json({"purposes": ["share_with_agencies"],
                                "statement_version": "2569-1"}), created))
        first_action = closed_at = None
        last = created
        officer = f"{owner[0].lower()}.{district}"
        current = "received"
        pending = None
        changed = created  # the last stage change (verified, status, accepted)
        visited = None  # the last home visit
        accepted_due = None  # an accepted referral's first-action deadline
        for kind, detail, at in events:
            last = at
            actor = officer
            if kind in ("verified", "status"):
                detail = {"from": current, "to": detail}
                current = detail["to"]
                changed, accepted_due = at, None
                if current == "closed":
                    closed_at = at
            elif kind == "referred":
                referral_id = self._id("referrals")
                to_agency, to_area = detail
                out["referrals"].append(
                    (referral_id, case_id, owner[0], owner[1], to_agency, to_area, current,
                     rng.choice(NAMES["referral_reasons"]), "pending", officer, at, None,
                     None, None))
                detail = {"referral_id": referral_id, "from": current, "to": "referred",
                          "to_agency": to_agency}
                pending = (referral_id, to_agency, to_area, current, at)
                current = "referred"
            elif kind in ("accepted", "declined"):
                referral_id, to_agency, to_area, previous_stage, _at = pending
                pending = None
                row = out["referrals"][-1]
                actor = f"{to_agency.lower()}.{district}"
                reason = None if kind == "accepted" else NAMES["notes"][2]
                out["referrals"][-1] = row[:8] + (kind, row[9], row[10], actor, at, reason)
                if kind == "accepted":
                    detail = {"referral_id": referral_id, "agency": to_agency,
                              "from_agency": owner[0]}
                    owner = (to_agency, to_area)
                    officer = f"{to_agency.lower()}.{district}"
                    current = "in_support"
                    changed, accepted_due = at, at + DEADLINE_DAYS["first_action"] * DAY
                else:
                    detail = {"referral_id": referral_id, "agency": to_agency,
                              "reason": reason, "from": "referred", "to": previous_stage}
                    current = previous_stage
            elif kind == "visit":
                visit_id = self._id("visits")
                outcome = weighted(rng, VISIT_OUTCOMES)
                out["visits"].append((visit_id, case_id, at.date(), outcome, None, officer,
                                      "officer", None, None, None, at))
                detail = {"visit_id": visit_id, "outcome": outcome,
                          "visited_on": at.date().isoformat()}
                visited, accepted_due = at, None
            else:  # note
                detail = {"text": rng.choice(NAMES["notes"])}
            if first_action is None and kind != "note":
                first_action = at
            timeline.append((self._id("timeline_entries"), case_id, kind, actor,
                             kind not in ("note", "declined"), _json(detail), at))
        # the deadline as services.workflow.due_after (and accept_referral) leave it
        if current == "closed":
            due_at = None
        elif current in ("received", "verifying"):
            due_at = created + DEADLINE_DAYS["verify"] * DAY
        elif current == "referred":
            due_at = pending[4] + DEADLINE_DAYS["referral"] * DAY
        elif accepted_due is not None:
            due_at = accepted_due
        else:
            due_at = max(m for m in (visited, changed) if m is not None) \
                + DEADLINE_DAYS["visit"] * DAY
        escalation = 0
        if due_at is not None and due_at < now:
            late = (now - due_at) / DAY
            escalation = 2 if late > 21 else 1 if late > 7 else 0
        village = rng.choice(NAMES["villages"])
        out["cases"].append((
            case_id, reference, None, group, child_name, self.norm(child_name), sex,
            birth_date, precision, id_kind, id_number, id_hash, guardian, phone,
            relation if guardian else None, village, rng.randint(1, 20), sub, district,
            _json(situations), rng.choice(NAMES["notes"]) if rng.random() < 0.3 else None,
            lat, lon, None, current, owner[0], owner[1], reporter_id, self_reported,
            created, last, first_action, due_at, closed_at, escalation, None, None))
        out["consents"].append((self._id("consents"), case_id, guardian,
                                _json(["share_with_agencies"]), "2569-1",
                                "line_parent" if self_reported else "line_volunteer",
                                reporter, created, None))

    def _life(self, stage: str, owner: tuple, sub: str, district: str,
              created: dt.datetime) -> list[tuple]:
        """The events after the report that lead to `stage`, as (kind, detail, days after
        the report): the first steps a few days apart; a case in support visited about
        monthly (only its last few visits are kept) while someone keeps it up, or left."""
        rng, now = self.rng, self.now
        room = (now - created) / DAY
        events: list[tuple] = []
        t = 0.0

        def step(kind, detail, mean_days):
            nonlocal t
            t += rng.expovariate(1 / mean_days) + 0.02
            events.append((kind, detail, t))

        if rng.random() < 0.15:
            step("note", None, 1)
        if stage != "received":
            step("verified", "verifying", 2)
            refer = stage == "referred" or (stage in ("in_support", "follow_up", "closed")
                                            and rng.random() < 0.35)
            if stage == "verifying" and rng.random() < 0.1:
                refer = True  # referred once, declined, back to verifying
            if refer:
                to_agency = weighted(rng, REFER_TO[owner[0]])
                to_area = sub if to_agency in SUBDISTRICT_AGENCIES else district
                step("referred", (to_agency, to_area), 4)
                if stage != "referred":
                    declined = stage == "verifying" or rng.random() < 0.2
                    step("declined" if declined else "accepted", None, 4)
                    if declined and stage != "verifying":
                        step("status", "in_support", 2)
            elif stage != "verifying":
                step("status", "in_support", 4)
        if stage in ("follow_up", "closed") and (stage == "follow_up" or rng.random() < 0.6):
            for _ in range(rng.choice((0, 1, 1, 2))):
                step("visit", None, 20)
            step("status", "follow_up", 20)
        if stage == "closed":
            for _ in range(rng.choice((0, 1, 1, 2))):
                step("visit", None, 25)
            step("status", "closed", 30)
        if t >= room:  # a young case: the same steps, closer together
            scale = room * 0.95 / t
            events = [(kind, detail, at * scale) for kind, detail, at in events]
            t = room * 0.95
        elif stage in ("in_support", "follow_up") and room - t > 30:
            if rng.random() < 0.8:  # kept up: visited in the last five weeks
                last = room - rng.uniform(0, 35)
                visits = [last - 30 * k - rng.uniform(-5, 5) for k in range(rng.choice((1, 2, 3)))]
            else:  # left: a visit or two after the last step, then nothing
                visits = [t + rng.uniform(5, 40) * (k + 1) for k in range(rng.choice((0, 1, 2)))]
            for at in sorted(v for v in visits if t < v < room):
                events.append(("visit", None, at))
        return [(kind, detail, created + dt.timedelta(days=at)) for kind, detail, at in events]


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _hmac(secret: bytes, plain: str) -> str:
    import hmac

    return hmac.new(secret, plain.encode(), hashlib.sha256).hexdigest()


COLUMNS = {
    "cases": ("id", "reference", "submission_key", "target_group", "child_name",
              "child_name_norm", "sex", "birth_date", "birth_precision", "id_kind", "id_number",
              "id_hash", "guardian_name", "guardian_phone", "guardian_relation", "village",
              "village_no", "subdistrict_code", "district_code", "situations", "note",
              "latitude", "longitude", "location_address", "stage", "owner_agency_code",
              "owner_area_code", "reporter_id", "self_reported", "created_at", "updated_at",
              "first_action_at", "due_at", "closed_at", "escalation", "visit_reminded_on",
              "pseudonymised_at"),
    "referrals": ("id", "case_id", "from_agency_code", "from_area_code", "to_agency_code",
                  "to_area_code", "from_stage", "reason", "status", "created_by",
                  "created_at", "decided_by", "decided_at", "decision_reason"),
    "timeline_entries": ("id", "case_id", "kind", "actor", "public", "detail", "at"),
    "consents": ("id", "case_id", "guardian_name", "purposes", "statement_version", "channel",
                 "recorded_by", "recorded_at", "withdrawn_at"),
    "visits": ("id", "case_id", "visited_on", "outcome", "note", "visitor", "visitor_kind",
               "latitude", "longitude", "photo_id", "created_at"),
}


def _naive(value):
    """Timestamps as the app stores them: naive UTC."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def copy_rows(conn, table: str, rows: list[tuple]) -> None:
    columns = COLUMNS[table]
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(tuple(_naive(v) for v in row))


def load(url: str, cases: int, seed: int) -> dict:
    """Fill the (migrated, empty) database; returns what was made."""
    import psycopg

    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    started = time.monotonic()
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        subs = conn.execute("SELECT code, parent_code FROM areas WHERE level = 'subdistrict' "
                            "ORDER BY code").fetchall()
        # the provincial capital's district (xx01) is the busiest: twice the weight
        subdistricts = [(code, parent, 2 if parent.endswith("01") else 1)
                        for code, parent in subs]
        volunteers: dict[str, list[tuple]] = {}
        users, user_id = [], 0
        from models import crypto

        crypto.configure(crypto.parse_keys(BENCH_ENV["DATA_ENCRYPTION_KEYS"]))
        encrypt = crypto.encrypt_text
        joined = now - dt.timedelta(days=YEARS * 365 + 30)
        for code, _parent, _w in subdistricts:
            for _ in range(VOLUNTEERS_PER_SUBDISTRICT):
                user_id += 1
                line_id = "U" + hashlib.md5(f"v{user_id}".encode()).hexdigest()
                first = rng.choice(NAMES["adult_women"] + NAMES["adult_men"])
                users.append((user_id, line_id, first, "volunteer", "th", True, joined,
                              joined, f"{first} {rng.choice(NAMES['surnames'])}",
                              encrypt(f"08{rng.randint(0, 99_999_999):08d}"),
                              rng.choice(NAMES["villages"]), rng.randint(1, 20), code,
                              joined))
                volunteers.setdefault(code, []).append((user_id, line_id))
        parents = []
        for _ in range(PARENTS):
            user_id += 1
            line_id = "U" + hashlib.md5(f"p{user_id}".encode()).hexdigest()
            users.append((user_id, line_id, None, "parent", "th", True, joined, joined, None,
                          None, None, None, None, joined))
            parents.append((user_id, line_id))
        with conn.cursor().copy(
                "COPY line_users (id, line_user_id, display_name, role, language, followed, "
                "followed_at, created_at, full_name, phone, village, village_no, "
                "subdistrict_code, registered_at) FROM STDIN") as copy:
            for row in users:
                copy.write_row(tuple(_naive(v) for v in row))
        log(f"{len(users):,} LINE users (volunteers and parents)")

        # report times: over YEARS years, more in recent months (density rising linearly)
        span = YEARS * 365 * 86400
        offsets = sorted(span * (1 - rng.random() ** 0.5) for _ in range(cases))
        gen = Generator(rng, now, subdistricts, volunteers, parents)
        counts = dict.fromkeys(COLUMNS, 0)
        for first in range(0, cases, CHUNK):
            out: dict[str, list] = {table: [] for table in COLUMNS}
            for n in range(first, min(first + CHUNK, cases)):
                created = now - dt.timedelta(seconds=offsets[cases - 1 - n])
                gen.case(n + 1, created, out)
            for table, rows in out.items():
                copy_rows(conn, table, rows)
                counts[table] += len(rows)
            conn.commit()
            done = min(first + CHUNK, cases)
            if done % 100_000 == 0 or done == cases:
                log(f"{done:,} cases ({time.monotonic() - started:.0f} s)")
        for table in ("line_users", *COLUMNS):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT coalesce(max(id), 1) FROM {table}))")
        for year, last in sorted(gen.counters.items()):
            conn.execute("INSERT INTO case_counters (year_be, last) VALUES (%s, %s)",
                         (year, last))
        conn.commit()
    loaded = time.monotonic() - started
    log(f"loaded in {loaded:.0f} s: {counts}; VACUUM (ANALYZE)")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return {"rows": counts, "line_users": len(users), "as_of": now.isoformat(),
            "load_s": round(loaded, 1), "total_s": round(time.monotonic() - started, 1)}


def ensure(cases: int = 1_000_000, seed: int = 7, force: bool = False,
           upgrade: bool = True) -> tuple[str, dict]:
    """The URL of the bench database holding `cases` generated cases (made if needed), and
    what it holds. The schema of a database reused is brought up to the migrations' head
    (unless `upgrade` is False)."""
    assert re.fullmatch(r"samoe_bench_\w+", DB_NAME)
    url = database_url()
    info = described()
    wanted = {"cases": cases, "seed": seed, "format": FORMAT}
    if info is not None and not force and all(info.get(k) == v for k, v in wanted.items()):
        log(f"reusing {DB_NAME} ({info['rows']['cases']:,} cases generated {info['as_of']})")
        if upgrade:
            flask(["db", "upgrade"], url)
        return url, info
    log(f"making {DB_NAME}: {cases:,} cases (seed {seed})")
    admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    admin(f"CREATE DATABASE {DB_NAME}")
    started = time.monotonic()
    flask(["db", "upgrade"], url)
    made = load(url, cases, seed)
    info = {**wanted, **made, "migrated_and_loaded_s": round(time.monotonic() - started, 1)}
    admin(f"COMMENT ON DATABASE {DB_NAME} IS %s".replace("%s", _literal(_json(info))))
    log(f"{DB_NAME} ready in {info['migrated_and_loaded_s']:.0f} s")
    return url, info


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--force", action="store_true", help="make the database again")
    parser.add_argument("--drop", action="store_true", help="drop the database and stop")
    args = parser.parse_args(argv)
    if args.drop:
        admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        log(f"dropped {DB_NAME}")
        return 0
    url, info = ensure(args.cases, args.seed, args.force)
    print(json.dumps({"url": url, **info}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
