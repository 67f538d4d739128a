"""Signing and delivering webhook requests, the way the LINE Platform does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import requests

MAX_BODY_ECHO = 2_000
USER_AGENT = "LineBotWebhook/2.0"


@dataclass(frozen=True)
class Delivery:
    """What the webhook answered (status None when it could not be reached)."""

    status: int | None
    body: str
    error: str | None = None


def sign(channel_secret: str, body: bytes) -> str:
    """Return the ``X-Line-Signature`` of a body: Base64 HMAC-SHA256 with the channel secret."""
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def webhook_body(destination: str, events: list[dict[str, Any]]) -> bytes:
    """Return the JSON body of a webhook request, as UTF-8 bytes."""
    payload = {"destination": destination, "events": events}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def deliver(url: str, body: bytes, signature: str, timeout: float) -> Delivery:
    """POST a signed body to the webhook URL and report its answer."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Line-Signature": signature,
    }
    try:
        response = requests.post(url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        return Delivery(None, "", f"{type(exc).__name__}: {exc}")
    return Delivery(response.status_code, response.text[:MAX_BODY_ECHO])
