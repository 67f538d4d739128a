"""The control API (``/api/...``) that tests, the chat page and benchmarks drive the emulator with.

It needs no authentication: the emulator is a development tool and must never face the internet.

- ``POST /api/events``: ``{"user", "text"}``, or ``{"user", "type", "message"|"postback"|...}``, or
  ``{"user", "events": [partial, ...]}``; per event ``age_seconds``, ``timestamp``, ``mode``,
  ``content_base64`` + ``content_type``, ``display_text`` (what the user's chat showed, e.g. a
  postback's displayText: kept by the emulator for the chat page's history, never sent to the
  bot); per request ``redeliver``/``resend`` (webhookEventIds), ``signature``, ``raw_body``,
  ``destination``. Answers ``{"status", "body", "events"}`` (502 with ``"error"`` when the
  webhook cannot be reached). How each delivery of a stored event went (the webhook's status,
  or why it could not be reached) is kept with the event, for the chat page's history.
- ``GET /api/sent?user=&after=&endpoint=&limit=`` and ``GET /api/requests?endpoint=&after=&limit=``
  answer ``{"items": [...], "last": seq}``.
- ``POST|GET|DELETE /api/faults``: ``{"endpoint", "status", "count", "delay", "body", "when"}``.
- ``POST /api/quota``, ``POST /api/quota/consumption``, ``POST|GET /api/users``,
  ``POST /api/reset``, ``GET /api/health``.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify, request

from emulator import richmenus
from emulator.api import endpoint_names
from emulator.errors import LineApiError
from emulator.events import EventError, build_event, redelivered
from emulator.ids import BOT_USER_ID, iso_from_ms
from emulator.state import current_emulator
from emulator.webhook import deliver, sign, webhook_body

FAULT_ENDPOINTS = endpoint_names() | {"*"}
#: LINE's limit on an action's displayText, the longest text the chat shows for a postback.
MAX_DISPLAY_TEXT = 300
#: Keys of ``POST /api/events`` that describe the delivery, not an event.
_DELIVERY_KEYS = frozenset(
    {"events", "redeliver", "resend", "signature", "raw_body", "destination"}
)

bp = Blueprint("line_control", __name__, url_prefix="/api")


@bp.get("/health")
def health() -> Response:
    """Answer that the emulator is up."""
    return jsonify(ok=True)


@bp.post("/reset")
def reset() -> Response:
    """Delete all state (sent, requests, tokens, retry keys, faults, quota, events, users)."""
    current_emulator().store.reset()
    return jsonify({})


# -- webhook events ---------------------------------------------------------------------------


@bp.post("/events")
def post_events() -> tuple[Response, int]:
    """Deliver signed events to the webhook, synchronously, and report its answer."""
    emulator = current_emulator()
    store = emulator.store
    data = _json_object()
    if "raw_body" in data:
        if not isinstance(data["raw_body"], str):
            raise _bad_request("raw_body must be a string")
        body = data["raw_body"].encode("utf-8")
        events = _events_of(data["raw_body"])
    else:
        events = _replayed(data.get("redeliver"), "redeliver") + _replayed(
            data.get("resend"), "resend"
        )
        try:
            records = []
            for partial in _partials(data):
                partial, display_text = _display_text(partial)
                record = build_event(partial, data.get("user"), store.get_user)
                record.display_text = display_text
                records.append(record)
            for record in records:
                _switch_rich_menu(record.event, record.user_id)
            store.record_events(records)
        except EventError as exc:
            raise _bad_request(str(exc)) from None
        except sa.exc.IntegrityError:
            raise LineApiError(
                409, "A webhookEventId, replyToken or message id given is already in use"
            ) from None
        events += [record.event for record in records]
        body = webhook_body(data.get("destination") or BOT_USER_ID, events)

    signature = data.get("signature") or sign(emulator.channel_secret, body)
    url = emulator.config.webhook_url or f"{request.scheme}://{request.host}/callback"
    result = deliver(url, body, signature, emulator.config.webhook_timeout)
    if "raw_body" not in data:
        delivered = [e["webhookEventId"] for e in events if e.get("webhookEventId")]
        store.record_delivery(delivered, result.status, result.error)
    answer = {"status": result.status, "body": result.body, "events": events}
    if result.error:
        answer["error"] = result.error
        return jsonify(answer), 502
    return jsonify(answer), 200


def _switch_rich_menu(event: dict[str, Any], user_id: str | None) -> None:
    """A richmenuswitch tap: LINE links the alias's menu to the user, then sends the postback
    with the outcome in ``params.status``."""
    params = (event.get("postback") or {}).get("params")
    if event.get("type") != "postback" or not isinstance(params, dict):
        return
    alias = params.get("newRichMenuAliasId")
    if not isinstance(alias, str) or not user_id:
        return
    switched = richmenus.switch_to_alias(user_id, alias)
    params.setdefault("status", "SUCCESS" if switched else "RICHMENU_ALIAS_ID_NOTFOUND")


def _partials(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the partial events of a request: ``events``, or the request itself as one."""
    if "events" in data:
        if not isinstance(data["events"], list):
            raise _bad_request("events must be a list")
        return data["events"]
    if any(key in data for key in ("type", "message", "text")):
        return [{k: v for k, v in data.items() if k not in _DELIVERY_KEYS}]
    if "redeliver" in data or "resend" in data:
        return []
    raise _bad_request('give "text", "type", "events", "redeliver", "resend" or "raw_body"')


def _display_text(partial: Any) -> tuple[Any, str | None]:
    """Split a partial event's ``display_text`` (an instruction, not an event field) off it."""
    if not isinstance(partial, dict) or "display_text" not in partial:
        return partial, None
    rest = {k: v for k, v in partial.items() if k != "display_text"}
    shown = partial["display_text"]
    if shown is None:
        return rest, None
    if not isinstance(shown, str) or not 1 <= len(shown) <= MAX_DISPLAY_TEXT:
        raise EventError(f"display_text must be a string of 1 to {MAX_DISPLAY_TEXT} characters")
    return rest, shown


def _replayed(ids: Any, option: str) -> list[dict[str, Any]]:
    """Return stored events to send again: redelivered, or resent unchanged (a duplicate)."""
    if ids is None:
        return []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise _bad_request(f"{option} must be a list of webhookEventId strings")
    stored = current_emulator().store.load_events(ids)
    missing = [i for i in ids if i not in stored]
    if missing:
        raise LineApiError(404, f"Unknown webhookEventId: {', '.join(missing)}")
    if option == "redeliver":
        return [redelivered(stored[i]) for i in ids]
    return [stored[i] for i in ids]


def _events_of(raw_body: str) -> list[Any]:
    try:
        events = json.loads(raw_body).get("events", [])
    except (ValueError, AttributeError):
        return []
    return events if isinstance(events, list) else []


# -- what was sent, and the request log -------------------------------------------------------


@bp.get("/sent")
def get_sent() -> Response:
    """List what the bot sent and LINE accepted, in order (filters: user, after, endpoint)."""
    after = _int_arg("after", 0)
    rows = current_emulator().store.list_sent(
        user=request.args.get("user") or None,
        after=after,
        endpoint=request.args.get("endpoint") or None,
        limit=_int_arg("limit", None),
    )
    items = [
        {
            "seq": row["seq"],
            "endpoint": row["endpoint"],
            "to": row["recipients"],
            "messages": row["messages"],
            "sent_messages": row["sent_messages"],
            "retry_key": row["retry_key"],
            "reply_token": row["reply_token"],
            "request_id": row["request_id"],
            "at": iso_from_ms(row["at"]),
        }
        for row in rows
    ]
    return jsonify(items=items, last=items[-1]["seq"] if items else after)


@bp.get("/requests")
def get_requests() -> Response:
    """List every LINE API call received, refused ones too (filters: endpoint, after)."""
    after = _int_arg("after", 0)
    rows = current_emulator().store.list_requests(
        endpoint=request.args.get("endpoint") or None,
        after=after,
        limit=_int_arg("limit", None),
    )
    items = [{**row, "at": iso_from_ms(row["at"])} for row in rows]
    return jsonify(items=items, last=items[-1]["seq"] if items else after)


# -- faults -------------------------------------------------------------------------------------


@bp.post("/faults")
def add_fault() -> tuple[Response, int]:
    """Make the next ``count`` calls to an endpoint wait ``delay`` s and answer ``status``."""
    data = _json_object()
    endpoint = data.get("endpoint")
    if endpoint not in FAULT_ENDPOINTS:
        raise _bad_request(f"endpoint must be one of {', '.join(sorted(FAULT_ENDPOINTS))}")
    status = data.get("status") or 0
    if not _is_int(status) or not (status == 0 or 100 <= status <= 599):
        raise _bad_request("status must be 0 (no error) or an HTTP status")
    count = data.get("count", 1)
    if not _is_int(count) or count < 1:
        raise _bad_request("count must be a positive integer")
    delay = data.get("delay", 0.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise _bad_request("delay must be a number of seconds, 0 or more")
    body = data.get("body")
    if body is not None and not isinstance(body, dict):
        raise _bad_request("body must be a JSON object")
    when = data.get("when", "before")
    if when not in ("before", "after"):
        raise _bad_request('when must be "before" or "after"')
    fault = current_emulator().store.add_fault(endpoint, status, count, float(delay), body, when)
    return jsonify(fault), 201


@bp.get("/faults")
def list_faults() -> Response:
    """List the faults, with the uses each has left."""
    return jsonify(items=current_emulator().store.list_faults())


@bp.delete("/faults")
def clear_faults() -> Response:
    """Delete every fault."""
    return jsonify(deleted=current_emulator().store.clear_faults())


# -- quota and users ----------------------------------------------------------------------------


@bp.post("/quota")
def set_quota() -> Response:
    """Set the monthly limit: ``{"type": "limited", "value": N}`` or ``{"type": "none"}``."""
    data = _json_object()
    if data.get("type") == "none":
        limit = None
    elif data.get("type") == "limited" and _is_int(data.get("value")) and data["value"] >= 0:
        limit = data["value"]
    else:
        raise _bad_request('give {"type": "limited", "value": N} or {"type": "none"}')
    store = current_emulator().store
    store.set_quota_limit(limit)
    return jsonify({"type": "none"} if limit is None else {"type": "limited", "value": limit})


@bp.post("/quota/consumption")
def set_quota_consumption() -> Response:
    """Set this month's usage: ``{"totalUsage": n}``."""
    data = _json_object()
    usage = data.get("totalUsage")
    if not _is_int(usage) or usage < 0:
        raise _bad_request("totalUsage must be an integer, 0 or more")
    current_emulator().store.set_quota_usage(usage)
    return jsonify(totalUsage=usage)


@bp.post("/users")
def save_user() -> tuple[Response, int]:
    """Create or update a user: userId, and displayName, language, pictureUrl, followed."""
    data = _json_object()
    user_id = data.get("userId")
    if not isinstance(user_id, str) or not user_id:
        raise _bad_request("userId is required")
    for key in ("displayName", "language", "pictureUrl"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise _bad_request(f"{key} must be a string")
    if data.get("followed") is not None and not isinstance(data["followed"], bool):
        raise _bad_request("followed must be true or false")
    user = current_emulator().store.save_user(
        user_id,
        display_name=data.get("displayName"),
        language=data.get("language"),
        picture_url=data.get("pictureUrl"),
        followed=data.get("followed"),
    )
    return jsonify(user), 200


@bp.get("/users")
def list_users() -> Response:
    """List the users the emulator knows."""
    return jsonify(items=current_emulator().store.list_users())


# -- helpers ------------------------------------------------------------------------------------


def _json_object() -> dict[str, Any]:
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise _bad_request("the body must be a JSON object")
    return data


def _int_arg(name: str, default: int | None) -> int | None:
    value = request.args.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise _bad_request(f"{name} must be an integer") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad_request(message: str) -> LineApiError:
    return LineApiError(400, message)
