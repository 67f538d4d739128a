"""The one LINE client: the SDK's MessagingApi with timeouts, no hidden retries, and results
classified so the sender can apply the reply-or-push and retry rules."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    ApiResponse,
    Configuration,
    MessagingApi,
    MessagingApiBlob,
    ShowLoadingAnimationRequest,
)

log = logging.getLogger(__name__)

#: calls whose success is logged at DEBUG only (one per event; the outbox row keeps the id)
_QUIET_OK = frozenset({"reply", "push"})

OK = "ok"
CONFLICT = "conflict"  # 409 on a retry key already accepted: the message was delivered
INVALID_REPLY_TOKEN = "invalid_reply_token"
RATE_LIMITED = "rate_limited"
MONTHLY_LIMIT = "monthly_limit"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
CLIENT_ERROR = "client_error"

RETRYABLE = {RATE_LIMITED, SERVER_ERROR, TIMEOUT}


@dataclass(frozen=True)
class SendResult:
    """What one call to LINE came to."""

    outcome: str
    status: int | None = None
    request_id: str | None = None
    message: str = ""

    @property
    def delivered(self) -> bool:
        return self.outcome in (OK, CONFLICT)

    @property
    def unclear(self) -> bool:
        """The call may or may not have been carried out (5xx, timeout, lost connection)."""
        return self.outcome in (SERVER_ERROR, TIMEOUT)


def _error_message(body) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        return str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError, TypeError):
        return (body or "")[:200]


def classify_error(status: int, body) -> str:
    """Map an HTTP error from LINE to an outcome."""
    message = _error_message(body)
    if status == 409:
        return CONFLICT
    if status == 429:
        return MONTHLY_LIMIT if "monthly limit" in message.lower() else RATE_LIMITED
    if status == 400 and "invalid reply token" in message.lower():
        return INVALID_REPLY_TOKEN
    if status >= 500:
        return SERVER_ERROR
    return CLIENT_ERROR


class LineClient:
    """Calls the Messaging API through line-bot-sdk v3 with a timeout on every call."""

    def __init__(self, base_url: str, access_token: str, timeout: tuple[float, float],
                 data_base_url: str | None = None):
        config = Configuration(host=base_url, access_token=access_token)
        config.retries = False  # retries are ours, with retry keys; urllib3 must not add any
        self._api_client = ApiClient(config)
        self._api = MessagingApi(self._api_client)
        data_config = Configuration(host=data_base_url or base_url, access_token=access_token)
        data_config.retries = False
        self._data_client = ApiClient(data_config)
        self._blob = MessagingApiBlob(self._data_client)
        self.timeout = timeout
        self.base_url = base_url

    @property
    def api(self) -> MessagingApi:
        """The SDK's Messaging API (pass `_request_timeout=self.timeout` on every call)."""
        return self._api

    @property
    def blob(self) -> MessagingApiBlob:
        """The SDK's data-host API (content, rich menu images)."""
        return self._blob

    def close(self) -> None:
        """Release the connection pools."""
        self._api_client.close()
        self._data_client.close()

    def get_content(self, message_id: str, max_bytes: int = 10 * 1024 * 1024
                    ) -> tuple[str, bytes] | None:
        """An image (or other content) a user sent, from the data host; None if unavailable."""
        try:
            response = self._blob.get_message_content_with_http_info(
                message_id, _request_timeout=self.timeout)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("LINE content %s unavailable: %s", message_id, type(exc).__name__)
            return None
        data = bytes(response.data or b"")
        if len(data) > max_bytes:
            log.warning("LINE content %s too large (%d bytes)", message_id, len(data))
            return None
        content_type = (response.headers or {}).get("Content-Type", "application/octet-stream")
        return content_type, data

    def _call(self, name: str, fn, *args, **kwargs) -> SendResult:
        try:
            response = fn(*args, _request_timeout=self.timeout, **kwargs)
        except ApiException as exc:
            headers = exc.headers or {}
            request_id = headers.get("X-Line-Request-Id") or headers.get("x-line-request-id")
            outcome = classify_error(exc.status, exc.body)
            message = _error_message(exc.body)
            log.warning(
                "LINE %s answered %s (%s) request_id=%s: %s",
                name, exc.status, outcome, request_id, message,
            )
            return SendResult(outcome, exc.status, request_id, message)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("LINE %s gave no answer: %s", name, type(exc).__name__)
            return SendResult(TIMEOUT, None, None, type(exc).__name__)
        headers = response.headers or {}
        request_id = headers.get("X-Line-Request-Id") or headers.get("x-line-request-id")
        # failures above are warnings; a reply's or push's success only DEBUG (_QUIET_OK)
        log.log(logging.DEBUG if name in _QUIET_OK else logging.INFO,
                "LINE %s ok request_id=%s", name, request_id)
        return SendResult(OK, response.status_code, request_id)

    def _post_json(self, path: str, body: dict, retry_key: str | None = None,
                   **kwargs) -> ApiResponse:
        """POST a JSON body through the SDK's ApiClient (its authentication, headers,
        connection pool and ApiException on an error status), as the SDK's own
        `*_with_http_info` methods do, without building its pydantic request models from our
        message dicts and serialising them back: our messages are plain LINE JSON already.
        That round trip was a third of a reply's CPU (bench/profile_worker.py)."""
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if retry_key is not None:
            headers["X-Line-Retry-Key"] = retry_key
        return self._api_client.call_api(
            path, "POST", {}, [], headers, body=body, post_params=[], files={},
            response_types_map={}, auth_settings=["Bearer"], _host=self._api.line_base_path,
            **kwargs)

    def reply(self, reply_token: str, messages: list[dict]) -> SendResult:
        """Reply with up to five messages (free of quota)."""
        return self._call("reply", self._post_json, "/v2/bot/message/reply",
                          {"replyToken": reply_token, "messages": messages})

    def push(self, to: str, messages: list[dict], retry_key: str) -> SendResult:
        """Push up to five messages to one user, with the retry key made at enqueue time."""
        return self._call("push", self._post_json, "/v2/bot/message/push",
                          {"to": to, "messages": messages}, retry_key)

    def multicast(self, to: list[str], messages: list[dict], retry_key: str) -> SendResult:
        """Send the same messages to at most 500 users."""
        return self._call("multicast", self._post_json, "/v2/bot/message/multicast",
                          {"to": to, "messages": messages}, retry_key)

    def show_loading(self, chat_id: str, seconds: int = 5) -> SendResult:
        """Show the typing animation in a one-to-one chat while slow work runs."""
        request = ShowLoadingAnimationRequest(chatId=chat_id, loadingSeconds=seconds)
        return self._call(
            "loading", self._api.show_loading_animation_with_http_info, request
        )

    def link_rich_menu(self, user_id: str, rich_menu_id: str) -> SendResult:
        """Link a rich menu to one user."""
        return self._call("richmenu_link", self._api.link_rich_menu_id_to_user_with_http_info,
                          user_id, rich_menu_id)

    def quota(self) -> dict | None:
        """The monthly quota and what was used of it, or None when LINE cannot be reached."""
        try:
            quota = self._api.get_message_quota(_request_timeout=self.timeout)
            used = self._api.get_message_quota_consumption(_request_timeout=self.timeout)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("LINE quota unavailable: %s", type(exc).__name__)
            return None
        return {"type": quota.type, "value": quota.value, "used": used.total_usage}
