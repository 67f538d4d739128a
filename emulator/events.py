"""Building webhook events from partial ones, filling in what LINE fills in."""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable
from typing import Any

from emulator.ids import (
    new_message_id,
    new_quote_token,
    new_reply_token,
    new_webhook_event_id,
    now_ms,
)
from emulator.store import EventRecord

#: Event types that LINE gives a reply token (in ``active`` mode).
REPLYABLE = frozenset(
    {
        "message",
        "follow",
        "join",
        "memberJoined",
        "postback",
        "beacon",
        "accountLink",
        "things",
        "videoPlayComplete",
    }
)
#: Message types that carry a quote token.
QUOTABLE = frozenset({"text", "image", "video", "sticker"})
#: Message types that say who holds their content (files have none: LINE always does).
WITH_CONTENT_PROVIDER = frozenset({"image", "video", "audio"})
DEFAULT_CONTENT_TYPES = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/x-m4a",
    "file": "application/octet-stream",
}
_MESSAGE_DEFAULTS: dict[str, dict[str, Any]] = {
    "sticker": {"packageId": "446", "stickerId": "1988", "stickerResourceType": "STATIC"},
    "location": {"latitude": 16.4419, "longitude": 102.8360},  # Khon Kaen
    "video": {"duration": 5_000},
    "audio": {"duration": 5_000},
}
#: Fields LINE always sends with these event types, filled in when a test leaves them out.
_EVENT_DEFAULTS: dict[str, dict[str, Any]] = {
    "beacon": {"beacon": {"hwid": "d41d8cd98f", "type": "enter"}},
    "accountLink": {"link": {"result": "ok", "nonce": "emulator-nonce"}},
    "videoPlayComplete": {"videoPlayComplete": {"trackingId": "emulator-tracking-id"}},
    "things": {"things": {"deviceId": "t0000000000000000", "type": "link"}},
}
#: Keys of a partial event that are instructions to the emulator, not event fields.
_INSTRUCTION_KEYS = frozenset({"user", "text", "age_seconds", "content_base64", "content_type"})

UserLookup = Callable[[str], dict[str, Any] | None]


class EventError(ValueError):
    """A partial event that cannot be completed."""


def build_event(
    partial: dict[str, Any], default_user: str | None, lookup_user: UserLookup
) -> EventRecord:
    """Complete a partial event like LINE would and return it with what it changes."""
    if not isinstance(partial, dict):
        raise EventError("each event must be a JSON object")
    event = {k: copy.deepcopy(v) for k, v in partial.items() if k not in _INSTRUCTION_KEYS}
    if "text" in partial and "message" not in event:
        event["message"] = {"type": "text", "text": partial["text"]}
    kind = event.setdefault("type", "message" if "message" in event else None)
    if not kind:
        raise EventError("an event needs a type, a message or a text")

    user_id = partial.get("user") or default_user
    if "source" not in event:
        if not user_id:
            raise EventError("an event needs a user (or a source)")
        event["source"] = {"type": "user", "userId": user_id}
    user_id = event["source"].get("userId") if isinstance(event["source"], dict) else None

    event["timestamp"] = _timestamp(event.get("timestamp"), partial.get("age_seconds"))
    event.setdefault("webhookEventId", new_webhook_event_id(event["timestamp"]))
    event.setdefault("mode", "active")
    event.setdefault("deliveryContext", {"isRedelivery": False})
    if kind in REPLYABLE and event["mode"] == "active":
        event.setdefault("replyToken", new_reply_token())

    for key, value in _EVENT_DEFAULTS.get(kind, {}).items():
        event.setdefault(key, copy.deepcopy(value))
    event = {"type": kind, **event}  # LINE puts the type first; nicer to read
    record = EventRecord(event=event, user_id=user_id)
    if kind == "message":
        _complete_message(event, partial, record)
    elif kind == "postback":
        postback = event.setdefault("postback", {})
        if not isinstance(postback, dict):
            raise EventError("postback must be an object")
        postback.setdefault("data", "")
    elif kind == "follow":
        before = lookup_user(user_id) if user_id else None
        event.setdefault("follow", {"isUnblocked": bool(before and not before["followed"])})
        record.followed = True
    elif kind == "unfollow":
        record.followed = False
    return record


def redelivered(event: dict[str, Any]) -> dict[str, Any]:
    """Return a stored event as LINE redelivers it: same id and token, ``isRedelivery`` true."""
    again = copy.deepcopy(event)
    again["deliveryContext"] = {**again.get("deliveryContext", {}), "isRedelivery": True}
    return again


def _timestamp(given: Any, age_seconds: Any) -> int:
    if given is not None:
        try:
            return int(given)
        except (TypeError, ValueError):
            raise EventError("timestamp must be milliseconds since the epoch") from None
    try:
        age_ms = round(float(age_seconds or 0) * 1000)
    except (TypeError, ValueError):
        raise EventError("age_seconds must be a number") from None
    return now_ms() - age_ms


def _complete_message(event: dict[str, Any], partial: dict[str, Any], record: EventRecord) -> None:
    message = event.get("message")
    if not isinstance(message, dict):
        raise EventError("a message event needs a message object")
    kind = message.setdefault("type", "text" if "text" in message else None)
    if kind == "text" and not isinstance(message.get("text"), str):
        raise EventError("a text message needs a text")
    if not kind:
        raise EventError("a message needs a type")
    message.setdefault("id", new_message_id())
    if kind in QUOTABLE:
        message.setdefault("quoteToken", new_quote_token())
    if kind in WITH_CONTENT_PROVIDER:
        message.setdefault("contentProvider", {"type": "line"})
    for key, value in _MESSAGE_DEFAULTS.get(kind, {}).items():
        message.setdefault(key, value)

    if "content_base64" in partial:
        try:
            record.content = base64.b64decode(partial["content_base64"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise EventError("content_base64 is not valid Base64") from None
        record.content_type = partial.get("content_type") or DEFAULT_CONTENT_TYPES.get(
            kind, "application/octet-stream"
        )
    if kind == "file":
        message.setdefault("fileName", "file.bin")
        message.setdefault("fileSize", len(record.content or b""))
