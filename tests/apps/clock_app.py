"""The real Samoe app in a process whose clock starts at $SAMOE_TEST_NOW and ticks from there
(time-machine), for tests across processes that need a worker "at 07:00" or "on 10 Dec":
`flask --app tests.apps.clock_app worker --burst`. Only the clock differs; with the variable
unset it is the plain app.

(`scheduler --once --at` needs no such help; the sender and the worker's own scheduler do.)"""

from __future__ import annotations

import datetime as dt
import os

import time_machine

from bot import create_app


def build():
    moment = os.environ.get("SAMOE_TEST_NOW")
    if moment:
        time_machine.travel(dt.datetime.fromisoformat(moment), tick=True).start()
    return create_app()


app = build()
