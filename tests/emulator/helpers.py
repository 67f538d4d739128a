"""Test helpers: a client for the emulator's HTTP APIs and a recording webhook receiver."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import requests
from linebot.v3 import WebhookParser
from linebot.v3.webhook import SignatureValidator
from werkzeug.wrappers import Request, Response

ACCESS_TOKEN = "emulator-test-access-token"
CHANNEL_SECRET = "0123456789abcdef0123456789abcdef"
USER = "U" + "1" * 32
OTHER = "U" + "2" * 32
#: Values of ``emu_database`` for tests that must hold on both databases.
BACKENDS = ["sqlite", "postgresql"]


@dataclass
class Received:
    """One request the webhook receiver got."""

    headers: dict[str, str]
    body: str
    signature_valid: bool
    events: list[Any] = field(default_factory=list)
    parse_error: str | None = None


class WebhookReceiver:
    """A WSGI webhook that records requests, checks signatures with the SDK, answers ``status``.

    Events of a correctly signed request are also parsed with the SDK's WebhookParser, which
    proves that the emulator's events have the shapes the SDK expects.
    """

    def __init__(self, channel_secret: str) -> None:
        self.validator = SignatureValidator(channel_secret)
        self.parser = WebhookParser(channel_secret)
        self.received: list[Received] = []
        self.status = 200
        self.answer = "OK"
        self.on_request = None  # optional callable(Received), run before answering
        self.url = ""
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        request = Request(environ)
        body = request.get_data(as_text=True)
        signature = request.headers.get("X-Line-Signature", "")
        record = Received(dict(request.headers), body, self.validator.validate(body, signature))
        if record.signature_valid:
            try:
                record.events = self.parser.parse(body, signature)
            except Exception as exc:  # noqa: BLE001 - recorded for the test to assert on
                record.parse_error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.received.append(record)
        if self.on_request is not None:
            self.on_request(record)
        return Response(self.answer, status=self.status)(environ, start_response)

    @property
    def last(self) -> Received:
        """The last request received."""
        return self.received[-1]

    def last_json(self) -> dict[str, Any]:
        """The JSON body of the last request."""
        return json.loads(self.last.body)


class EmulatorClient:
    """The emulator's control API and raw LINE API calls, over real HTTP."""

    def __init__(self, url: str, app) -> None:
        self.url = url
        self.app = app
        self.http = requests.Session()

    def close(self) -> None:
        """Close the HTTP session."""
        self.http.close()

    @property
    def store(self):
        """The emulator's store (direct database access)."""
        return self.app.extensions["line_emulator"].store

    # -- control API --------------------------------------------------------------------

    def control(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call the control API; return the raw response."""
        return self.http.request(method, f"{self.url}/api{path}", timeout=30, **kwargs)

    def events(self, **body) -> dict[str, Any]:
        """POST /api/events and return the answer (asserting a 200)."""
        response = self.control("POST", "/events", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def text(self, user: str = USER, text: str = "สวัสดี", **extra) -> dict[str, Any]:
        """Send a text message event from ``user``; return the delivered event."""
        return self.events(user=user, text=text, **extra)["events"][0]

    def reply_token(self, user: str = USER, **extra) -> str:
        """Send a text message event and return its reply token."""
        return self.text(user, **extra)["replyToken"]

    def sent(self, **params) -> list[dict[str, Any]]:
        """GET /api/sent items."""
        response = self.control("GET", "/sent", params=params)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def requests(self, endpoint: str | None = None, **params) -> list[dict[str, Any]]:
        """GET /api/requests items."""
        if endpoint:
            params["endpoint"] = endpoint
        response = self.control("GET", "/requests", params=params)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def fault(self, endpoint: str, **spec) -> dict[str, Any]:
        """POST /api/faults."""
        response = self.control("POST", "/faults", json={"endpoint": endpoint, **spec})
        assert response.status_code == 201, response.text
        return response.json()

    def quota(self, **body) -> None:
        """POST /api/quota."""
        assert self.control("POST", "/quota", json=body).status_code == 200

    # -- LINE API ------------------------------------------------------------------------

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = ACCESS_TOKEN,
        headers: dict[str, str] | None = None,
        data: str | bytes | None = None,
    ) -> requests.Response:
        """Call the LINE API with a Bearer token (``token=None``: no Authorization header)."""
        all_headers = {"Content-Type": "application/json"}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        if data is None and body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        return self.http.request(
            method, f"{self.url}{path}", data=data, headers=all_headers, timeout=30
        )

    def push(self, body: dict[str, Any], retry_key: str | None = None) -> requests.Response:
        """POST /v2/bot/message/push, optionally with a retry key."""
        headers = {"X-Line-Retry-Key": retry_key} if retry_key else {}
        return self.api("POST", "/v2/bot/message/push", body, headers=headers)

    def reply(self, token: str, *texts: str) -> requests.Response:
        """POST /v2/bot/message/reply with text messages."""
        messages = [{"type": "text", "text": t} for t in texts or ("ok",)]
        return self.api(
            "POST", "/v2/bot/message/reply", {"replyToken": token, "messages": messages}
        )


def text_messages(*texts: str) -> list[dict[str, str]]:
    """Text message objects."""
    return [{"type": "text", "text": t} for t in texts]
