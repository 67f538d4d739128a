"""LINE's documented limits on request bodies, reported as LINE-style error details.

Every body is checked here first (precise ``property`` paths), then parsed with the SDK's own
request models, which refuse what the OpenAPI schema refuses.
"""

from __future__ import annotations

import json
from typing import Any

from linebot.v3.messaging import (
    BroadcastRequest,
    MulticastRequest,
    NarrowcastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
)

MAX_MESSAGES = 5
MAX_TEXT = 5_000
MAX_QUICK_REPLY_ITEMS = 13
MAX_ACTION_LABEL = 20
MAX_ACTION_DATA = 300
MAX_ACTION_TEXT = 300
MAX_ALT_TEXT = 1_500
MAX_BUBBLE_BYTES = 30_000
MAX_CAROUSEL_BUBBLES = 12
MAX_CAROUSEL_BYTES = 50_000
MAX_MULTICAST_TO = 500
MAX_URI = 1_000
URI_SCHEMES = frozenset({"http", "https", "line", "tel"})
LOADING_SECONDS = range(5, 61, 5)

SDK_MODELS = {
    "reply": ReplyMessageRequest,
    "push": PushMessageRequest,
    "multicast": MulticastRequest,
    "broadcast": BroadcastRequest,
    "narrowcast": NarrowcastRequest,
}

Detail = dict[str, str]


def summary(details: list[Detail]) -> str:
    """Return LINE's top-level error message for a list of body errors."""
    return f"The request body has {len(details)} error(s)"


def check_send_request(endpoint: str, body: dict[str, Any]) -> list[Detail]:
    """Check a reply/push/multicast/broadcast/narrowcast body; return the errors found."""
    details = check_recipients(endpoint, body)
    details += check_messages(body.get("messages"))
    if details:
        return details
    return sdk_errors(endpoint, body)


def check_recipients(endpoint: str, body: dict[str, Any]) -> list[Detail]:
    """Check ``to``: a non-empty id for push, 1 to 500 ids for multicast."""
    to = body.get("to")
    if endpoint == "push" and (not isinstance(to, str) or not to):
        return [_detail("May not be empty", "to")]
    if endpoint == "multicast":
        if not isinstance(to, list) or not 1 <= len(to) <= MAX_MULTICAST_TO:
            return [_size(1, MAX_MULTICAST_TO, "to")]
        return [_detail("May not be empty", f"to[{i}]") for i, v in enumerate(to) if not v]
    return []


def check_messages(messages: Any) -> list[Detail]:
    """Check the message objects of a send request."""
    if not isinstance(messages, list):
        return []  # the SDK models report a missing or mistyped list
    if not 1 <= len(messages) <= MAX_MESSAGES:
        return [_size(1, MAX_MESSAGES, "messages")]
    details: list[Detail] = []
    for index, message in enumerate(messages):
        if isinstance(message, dict):
            details += _check_message(message, f"messages[{index}]")
    return details


def check_loading(body: dict[str, Any]) -> list[Detail]:
    """Check a loading-animation body: a chat id and 5 to 60 seconds in steps of 5."""
    details = []
    chat_id = body.get("chatId")
    if not isinstance(chat_id, str) or not chat_id:
        details.append(_detail("May not be empty", "chatId"))
    seconds = body.get("loadingSeconds", 20)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds not in LOADING_SECONDS:
        details.append(_detail("Must be a multiple of 5 between 5 and 60", "loadingSeconds"))
    return details


def sdk_errors(endpoint: str, body: dict[str, Any]) -> list[Detail]:
    """Parse the body with the SDK's request model; return its complaints as details."""
    try:
        SDK_MODELS[endpoint].from_dict(body)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        errors = getattr(exc, "errors", None)
        if callable(errors):
            return [
                _detail(err["msg"], ".".join(str(part) for part in err["loc"])) for err in errors()
            ]
        return [_detail(str(exc).splitlines()[0][:300], "messages")]
    return []


def compact_size(value: Any) -> int:
    """Return the size in bytes of ``value`` as compact UTF-8 JSON."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _check_message(message: dict[str, Any], path: str) -> list[Detail]:
    details: list[Detail] = []
    kind = message.get("type")
    if kind == "text":
        details += _length(message.get("text"), 1, MAX_TEXT, f"{path}.text")
    if kind in ("flex", "template"):
        details += _length(message.get("altText"), 1, MAX_ALT_TEXT, f"{path}.altText")
    if kind == "flex" and isinstance(message.get("contents"), dict):
        details += _check_flex_container(message["contents"], f"{path}.contents")
    quick_reply = message.get("quickReply")
    if isinstance(quick_reply, dict):
        items = quick_reply.get("items")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_QUICK_REPLY_ITEMS:
            details.append(_size(1, MAX_QUICK_REPLY_ITEMS, f"{path}.quickReply.items"))
    # Imagemap actions are areas with their own limits, not the actions checked here.
    skip = ("actions",) if kind == "imagemap" else ()
    details += _check_actions(message, path, skip)
    return details


def _check_flex_container(container: dict[str, Any], path: str) -> list[Detail]:
    if container.get("type") == "bubble":
        return _bubble_size(container, path)
    if container.get("type") != "carousel":
        return []
    bubbles = container.get("contents")
    if not isinstance(bubbles, list) or not 1 <= len(bubbles) <= MAX_CAROUSEL_BUBBLES:
        return [_size(1, MAX_CAROUSEL_BUBBLES, f"{path}.contents")]
    details: list[Detail] = []
    for index, bubble in enumerate(bubbles):
        details += _bubble_size(bubble, f"{path}.contents[{index}]")
    if compact_size(container) > MAX_CAROUSEL_BYTES:
        details.append(_detail(f"Must be {MAX_CAROUSEL_BYTES} bytes or less", path))
    return details


def _bubble_size(bubble: Any, path: str) -> list[Detail]:
    if compact_size(bubble) > MAX_BUBBLE_BYTES:
        return [_detail(f"Must be {MAX_BUBBLE_BYTES} bytes or less", path)]
    return []


def _check_actions(node: Any, path: str, skip: tuple[str, ...] = ()) -> list[Detail]:
    """Find actions anywhere under ``node`` (quick replies, templates, flex) and check them."""
    details: list[Detail] = []
    if isinstance(node, list):
        for index, item in enumerate(node):
            details += _check_actions(item, f"{path}[{index}]")
        return details
    if not isinstance(node, dict):
        return details
    for key, value in node.items():
        child = f"{path}.{key}"
        if key in skip:
            continue
        if key in ("action", "defaultAction") and isinstance(value, dict):
            details += _check_action(value, child)
        elif key == "actions" and isinstance(value, list):
            for index, action in enumerate(value):
                if isinstance(action, dict):
                    details += _check_action(action, f"{child}[{index}]")
        details += _check_actions(value, child)
    return details


def _check_action(action: dict[str, Any], path: str) -> list[Detail]:
    details = _length(action.get("label"), 0, MAX_ACTION_LABEL, f"{path}.label")
    details += _length(action.get("data"), 0, MAX_ACTION_DATA, f"{path}.data")
    details += _length(action.get("displayText"), 0, MAX_ACTION_TEXT, f"{path}.displayText")
    if action.get("type") == "message":
        details += _length(action.get("text"), 0, MAX_ACTION_TEXT, f"{path}.text")
    elif action.get("type") == "uri":
        if isinstance(action.get("uri"), str):
            details += _check_uri(action["uri"], f"{path}.uri")
        alt = action.get("altUri")
        if isinstance(alt, dict) and isinstance(alt.get("desktop"), str):
            details += _check_uri(alt["desktop"], f"{path}.altUri.desktop")
    return details


def _check_uri(uri: str, prop: str) -> list[Detail]:
    """A URI LINE opens from an action (in a message or a rich menu): at most 1,000
    characters, http(s), line or tel, no white space."""
    if not 1 <= len(uri) <= MAX_URI:
        return [_detail(f"Length must be between 1 and {MAX_URI}", prop)]
    scheme, colon, rest = uri.partition(":")
    if not colon or not rest or scheme.lower() not in URI_SCHEMES:
        return [_detail("invalid uri scheme", prop)]
    if any(c.isspace() for c in uri):
        return [_detail("invalid uri", prop)]
    return []


def _length(value: Any, low: int, high: int, prop: str) -> list[Detail]:
    if isinstance(value, str) and not low <= len(value) <= high:
        return [_detail(f"Length must be between {low} and {high}", prop)]
    return []


def _size(low: int, high: int, prop: str) -> Detail:
    return _detail(f"Size must be between {low} and {high}", prop)


def _detail(message: str, prop: str) -> Detail:
    return {"message": message, "property": prop}
