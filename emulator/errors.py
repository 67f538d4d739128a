"""LINE-style error responses: ``{"message": ..., "details": [{"message", "property"}]}``."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Response, jsonify

MSG_AUTH_FAILED = (
    "Authentication failed. Confirm that the access token in the authorization header is valid."
)
MSG_AUTH_MISSING = (
    "Authorization header required. Must follow the scheme, 'Authorization: Bearer <ACCESS TOKEN>'"
)
MSG_INVALID_REPLY_TOKEN = "Invalid reply token"
MSG_RETRY_KEY_INVALID = "The value for the 'X-Line-Retry-Key' header is invalid"
MSG_RETRY_KEY_NOT_ALLOWED = "The 'X-Line-Retry-Key' header cannot be used with this API"
MSG_RETRY_KEY_ACCEPTED = "The retry key is already accepted"
MSG_MONTHLY_LIMIT = "You have reached your monthly limit."
MSG_RATE_LIMIT = "The API rate limit has been exceeded. Try again later."
MSG_NOT_FOUND = "Not found"
MSG_BAD_JSON = "The request body could not be parsed as JSON"

_DEFAULT_MESSAGES = {
    400: "Bad request",
    401: MSG_AUTH_FAILED,
    403: "Access to this API is not available for your account",
    404: MSG_NOT_FOUND,
    409: "Conflict",
    429: MSG_RATE_LIMIT,
    500: "Internal server error",
}


class LineApiError(Exception):
    """An error answered in LINE's shape; raise it from a view of the LINE API."""

    def __init__(
        self,
        status: int,
        message: str,
        details: list[dict[str, str]] | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []
        self.headers = headers or {}
        self.extra = extra or {}

    def to_response(self) -> Response:
        """Render the error as a JSON response."""
        body: dict[str, Any] = {"message": self.message}
        if self.details:
            body["details"] = self.details
        body.update(self.extra)
        response = jsonify(body)
        response.status_code = self.status
        response.headers.update(self.headers)
        return response


def default_message(status: int) -> str:
    """Return the message LINE would give with an error of this status."""
    if status in _DEFAULT_MESSAGES:
        return _DEFAULT_MESSAGES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
