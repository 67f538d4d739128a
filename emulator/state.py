"""The emulator object kept in ``app.extensions["line_emulator"]``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app

from emulator.config import EmulatorConfig
from emulator.store import Store

EXTENSION_KEY = "line_emulator"


@dataclass(frozen=True)
class LineEmulator:
    """Settings, store and resolved channel secret of one emulator app."""

    config: EmulatorConfig
    store: Store
    channel_secret: str

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine holding the emulator's state."""
        return self.store.engine

    def __getitem__(self, key: str) -> Any:
        """Allow ``ext["engine"]`` and ``ext["channel_secret"]`` as well as attributes."""
        if key not in ("config", "store", "channel_secret", "engine"):
            raise KeyError(key)
        return getattr(self, key)


def current_emulator() -> LineEmulator:
    """Return the emulator of the current Flask app."""
    return current_app.extensions[EXTENSION_KEY]
