"""The emulator's settings, from a dict or (when none is given) from environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from emulator.database import DEFAULT_DATABASE_URL

#: Environment variables read when ``create_emulator_app`` is given no config.
ENV_VARS = {
    "database_url": "EMULATOR_DATABASE_URL",
    "channel_secret": "LINE_CHANNEL_SECRET",
    "channel_access_token": "LINE_CHANNEL_ACCESS_TOKEN",
    "webhook_url": "EMULATOR_WEBHOOK_URL",
    "webhook_timeout": "EMULATOR_WEBHOOK_TIMEOUT",
}


@dataclass(frozen=True)
class EmulatorConfig:
    """Settings; ``None`` means the documented default behaviour."""

    database_url: str = DEFAULT_DATABASE_URL
    channel_secret: str | None = None
    channel_access_token: str | None = None
    webhook_url: str | None = None
    webhook_timeout: float = 10.0

    @classmethod
    def from_mapping(cls, config: dict[str, Any] | None) -> EmulatorConfig:
        """Build settings from ``config``, or from the environment when it is None."""
        if config is None:
            config = {key: os.environ[var] for key, var in ENV_VARS.items() if os.environ.get(var)}
        known = {f.name for f in fields(cls)}
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"unknown LINE emulator settings: {', '.join(sorted(unknown))}")
        values = {key: value for key, value in config.items() if value is not None}
        if "webhook_timeout" in values:
            values["webhook_timeout"] = float(values["webhook_timeout"])
        return cls(**values)
