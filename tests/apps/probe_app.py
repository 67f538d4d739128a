"""A Samoe app for worker-process tests: the real app plus a probe handler for text messages.

`flask --app tests.apps.probe_app worker` runs the real worker with this handler, which
- appends what it handles (event id, text, pid, start and end time) to $PROBE_LOG, and
- on the text "kill-me", the first time only, queues a reply and then SIGKILLs its own process
  (after the lease was taken, before the commit): the drill for a worker killed mid-event.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from linebot.v3.webhooks import MessageEvent, TextMessageContent

from bot import create_app
from bot.messages import text


def build():
    app = create_app()
    dispatcher = app.extensions["samoe.dispatcher"]
    log_path = Path(os.environ["PROBE_LOG"])
    pause = float(os.environ.get("PROBE_PAUSE", "0.02"))

    @dispatcher.add(MessageEvent, message=TextMessageContent)
    def probe(ctx):
        started = time.time()
        body = ctx.event.message.text
        if body == "kill-me":
            marker = log_path.with_suffix(".killed")
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                ctx.reply(text("this reply must never be sent"))
                ctx.session.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(pause)
        ctx.reply(text(f"probe:{body}"))
        with log_path.open("a") as handle:
            handle.write(json.dumps({
                "id": ctx.inbox_event.webhook_event_id, "text": body, "pid": os.getpid(),
                "user": ctx.inbox_event.user_key, "ts": ctx.inbox_event.occurred_ms,
                "start": started, "end": time.time(),
            }) + "\n")

    return app


app = build()
