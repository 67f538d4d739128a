"""Several gunicorn workers share one database: tokens, retry keys and faults stay exact."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.emulator.helpers import ACCESS_TOKEN, BACKENDS, CHANNEL_SECRET, USER, text_messages

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
CALLS = 24

pytestmark = [
    pytest.mark.parametrize("emu_database", BACKENDS, indirect=True),
    pytest.mark.skipif(shutil.which("gunicorn") is None, reason="gunicorn is not installed"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn(emu_database, webhook):
    """The emulator under ``gunicorn -w 4``, configured through environment variables."""
    port = free_port()
    env = {
        **os.environ,
        "EMULATOR_DATABASE_URL": emu_database,
        "LINE_CHANNEL_SECRET": CHANNEL_SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "EMULATOR_WEBHOOK_URL": webhook.url,
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "4",
            "-b",
            f"127.0.0.1:{port}",
            "emulator:create_emulator_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base, process)
        requests.post(base + "/api/reset", timeout=10).raise_for_status()
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_for(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited"
        try:
            if requests.get(base + "/api/health", timeout=1).ok:
                return
        except requests.RequestException:  # not listening, or no worker booted yet
            pass
        time.sleep(0.1)
    raise AssertionError("gunicorn did not start")


def _in_parallel(call) -> list[int]:
    with ThreadPoolExecutor(max_workers=12) as pool:
        return list(pool.map(lambda _: call(), range(CALLS)))


def test_workers_share_tokens_retry_keys_and_faults(gunicorn):
    event = requests.post(gunicorn + "/api/events", json={"user": USER, "text": "x"}, timeout=10)
    token = event.json()["events"][0]["replyToken"]
    reply = {"replyToken": token, "messages": text_messages("ตอบ")}
    replies = _in_parallel(
        lambda: (
            requests.post(
                gunicorn + "/v2/bot/message/reply", json=reply, headers=AUTH, timeout=10
            ).status_code
        )
    )
    assert sorted(replies) == [200] + [400] * (CALLS - 1)

    headers = {**AUTH, "X-Line-Retry-Key": str(uuid.uuid4())}
    push = {"to": USER, "messages": text_messages("ส่ง")}
    pushes = _in_parallel(
        lambda: (
            requests.post(
                gunicorn + "/v2/bot/message/push", json=push, headers=headers, timeout=10
            ).status_code
        )
    )
    assert sorted(pushes) == [200] + [409] * (CALLS - 1)

    fault = {"endpoint": "info", "status": 503, "count": 5}
    requests.post(gunicorn + "/api/faults", json=fault, timeout=10).raise_for_status()
    infos = _in_parallel(
        lambda: requests.get(gunicorn + "/v2/bot/info", headers=AUTH, timeout=10).status_code
    )
    assert sorted(infos) == [200] * (CALLS - 5) + [503] * 5

    sent = requests.get(gunicorn + "/api/sent", timeout=10).json()["items"]
    assert [item["endpoint"] for item in sent] == ["reply", "push"]
