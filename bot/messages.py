"""Builders of LINE message objects (as dicts the SDK validates when they are sent)."""

from __future__ import annotations

MAX_TEXT = 5000


def text(body: str, quick_replies: list[dict] | None = None) -> dict:
    """A text message, cut to LINE's limit, with optional quick-reply items."""
    message: dict = {"type": "text", "text": body[:MAX_TEXT]}
    if quick_replies:
        message["quickReply"] = {"items": quick_replies[:13]}
    return message
