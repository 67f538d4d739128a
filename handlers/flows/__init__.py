"""Conversation flows, one module per conversation; `register` adds them all to the engine."""

from __future__ import annotations

from bot.conversation import Engine


def register(engine: Engine) -> None:
    """Register every flow and intent handler."""
    from handlers.flows import registration, start

    start.register(engine)
    registration.register(engine)
