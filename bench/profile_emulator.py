"""CPU per reply of the LINE emulator's reply API, in one process.

    python bench/profile_emulator.py [--replies 2000] [--repeat 3] [--profile] [--top 30]

The emulator stands in for LINE in the webhook benchmarks (bench/run.py), on the same two
cores as the bots, so what a reply costs it is CPU the bots do not get. This measures that
cost without HTTP: the emulator's Flask app (its state in SQLite on /dev/shm, as bench/run.py
keeps it) called as WSGI with N replies of the shape Samoe sends a new user (two text
messages, the second with two postback quick replies), each with its own reply token issued
just before (as bench/run.py issues them). CPU time of this process (time.process_time) per
reply, each repeat on a fresh emulator; `--profile` runs the last repeat under cProfile.
Every reply must be answered 200 and recorded in the sent log, or it exits non-zero.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "profile-access-token"
MESSAGES = [
    {"type": "text", "text": "กรุณาเลือกจากปุ่มด้านล่างค่ะ"},
    {"type": "text", "text": "น้องคนไหนคะ", "quickReply": {"items": [
        {"type": "action", "action": {"type": "postback", "label": "เด็กเล็ก 0-6 ปี",
                                      "data": "step=group&v=early_childhood",
                                      "displayText": "เด็กเล็ก 0-6 ปี"}},
        {"type": "action", "action": {"type": "postback", "label": "ไม่ได้เรียน 6-24 ปี",
                                      "data": "step=group&v=out_of_school",
                                      "displayText": "ไม่ได้เรียน 6-24 ปี"}},
    ]}},
]


def one_run(replies: int, profile: bool, top: int) -> float:
    """A fresh emulator, `replies` replies after 200 of warm-up; CPU ms per reply."""
    from emulator import create_emulator_app, tables
    from emulator.database import make_engine
    from emulator.ids import now_ms

    folder = tempfile.mkdtemp(prefix="samoe-emu-profile-",
                              dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    url = f"sqlite:///{folder}/emulator.db"
    try:
        app = create_emulator_app({"database_url": url, "channel_secret": "profile-secret",
                                   "channel_access_token": TOKEN})
        engine = make_engine(url)
        total = replies + 200
        with engine.begin() as connection:
            connection.execute(tables.reply_tokens.insert(), [
                {"token": f"{i:032x}", "user_id": f"U{i % 1000:032x}",
                 "webhook_event_id": f"E{i:031d}", "issued_at": now_ms()}
                for i in range(total)
            ])
        bodies = [json.dumps({"replyToken": f"{i:032x}", "messages": MESSAGES}).encode()
                  for i in range(total)]

        def call(i: int) -> None:
            environ = {
                "REQUEST_METHOD": "POST", "PATH_INFO": "/v2/bot/message/reply",
                "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
                "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(bodies[i]),
                "wsgi.errors": sys.stderr, "CONTENT_TYPE": "application/json",
                "CONTENT_LENGTH": str(len(bodies[i])), "HTTP_AUTHORIZATION": f"Bearer {TOKEN}",
            }
            status = []
            answer = b"".join(app(environ, lambda s, _h, _e=None: status.append(s)))
            if not status[0].startswith("200"):
                raise SystemExit(f"reply {i} answered {status[0]}: {answer[:200]!r}")

        for i in range(200):
            call(i)
        profiler = cProfile.Profile() if profile else None
        started = time.process_time()
        if profiler:
            profiler.enable()
        for i in range(200, total):
            call(i)
        if profiler:
            profiler.disable()
        spent = time.process_time() - started
        with engine.connect() as connection:
            recorded = connection.execute(
                tables.sent.select().with_only_columns(tables.sent.c.seq)).all()
        engine.dispose()
        if len(recorded) != total:
            raise SystemExit(f"{len(recorded)} replies recorded for {total} sent")
        if profiler:
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats("tottime").print_stats(top)
            stats.sort_stats("cumulative").print_stats(top)
        return spent * 1000 / replies
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true",
                        help="the last repeat under cProfile (its figure is cProfile's too)")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    figures = [round(one_run(args.replies, args.profile and i == args.repeat - 1, args.top), 3)
               for i in range(args.repeat)]
    print(json.dumps({"replies": args.replies, "cpu_ms_per_reply": figures,
                      "median": sorted(figures)[len(figures) // 2]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
