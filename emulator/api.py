"""The emulated LINE Messaging API (``/v2/bot/...``), with LINE's limits, errors and headers."""

from __future__ import annotations

import functools
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from emulator import errors
from emulator.errors import LineApiError
from emulator.ids import BOT_USER_ID, is_uuid, new_message_id, new_quote_token
from emulator.limits import check_loading, check_send_request, summary
from emulator.state import current_emulator
from emulator.store import Fault, InvalidReplyToken, QuotaExceeded, RetryKeyAccepted

RETRY_KEY_HEADER = "X-Line-Retry-Key"
ACCEPTED_REQUEST_ID_HEADER = "X-Line-Accepted-Request-Id"
#: Sent message types that LINE returns a quote token for.
QUOTABLE_SENT = frozenset({"text", "sticker", "image", "video"})
BOT_INFO = {
    "userId": BOT_USER_ID,
    "basicId": "@samoe",
    "displayName": "เสมอ",
    "chatMode": "bot",
    "markAsReadMode": "auto",
}

bp = Blueprint("line_api", __name__)
# Flask endpoint -> the emulator's endpoint name (used by faults and the request log).
_ENDPOINT_NAMES: dict[str, str] = {}


def api_route(rule: str, name: str, methods: tuple[str, ...] = ("POST",)) -> Callable:
    """Register a LINE API view under ``name``, with injected faults applied around it."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def with_faults(**kwargs: Any) -> Any:
            return _run_with_fault(name, functools.partial(view, **kwargs))

        bp.add_url_rule(rule, view_func=with_faults, methods=list(methods))
        _ENDPOINT_NAMES[f"{bp.name}.{view.__name__}"] = name
        return with_faults

    return decorate


def endpoint_names() -> frozenset[str]:
    """Return the names of the LINE API endpoints (as used by faults and the request log)."""
    return frozenset(_ENDPOINT_NAMES.values())


@bp.before_request
def _authenticate() -> None:
    g.api_endpoint = _ENDPOINT_NAMES.get(request.endpoint or "", "unknown")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise LineApiError(401, errors.MSG_AUTH_MISSING)
    expected = current_emulator().config.channel_access_token
    if expected is not None and not hmac.compare_digest(token.strip(), expected):
        raise LineApiError(401, errors.MSG_AUTH_FAILED)


@bp.after_request
def _log_request(response: Response) -> Response:
    if g.get("request_logged"):
        return response
    error = None
    if response.status_code >= 400 and response.is_json:
        error = (response.get_json(silent=True) or {}).get("message")
    current_emulator().store.record_request(**_request_log(response.status_code, error))
    return response


def _request_log(status: int, error: str | None = None) -> dict[str, Any]:
    """This call's entry in the request log."""
    return {
        "endpoint": getattr(g, "api_endpoint", "unknown"),
        "method": request.method,
        "path": request.path,
        "status": status,
        "error": error,
        "retry_key": request.headers.get(RETRY_KEY_HEADER),
        "request_id": g.request_id,
    }


def _log_with_send(status: int = 200) -> dict[str, Any] | None:
    """The log entry a send writes in its own transaction when the call answers ``status`` if
    the send succeeds (no fault was taken for it); the view then sets ``g.request_logged`` so
    that `_log_request` skips it. None: `_log_request` logs the call once its response is
    known."""
    return _request_log(status) if g.get("no_fault") else None


# -- sending --------------------------------------------------------------------------------


@api_route("/v2/bot/message/reply", "reply")
def reply() -> Response:
    """Send a reply with a single-use reply token valid for 60 seconds."""
    if RETRY_KEY_HEADER in request.headers:
        raise LineApiError(400, errors.MSG_RETRY_KEY_NOT_ALLOWED)
    body = _send_body("reply")
    sent = _sent_messages(body["messages"])
    request_log = _log_with_send()
    try:
        current_emulator().store.send_reply(
            body["replyToken"], body["messages"], sent, g.request_id, request_log
        )
    except InvalidReplyToken:
        raise LineApiError(400, errors.MSG_INVALID_REPLY_TOKEN) from None
    g.request_logged = request_log is not None
    return jsonify(sentMessages=sent)


@api_route("/v2/bot/message/push", "push")
def push() -> Response:
    """Send messages to one user, group or room."""
    body = _send_body("push")
    sent = _sent_messages(body["messages"])
    _send("push", [body["to"]], body, sent)
    return jsonify(sentMessages=sent)


@api_route("/v2/bot/message/multicast", "multicast")
def multicast() -> Response:
    """Send messages to up to 500 users."""
    body = _send_body("multicast")
    _send("multicast", list(body["to"]), body, None)
    return jsonify({})


@api_route("/v2/bot/message/broadcast", "broadcast")
def broadcast() -> Response:
    """Send messages to every user who follows the bot."""
    _send("broadcast", None, _send_body("broadcast"), None)
    return jsonify({})


@api_route("/v2/bot/message/narrowcast", "narrowcast")
def narrowcast() -> Response:
    """Send messages to an audience; the emulator sends to every followed user."""
    _send("narrowcast", None, _send_body("narrowcast"), None, status=202)
    return jsonify({}), 202


def _send_body(endpoint: str) -> dict[str, Any]:
    """Read a send request: check the retry key's form, parse JSON, enforce the limits."""
    retry_key = request.headers.get(RETRY_KEY_HEADER)
    if retry_key is not None and not is_uuid(retry_key):
        raise LineApiError(400, errors.MSG_RETRY_KEY_INVALID)
    body = _json_object()
    details = check_send_request(endpoint, body)
    if details:
        raise LineApiError(400, summary(details), details)
    return body


def _send(
    endpoint: str,
    recipients: list[str] | None,
    body: dict[str, Any],
    sent: list[dict[str, Any]] | None,
    status: int = 200,
) -> None:
    request_log = _log_with_send(status)
    try:
        current_emulator().store.send(
            endpoint,
            recipients,
            body["messages"],
            sent,
            request.headers.get(RETRY_KEY_HEADER),
            g.request_id,
            request_log,
        )
    except RetryKeyAccepted as first:
        extra = {"sentMessages": first.sent_messages} if first.sent_messages else None
        raise LineApiError(
            409,
            errors.MSG_RETRY_KEY_ACCEPTED,
            headers={ACCEPTED_REQUEST_ID_HEADER: first.request_id},
            extra=extra,
        ) from None
    except QuotaExceeded:
        raise LineApiError(429, errors.MSG_MONTHLY_LIMIT) from None
    g.request_logged = request_log is not None


def _sent_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the ``sentMessages`` entries: a new id, and a quote token where LINE gives one."""
    sent = []
    for message in messages:
        entry = {"id": new_message_id()}
        if message.get("type") in QUOTABLE_SENT:
            entry["quoteToken"] = new_quote_token()
        sent.append(entry)
    return sent


# -- other endpoints ------------------------------------------------------------------------


@api_route("/v2/bot/chat/loading/start", "loading")
def loading_start() -> Response:
    """Show the loading animation (accepted and forgotten)."""
    body = _json_object()
    details = check_loading(body)
    if details:
        raise LineApiError(400, summary(details), details)
    return jsonify({}), 202


@api_route("/v2/bot/message/quota", "quota", methods=("GET",))
def quota() -> Response:
    """Return the monthly limit."""
    limit, _usage = current_emulator().store.get_quota()
    return jsonify({"type": "none"} if limit is None else {"type": "limited", "value": limit})


@api_route("/v2/bot/message/quota/consumption", "quota", methods=("GET",))
def quota_consumption() -> Response:
    """Return the number of messages counted this month."""
    _limit, usage = current_emulator().store.get_quota()
    return jsonify(totalUsage=usage)


@api_route("/v2/bot/profile/<user_id>", "profile", methods=("GET",))
def profile(user_id: str) -> Response:
    """Return the profile of a user who follows the bot."""
    user = current_emulator().store.get_user(user_id)
    if user is None or not user["followed"]:
        raise LineApiError(404, errors.MSG_NOT_FOUND)
    body = {"userId": user["userId"], "displayName": user["displayName"]}
    if user["pictureUrl"]:
        body["pictureUrl"] = user["pictureUrl"]
    body["language"] = user["language"]
    return jsonify(body)


@api_route("/v2/bot/message/<message_id>/content", "content", methods=("GET",))
def content(message_id: str) -> Response:
    """Return the bytes sent with a user's image, video, audio or file message."""
    found = current_emulator().store.get_content(message_id)
    if found is None:
        raise LineApiError(404, errors.MSG_NOT_FOUND)
    content_type, data = found
    return Response(data, mimetype=content_type)


@api_route("/v2/bot/info", "info", methods=("GET",))
def bot_info() -> Response:
    """Return the bot's basic information."""
    return jsonify(BOT_INFO)


# -- helpers --------------------------------------------------------------------------------


def _json_object() -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(as_text=True))
    except ValueError:
        raise LineApiError(400, errors.MSG_BAD_JSON) from None
    if not isinstance(body, dict):
        detail = {"message": "Must be a JSON object", "property": ""}
        raise LineApiError(400, summary([detail]), [detail])
    return body


def _run_with_fault(name: str, call: Callable[[], Any]) -> Any:
    """Run a view with the next fault set for ``name``, before or after carrying it out."""
    fault = current_emulator().store.take_fault(name)
    if fault is None:
        g.no_fault = True
        return call()
    if fault.when == "before":
        time.sleep(fault.delay)
        return _fault_response(fault) if fault.replaces_response else call()
    try:
        result = call()
    except LineApiError as exc:
        result = exc.to_response()
    time.sleep(fault.delay)
    return _fault_response(fault) if fault.replaces_response else result


def _fault_response(fault: Fault) -> Response:
    body = fault.body
    if body is None:
        body = {"message": errors.default_message(fault.status)}
    response = jsonify(body)
    response.status_code = fault.status
    return response


# The rich menu endpoints live in their own module and register on this blueprint.
from emulator import richmenus  # noqa: E402,F401
