"""The multicast pace shared by every sender process (bot.sender.SharedRateLimit): never more
than the rate in any one second, however many senders take slots from the database.

With a fake clock (no sleeping) on the real database: two limiters ("two processes") taking
turns are paced as one. And with two real `flask worker` processes sending at once, measured by
the emulator's own request log: together they stay within the rate, where each alone on its
own pace would have sent twice as many."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import uuid

import pytest

from bot.extensions import db
from bot.messages import text
from bot.outbox import queue_multicast
from bot.sender import PACE_MARGIN, SharedRateLimit
from tests.support import ROOT, flask_env, wait_until


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def most_in_one_second(moments: list[float]) -> int:
    """The most calls in any window [t, t + 1 s) starting at a call."""
    moments = sorted(moments)
    return max(sum(1 for t in moments[i:] if t < start + 1 - 1e-9)
               for i, start in enumerate(moments))


@pytest.fixture
def engine(app):
    with app.app_context():
        yield db.engine


def test_two_senders_taking_turns_are_paced_as_one(engine):
    clock = FakeClock()
    name = f"test-{uuid.uuid4().hex[:8]}"
    one, other = (SharedRateLimit(engine, name, 20, clock=clock, sleep=clock.sleep)
                  for _ in range(2))
    calls = []
    for limiter in itertools.islice(itertools.cycle([one, other]), 100):
        limiter.wait()
        calls.append(clock.now)
    assert most_in_one_second(calls) <= 20
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= (1 + PACE_MARGIN) / 20 - 1e-6  # evenly paced, whoever calls
    assert abs(calls[-1] - calls[0] - 99 * (1 + PACE_MARGIN) / 20) < 1e-3


def test_an_idle_pace_goes_at_once_and_a_slot_far_ahead_is_not_believed(engine):
    clock = FakeClock()
    name = f"test-{uuid.uuid4().hex[:8]}"
    limit = SharedRateLimit(engine, name, 5, clock=clock, sleep=clock.sleep)
    start = clock.now
    limit.wait()
    assert clock.now == start  # the first goes at once
    limit.wait()
    assert abs(clock.now - start - (1 + PACE_MARGIN) / 5) < 1e-6
    clock.now += 10  # idle for a while: the next goes at once, and only one
    before = clock.now
    limit.wait()
    limit.wait()
    assert abs(clock.now - before - (1 + PACE_MARGIN) / 5) < 1e-6
    # another machine whose clock ran an hour ahead took a slot: it is not waited for
    SharedRateLimit(engine, name, 5, clock=lambda: clock.now + 3600).take()
    before = clock.now
    limit.wait()
    assert clock.now == before
    unlimited = SharedRateLimit(engine, name, 0, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        unlimited.wait()
    assert clock.now == before


RATE = 10
BATCHES = 40


def start_worker(env: dict, log_path) -> subprocess.Popen:
    with log_path.open("w") as log:  # the child keeps its own copy of the file
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)


def test_two_sender_processes_together_stay_within_the_rate(app, emulator, tmp_path):
    env = flask_env(app, MULTICAST_PER_SECOND=str(RATE), QUIET_HOURS="",
                    SENDER_LEASE_SECONDS="30")
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    workers = [start_worker(env, path) for path in logs]
    try:
        wait_until(lambda: all("started" in path.read_text() for path in logs), timeout=60)
        with app.app_context():  # both are idle and looking: now the work arrives at once
            keys = {row.retry_key for n in range(BATCHES) for row in queue_multicast(
                db.session, [f"Upace{n:029d}"], [text("ประชุมวันจันทร์")])}
            db.session.commit()
            db.session.remove()
        wait_until(lambda: sum(path.read_text().count("LINE multicast ok") for path in logs)
                   >= BATCHES, timeout=60, interval=0.25)
    finally:
        for process in workers:  # their logs are written line by line: no need to wait
            os.kill(process.pid, signal.SIGKILL)
        for process in workers:
            process.wait(timeout=30)
    # (a call another test left waiting in the emulator may be logged meanwhile: not ours)
    calls = [c for c in emulator.requests("multicast") if c["retry_key"] in keys]
    assert len(calls) == BATCHES and {c["status"] for c in calls} == {200}
    moments = [dt.datetime.fromisoformat(c["at"]).timestamp() for c in calls]
    assert most_in_one_second(moments) <= RATE
    sent_by = [path.read_text().count("LINE multicast ok") for path in logs]
    assert sum(sent_by) == BATCHES and min(sent_by) > 0, sent_by  # both sent their share
    # and not slower than the rate allows: the pace is the rate, less its margin
    assert max(moments) - min(moments) < (BATCHES - 1) * (1 + PACE_MARGIN) / RATE + 2
