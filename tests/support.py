"""Helpers for tests: the emulator's control API, signing, and running worker processes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def sign(body: str | bytes, secret: str) -> str:
    """LINE's signature of a body: Base64 HMAC-SHA256 with the channel secret."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


class Emulator:
    """The LINE emulator's control API, over real HTTP."""

    def __init__(self, base_url: str):
        self.base = base_url.rstrip("/") + "/emulator"
        self.http = requests.Session()

    def reset(self) -> None:
        self.http.post(self.base + "/api/reset", timeout=10).raise_for_status()

    def events(self, **body) -> dict:
        """POST /api/events with this body; return the emulator's answer."""
        response = self.http.post(self.base + "/api/events", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def text(self, user: str, text: str, **extra) -> dict:
        return self.events(user=user, text=text, **extra)

    def sent(self, user: str | None = None, after: int = 0, endpoint: str | None = None) -> list:
        params = {"after": after}
        if user:
            params["user"] = user
        if endpoint:
            params["endpoint"] = endpoint
        response = self.http.get(self.base + "/api/sent", params=params, timeout=10)
        response.raise_for_status()
        return response.json()["items"]

    def requests(self, endpoint: str | None = None) -> list:
        params = {"endpoint": endpoint} if endpoint else {}
        response = self.http.get(self.base + "/api/requests", params=params, timeout=10)
        response.raise_for_status()
        return response.json()["items"]

    def fault(self, endpoint: str, status: int = 500, count: int = 1, delay: float = 0.0,
              when: str = "before", body: dict | None = None) -> None:
        payload = {"endpoint": endpoint, "status": status, "count": count, "delay": delay,
                   "when": when}
        if body is not None:
            payload["body"] = body
        self.http.post(self.base + "/api/faults", json=payload, timeout=10).raise_for_status()

    def quota(self, **body) -> None:
        self.http.post(self.base + "/api/quota", json=body, timeout=10).raise_for_status()


def texts(items: list) -> list[str]:
    """The text of every text message in a list of sent items."""
    return [m["text"] for item in items for m in item["messages"] if m.get("type") == "text"]


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05):
    """Poll until predicate() is truthy; return its value or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def flask_env(app, **extra) -> dict:
    """Environment for a `flask --app ...` subprocess on the test app's database."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": app.config["TEST_DATABASE_URL"],
            "LINE_EMULATOR": "1",
            "LINE_CHANNEL_SECRET": app.config["LINE_CHANNEL_SECRET"],
            "LINE_CHANNEL_ACCESS_TOKEN": app.config["LINE_CHANNEL_ACCESS_TOKEN"],
            "LINE_API_BASE_URL": app.config["LINE_API_BASE_URL"],
            "LINE_DATA_API_BASE_URL": app.config["LINE_DATA_API_BASE_URL"],
            "WORKER_IN_PROCESS": "0",
            "SCHEDULER_INTERVAL": "0",  # workers leave the 08:00 job to the tests that run it
            "SECRET_KEY": app.config["SECRET_KEY"],
            "PYTHONPATH": str(ROOT),
        }
    )
    env.pop("SAMOE_ENV", None)
    env.update(extra)
    return env


def flask_command(args: list[str], env: dict, app_module: str = "wsgi", **kwargs):
    """Start `flask --app MODULE ARGS...` from the project root."""
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", app_module, *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs,
    )


def body_json(**events) -> str:
    return json.dumps(events, ensure_ascii=False)


class Chat:
    """One LINE user talking to the bot through the emulator; each step drains the worker.

    `say(text)` and `tap(label)` return the messages the bot sent in answer."""

    def __init__(self, emulator: Emulator, worker, user: str):
        self.emulator = emulator
        self.worker = worker
        self.user = user
        self.seen = 0
        self.last: list[dict] = []

    def _answer(self) -> list[dict]:
        self.worker.burst()
        items = self.emulator.sent(self.user, after=self.seen)
        if items:
            self.seen = max(i["seq"] for i in items)
        self.last = [m for i in items for m in i["messages"]]
        return self.last

    def follow(self) -> list[dict]:
        self.emulator.events(user=self.user, type="follow")
        return self._answer()

    def say(self, text: str) -> list[dict]:
        self.emulator.text(self.user, text)
        return self._answer()

    def quick_replies(self) -> list[dict]:
        """The quick-reply actions offered with the last answer."""
        for message in reversed(self.last):
            if "quickReply" in message:
                return [item["action"] for item in message["quickReply"]["items"]]
        return []

    def labels(self) -> list[str]:
        return [action["label"] for action in self.quick_replies()]

    def tap(self, label: str) -> list[dict]:
        """Tap the quick reply with this label, as LINE would send it."""
        action = next(a for a in self.quick_replies() if a["label"] == label)
        if action["type"] == "message":
            return self.say(action["text"])
        self.emulator.events(user=self.user, type="postback",
                             postback={"data": action["data"]})
        return self._answer()

    def texts(self) -> list[str]:
        return [m["text"] for m in self.last if m.get("type") == "text"]
