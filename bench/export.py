"""Samoe's export benchmark (issue 7 point 5): the console's CSV and XLSX export of a large
filtered queue, its time and the exporting process's peak memory.

    python bench/export.py [--db sqlite|postgresql] [--rows 200000]

It makes a fresh database (migrations), generates `--rows` cases in district 4007 (personal
fields encrypted as the application stores them; one supervisor of the province, who gets every
personal field), then, in a new Python process, signs in to the console through Flask's test
client and downloads /console/exports/cases.csv and .xlsx once each. Reported per format: the
seconds to the whole file, its size and rows, and the process's peak RSS (ru_maxrss) before and
after the downloads. PostgreSQL uses TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1
:5432/test) to create and drop its own database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BATCH = 5000


def app_for(url: str):
    from bot import create_app

    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                       "LINE_EMULATOR": False, "WORKER_IN_PROCESS": False,
                       "SCHEDULER_INTERVAL": 0, "LINE_CHANNEL_SECRET": "bench",
                       "LINE_CHANNEL_ACCESS_TOKEN": "bench", "EXPORT_MAX_ROWS": 10**7})


def generate(url: str, rows: int) -> float:
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from bot.extensions import db
    from models import Area, Case
    from services import accounts

    app = app_for(url)
    started = time.monotonic()
    with app.app_context():
        upgrade()
        subs = list(db.session.scalars(sa.select(Area.code).where(
            Area.level == "subdistrict", Area.parent_code == "4007").order_by(Area.code)))
        rng = random.Random(7)
        now = dt.datetime.now(dt.UTC)
        stages = ["received", "verifying", "referred", "in_support", "follow_up", "closed"]
        for first in range(0, rows, BATCH):
            batch = []
            for n in range(first, min(first + BATCH, rows)):
                made = now - dt.timedelta(minutes=rows - n)
                batch.append({
                    "reference": f"KK-2569-{n + 1:07d}", "target_group": "out_of_school",
                    "child_name": f"เด็กชายทดสอบ{n} ใจดี", "child_name_norm": f"ทดสอบ{n} ใจดี",
                    "sex": "male", "birth_date": dt.date(2011, 1, 1) + dt.timedelta(days=n % 900),
                    "birth_precision": "day", "id_kind": "citizen_id",
                    "id_number": f"{1100000000000 + n:013d}", "guardian_name": "บัวพันธ์ ใจดี",
                    "guardian_phone": f"08{n % 100000000:08d}", "guardian_relation": "mother",
                    "village": "บ้านโนน", "village_no": 3, "subdistrict_code": rng.choice(subs),
                    "district_code": "4007", "situations": ["dropped_out", "poverty"],
                    "stage": rng.choice(stages), "owner_agency_code": "LEARN",
                    "owner_area_code": "4007", "created_at": made, "updated_at": made,
                    "due_at": made + dt.timedelta(days=7), "escalation": n % 3,
                })
            db.session.execute(sa.insert(Case), batch)
            db.session.commit()
        accounts.create_officer(db.session, "bench.boss", "correct horse 1", "supervisor",
                                "EDU", "40")
        db.session.commit()
    return time.monotonic() - started


def peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def export(url: str) -> dict:
    """In this (fresh) process: sign in and download both formats."""
    import re

    app = app_for(url)
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    signed = client.post("/console/login", data={"username": "bench.boss",
                                                 "password": "correct horse 1",
                                                 "csrf_token": token})
    assert signed.status_code == 302, signed.status_code
    client.get("/console/cases")
    result = {"rss_before_mib": peak_mib()}
    for fmt in ("csv", "xlsx"):
        started = time.monotonic()
        size = 0
        with client.get(f"/console/exports/cases.{fmt}", buffered=False) as response:
            assert response.status_code == 200, response.status_code
            for chunk in response.response:
                size += len(chunk)
        result[fmt] = {"seconds": round(time.monotonic() - started, 2),
                       "mib": round(size / 2**20, 1), "peak_rss_mib": peak_mib()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--export-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_only:
        print(json.dumps(export(args.export_only)))
        return
    admin_url = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    folder = tempfile.mkdtemp(prefix="samoe-export-")
    name = f"samoe_bench_{uuid.uuid4().hex[:10]}"
    if args.db == "sqlite":
        url = f"sqlite:///{folder}/bench.db"
    else:
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        made = generate(url, args.rows)
        child = subprocess.run([sys.executable, __file__, "--export-only", url],
                               capture_output=True, text=True, check=True, cwd=ROOT)
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        print(json.dumps({"db": args.db, "rows": args.rows, "generate_s": round(made, 1),
                          **figures}, indent=1))
    finally:
        if args.db == "postgresql":
            import psycopg

            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
