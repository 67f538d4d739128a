"""Identifiers in the shapes LINE uses (request, event and message ids, tokens) and timestamps."""

from __future__ import annotations

import re
import secrets
import time
import uuid
from datetime import UTC, datetime

#: The emulated bot's user id, sent as the webhook ``destination`` and in ``/v2/bot/info``.
BOT_USER_ID = "U5a10e0e1a0b0c0d0e0f0a1b2c3d4e5f6"

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def now_ms() -> int:
    """Return the current time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def iso_from_ms(ms: int) -> str:
    """Format epoch milliseconds as an ISO 8601 UTC timestamp with milliseconds."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_request_id() -> str:
    """Return a new ``X-Line-Request-Id`` value (a UUID)."""
    return str(uuid.uuid4())


def new_webhook_event_id(timestamp_ms: int | None = None) -> str:
    """Return a new 26-character ULID: 48 bits of time and 80 random bits, Crockford base32."""
    ts = now_ms() if timestamp_ms is None else timestamp_ms
    value = ((ts & ((1 << 48) - 1)) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_message_id() -> str:
    """Return a new message id: an 18-digit numeric string like LINE's."""
    return str(10**17 + secrets.randbelow(9 * 10**17))


def new_reply_token() -> str:
    """Return a new reply token (32 hex characters)."""
    return secrets.token_hex(16)


def new_quote_token() -> str:
    """Return a new quote token (an opaque URL-safe string)."""
    return secrets.token_urlsafe(48)


def new_channel_secret() -> str:
    """Return a new development channel secret (32 hex characters, like LINE's)."""
    return secrets.token_hex(16)


def is_uuid(value: str) -> bool:
    """Tell whether ``value`` is a UUID in the hexadecimal 8-4-4-4-12 form LINE accepts."""
    return bool(_UUID_RE.match(value))
