"""Dispatch of stored webhook events to handlers, by the SDK's event and message classes.

Handlers register with `@dispatcher.add(FollowEvent)`, `@dispatcher.add(MessageEvent,
message=TextMessageContent)` or `@dispatcher.default()`; the worker calls `dispatch(ctx)`
for each event it takes from the inbox. A handler answers through `ctx.reply(...)`; the
worker turns what it collected into outbox rows in the same transaction.

A handler never calls LINE itself: it runs inside the step's database transaction (DESIGN.md
§6), and a slow LINE call there would hold SQLite's write lock, or PostgreSQL's row locks,
for as long as LINE takes. What it needs from LINE (a picture the user sent, this month's
quota) it asks of the context: the first time, `NeedsLine` stops the step, the worker rolls
the transaction back, makes the call with no transaction open, and runs the step again with
the answer at hand.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from linebot.v3.models.events import UnknownEvent
from linebot.v3.webhooks import Event, MessageEvent
from sqlalchemy.orm import Session

from models import InboxEvent, LineUser

log = logging.getLogger(__name__)

Handler = Callable[["EventContext"], None]
CONTENT = "content"
QUOTA = "quota"


class NeedsLine(Exception):  # noqa: N818 (a request to the worker, not an error)
    """The step needs an answer from LINE that the worker has not fetched yet: the worker
    rolls the step back, fetches it outside any transaction, and runs the step again."""

    def __init__(self, key: tuple[str, ...]):
        super().__init__(key)
        self.key = key


@dataclass
class EventContext:
    """What a handler gets: the event (SDK model and raw JSON), the user and the session."""

    event: Any
    raw: dict
    inbox_event: InboxEvent
    session: Session
    user: LineUser | None
    fetched: dict[tuple[str, ...], Any] | None = None  # LINE's answers the worker fetched;
    # None where nothing can be fetched (then content() and quota() answer None)
    messages: list[dict] = field(default_factory=list)

    @property
    def can_send(self) -> bool:
        """False in standby mode: another channel has the chat and the bot must stay silent."""
        return self.inbox_event.mode != "standby"

    @property
    def reply_token(self) -> str | None:
        return self.raw.get("replyToken")

    def content(self, message_id: str) -> tuple[str, bytes] | None:
        """(content type, bytes) of a picture the user sent, from LINE's data host; None when
        LINE no longer has it. Fetched by the worker before the step's transaction."""
        return self._from_line((CONTENT, message_id))

    def quota(self) -> dict | None:
        """This month's message quota and what was used of it (LineClient.quota), or None."""
        return self._from_line((QUOTA,))

    def _from_line(self, key: tuple[str, ...]) -> Any:
        if self.fetched is None:
            return None
        if key not in self.fetched:
            raise NeedsLine(key)
        return self.fetched[key]

    def reply(self, *messages: dict) -> None:
        """Answer this event; messages are LINE message objects as dicts."""
        if not self.can_send:
            log.info("standby event %s: reply dropped", self.inbox_event.webhook_event_id)
            return
        self.messages.extend(messages)


def parse_event(payload: str) -> tuple[Any, dict]:
    """Parse a stored event with the SDK; unknown or unreadable kinds become UnknownEvent."""
    raw = json.loads(payload)
    try:
        return Event.from_dict(raw), raw
    except (ValueError, TypeError, KeyError) as exc:
        log.info("event type %r not understood by the SDK: %s", raw.get("type"), type(exc).__name__)
        return UnknownEvent.new_from_json_dict(raw), raw


class Dispatcher:
    """A registry of handlers keyed by event class and, for messages, content class."""

    def __init__(self) -> None:
        self._handlers: dict[tuple[type, type | None], Handler] = {}
        self._default: Handler | None = None

    def add(self, event_class: type, message: type | None = None) -> Callable[[Handler], Handler]:
        """Register a handler for an event class (and a message content class)."""

        def decorator(func: Handler) -> Handler:
            key = (event_class, message)
            if key in self._handlers:
                raise ValueError(f"a handler for {key} is registered already")
            self._handlers[key] = func
            return func

        return decorator

    def default(self) -> Callable[[Handler], Handler]:
        """Register the handler for every event no other handler takes."""

        def decorator(func: Handler) -> Handler:
            self._default = func
            return func

        return decorator

    def handler_for(self, event: Any) -> Handler | None:
        """The handler that takes this event, or the default."""
        if isinstance(event, MessageEvent):
            content = type(event.message)
            for key in ((MessageEvent, content), (MessageEvent, None)):
                if key in self._handlers:
                    return self._handlers[key]
        elif not isinstance(event, UnknownEvent):
            for cls in type(event).__mro__:
                handler = self._handlers.get((cls, None))
                if handler is not None:
                    return handler
        return self._default

    def dispatch(self, ctx: EventContext) -> None:
        """Run the handler for the context's event."""
        handler = self.handler_for(ctx.event)
        if handler is not None:
            handler(ctx)
