"""Conversation flows, one module per conversation; `register` adds them all to the engine."""

from __future__ import annotations

from bot.conversation import Engine


def register(engine: Engine) -> None:
    """Register every flow and intent handler."""
    from handlers import notifications
    from handlers.flows import (
        announce,
        my_cases,
        officer_work,
        parent,
        registration,
        report,
        start,
        visit,
    )

    start.register(engine)
    registration.register(engine)
    report.register(engine)
    my_cases.register(engine)
    visit.register(engine)
    officer_work.register(engine)
    parent.register(engine)
    announce.register(engine)
    notifications.register_actions(engine)
