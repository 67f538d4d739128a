"""Renderers of service notifications (services.notifications.notify) into LINE messages."""

from __future__ import annotations


def register() -> None:
    """Register every notification renderer with the outbox."""
