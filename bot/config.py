"""Settings, read from the environment (and a .env file) when the app is created."""

from __future__ import annotations

import os
from pathlib import Path

from bot.quiet_hours import QuietHours
from models.crypto import parse_keys

TRUTHY = {"1", "true", "yes", "on"}


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message says which and what to do."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in TRUTHY


def normalise_database_url(url: str) -> str:
    """Make `postgresql://` mean psycopg 3, as DESIGN.md §7 says."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def load_settings(instance_path: str, env: dict[str, str] | None = None) -> dict:
    """Build the Flask config mapping from environment variables."""
    env = dict(os.environ if env is None else env)
    production = env.get("SAMOE_ENV", "development").strip().lower() == "production"

    default_db = "sqlite:///" + str(Path(instance_path) / "samoe.db")
    database_url = normalise_database_url(env.get("DATABASE_URL") or default_db)
    is_sqlite = database_url.startswith("sqlite")

    channel_secret = env.get("LINE_CHANNEL_SECRET") or None
    access_token = env.get("LINE_CHANNEL_ACCESS_TOKEN") or None
    has_credentials = bool(channel_secret and access_token)
    emulator = _flag(env.get("LINE_EMULATOR"), default=not has_credentials)

    secret_key = env.get("SECRET_KEY") or None
    data_keys = env.get("DATA_ENCRYPTION_KEYS") or None
    try:
        parse_keys(data_keys)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if production:
        missing = [
            name
            for name, value in (
                ("SECRET_KEY", secret_key),
                ("DATA_ENCRYPTION_KEYS", data_keys),
                ("LINE_CHANNEL_SECRET", channel_secret),
                ("LINE_CHANNEL_ACCESS_TOKEN", access_token),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                "SAMOE_ENV=production needs these settings: " + ", ".join(missing)
            )
        if emulator:
            raise ConfigError("SAMOE_ENV=production cannot run with LINE_EMULATOR=1")

    # With the emulator mounted, the worker reaches it through this app's own address.
    local = f"http://127.0.0.1:{env.get('PORT', '8000')}/emulator"
    api_base = env.get("LINE_API_BASE_URL") or (local if emulator else "https://api.line.me")
    data_base = env.get("LINE_DATA_API_BASE_URL") or (
        api_base if emulator else "https://api-data.line.me"
    )

    quiet_hours = env.get("QUIET_HOURS", "20:00-07:00")
    try:
        QuietHours.parse(quiet_hours)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None

    return {
        "SAMOE_ENV": "production" if production else "development",
        "SECRET_KEY": secret_key,
        # newest first; None in development: create_app keeps one in instance/
        "DATA_ENCRYPTION_KEYS": data_keys,  # None in development: create_app keeps one in instance/
        "SQLALCHEMY_DATABASE_URI": database_url,
        "DATABASE_IS_SQLITE": is_sqlite,
        "LINE_CHANNEL_SECRET": channel_secret,
        "LINE_CHANNEL_ACCESS_TOKEN": access_token,
        "LINE_API_BASE_URL": api_base.rstrip("/"),
        "LINE_DATA_API_BASE_URL": data_base.rstrip("/"),
        "LINE_EMULATOR": emulator,
        "LINE_TIMEOUT": (float(env.get("LINE_CONNECT_TIMEOUT", "3")),
                         float(env.get("LINE_READ_TIMEOUT", "10"))),
        "PROVINCE_CODE": env.get("PROVINCE_CODE", "40").strip() or "40",
        "WORKER_IN_PROCESS": _flag(env.get("WORKER_IN_PROCESS"), default=is_sqlite),
        "QUIET_HOURS": quiet_hours,
        "SCHEDULER_INTERVAL": float(env.get("SCHEDULER_INTERVAL", "30")),
        "MULTICAST_PER_SECOND": float(env.get("MULTICAST_PER_SECOND", "200")),
        "LOG_FORMAT": (env.get("LOG_FORMAT") or ("json" if production else "text")).lower(),
        "RETENTION_WEBHOOK_DAYS": int(env.get("RETENTION_WEBHOOK_DAYS", "30")),
        "RETENTION_OUTBOX_DAYS": int(env.get("RETENTION_OUTBOX_DAYS", "90")),
        "RETENTION_PHOTO_DAYS": int(env.get("RETENTION_PHOTO_DAYS", "365")),
        "RETENTION_CASE_YEARS": int(env.get("RETENTION_CASE_YEARS", "5")),
        "INBOX_LAG_LIMIT": float(env.get("INBOX_LAG_LIMIT", "60")),
        "WORKER_LEASE_SECONDS": float(env.get("WORKER_LEASE_SECONDS", "30")),
        "SENDER_LEASE_SECONDS": float(env.get("SENDER_LEASE_SECONDS", "60")),
        # push and multicast retries wait base * 2^(attempt-1) seconds (jittered), at most cap
        "SENDER_BACKOFF_BASE": float(env.get("SENDER_BACKOFF_BASE", "1")),
        "SENDER_BACKOFF_CAP": float(env.get("SENDER_BACKOFF_CAP", "300")),
        "PUBLIC_URL": env.get("PUBLIC_URL") or None,
        # the officer console's session cookie: Secure (HTTPS only) unless said otherwise;
        # development over plain http on 127.0.0.1 defaults to off
        "SESSION_COOKIE_SECURE": _flag(env.get("SESSION_COOKIE_SECURE"), default=production),
        "CONSOLE_IDLE_MINUTES": float(env.get("CONSOLE_IDLE_MINUTES", "30")),
        # the supervisors' dashboard: its stored figures are refreshed this often by the
        # worker's scheduler (0: never), and computed by the page itself when older than this
        "DASHBOARD_REFRESH_SECONDS": float(env.get("DASHBOARD_REFRESH_SECONDS", "300")),
        "DASHBOARD_MAX_AGE_SECONDS": float(env.get("DASHBOARD_MAX_AGE_SECONDS", "900")),
        # how long the public page keeps its figures
        "PUBLIC_CACHE_SECONDS": float(env.get("PUBLIC_CACHE_SECONDS", "300")),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "BABEL_DEFAULT_LOCALE": "th",
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).resolve().parent.parent / "locales"),
    }
