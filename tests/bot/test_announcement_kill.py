"""A sender process SIGKILLed in the middle of an announcement (a real separate process), on
each database: the announcement is composed through the API, LINE had accepted the batch in
flight but the sender never heard back. The restarted sender resends that batch with the same
retry key (LINE answers 409: delivered) and sends the rest: every volunteer gets the
announcement exactly once — none twice, none missing."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import sqlalchemy as sa

from models import Announcement, LineUser, utcnow
from services import announcements
from tests import factories as f
from tests.support import flask_command, flask_env, wait_until

VOLUNTEERS = 2000  # four batches of 500



def test_a_sender_killed_mid_announcement_and_restarted_delivers_each_volunteer_once(
        app, s, emulator):
    ids = [f"Ukill{n:027d}" for n in range(VOLUNTEERS)]
    s.execute(sa.insert(LineUser), [
        {"line_user_id": i, "role": "volunteer", "language": "th", "followed": True,
         "subdistrict_code": f.NAM_PHONG, "code_failures": 0, "created_at": utcnow()}
        for i in ids])
    token = f.token(s, f.officer(s, agency="LEARN", area="4007"))
    s.commit()
    s.close()
    composed = app.test_client().post(
        "/api/v1/announcements", headers={"Authorization": f"Bearer {token}"},
        json={"text": "อบรม อสม. วันเสาร์นี้", "audience": ["volunteers"], "area": "4007"})
    assert composed.status_code == 202, composed.get_json()
    assert composed.get_json()["estimate"] == VOLUNTEERS
    announcement_id = composed.get_json()["id"]
    # the first batch is carried out by LINE, but its answer takes 20 s: the kill lands then
    emulator.fault("multicast", status=200, count=1, delay=20, when="after")
    env = flask_env(app, SENDER_LEASE_SECONDS="2", QUIET_HOURS="")
    first = flask_command(["worker"], env)
    try:
        wait_until(lambda: emulator.sent(endpoint="multicast"), timeout=60)
        time.sleep(0.3)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)  # reaps it and closes its pipes
    before_restart = emulator.sent(endpoint="multicast")
    assert len(before_restart) == 1  # killed while the first batch was in flight
    time.sleep(2.5)  # its lease on the batch expires

    second = flask_command(["worker", "--burst"], env)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err

    received = Counter(u for item in emulator.sent(endpoint="multicast") for u in item["to"])
    twice = [u for u, n in received.items() if n > 1]
    missing = set(ids) - set(received)
    assert (len(twice), len(missing)) == (0, 0)
    statuses = [r["status"] for r in emulator.requests("multicast")]
    assert statuses.count(409) == 1  # the resent batch: LINE had it already
    s.expire_all()
    state = announcements.progress(s, announcement_id)
    done = s.get(Announcement, announcement_id)
    assert (state.sent, state.pending, state.failed) == (VOLUNTEERS, 0, 0)
    assert done.status == "sent" and done.recipients == VOLUNTEERS
