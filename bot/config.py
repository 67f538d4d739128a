"""Settings, read from the environment (and a .env file) when the app is created."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from pathlib import Path

from bot.quiet_hours import QuietHours
from models.crypto import parse_keys

TRUTHY = {"1", "true", "yes", "on"}
MIN_AUDIT_KEY = 32

log = logging.getLogger(__name__)


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message says which and what to do."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in TRUTHY


def _secret(env: dict, name: str) -> str | None:
    """A secret setting; blank (or only spaces) is the same as unset."""
    value = (env.get(name) or "").strip()
    return value or None


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

    channel_secret = _secret(env, "LINE_CHANNEL_SECRET")
    access_token = _secret(env, "LINE_CHANNEL_ACCESS_TOKEN")
    has_credentials = bool(channel_secret and access_token)
    emulator = _flag(env.get("LINE_EMULATOR"), default=not has_credentials)

    secret_key = _secret(env, "SECRET_KEY")
    data_keys = _secret(env, "DATA_ENCRYPTION_KEYS")
    try:
        if not parse_keys(data_keys):  # only commas and spaces: no key at all
            data_keys = None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    audit_key = _secret(env, "AUDIT_CHAIN_KEY")
    id_hash_key = _secret(env, "ID_HASH_KEY")
    if production:
        missing = [
            name
            for name, value in (
                ("SECRET_KEY", secret_key),
                ("DATA_ENCRYPTION_KEYS", data_keys),
                ("AUDIT_CHAIN_KEY", audit_key),
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
        if len(audit_key) < MIN_AUDIT_KEY:
            raise ConfigError(f"AUDIT_CHAIN_KEY needs at least {MIN_AUDIT_KEY} characters "
                              "(make one with: python -c \"import secrets; "
                              "print(secrets.token_hex(32))\")")

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
        # the audit chain's HMAC key and the identity numbers' hash key: None means derived
        # from SECRET_KEY by finish_settings (the identity hash: SECRET_KEY itself, as before)
        "AUDIT_CHAIN_KEY": audit_key,
        "ID_HASH_KEY": id_hash_key,
        # SQL errors name the statement, never its values (names, phone numbers) in logs
        "SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": True},
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
        "RETENTION_DRAFT_DAYS": int(env.get("RETENTION_DRAFT_DAYS", "7")),
        "INBOX_LAG_LIMIT": float(env.get("INBOX_LAG_LIMIT", "60")),
        # SQLite: how long the webhook waits for the database's write lock before answering
        # 503 (LINE gives up after 2 s and redelivers); 0: as long as the busy timeout (30 s)
        "WEBHOOK_DB_WAIT_MS": float(env.get("WEBHOOK_DB_WAIT_MS", "1500")),
        "WORKER_LEASE_SECONDS": float(env.get("WORKER_LEASE_SECONDS", "30")),
        # the worker's threads that make a batch's replies side by side (bot.worker)
        "WORKER_SEND_THREADS": max(1, int(env.get("WORKER_SEND_THREADS", "4"))),
        # while the inbox keeps the worker busy, it looks for due outbox rows (pushes,
        # retries, announcements' sends) at most this often; when idle, every round
        "WORKER_OUTBOX_POLL_MS": max(0.0, float(env.get("WORKER_OUTBOX_POLL_MS", "250"))),
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


def finish_settings(config) -> None:
    """Fill in the keys derived from SECRET_KEY (once create_app has settled it) and say what
    production should set. `ID_HASH_KEY` unset is SECRET_KEY itself, as before it existed, so
    the hashes already stored stay valid; `AUDIT_CHAIN_KEY` unset (development only) is an
    HMAC of SECRET_KEY."""
    secret = config["SECRET_KEY"]
    if not config.get("ID_HASH_KEY"):
        if config.get("SAMOE_ENV") == "production":
            log.warning("ID_HASH_KEY is not set: identity numbers are hashed with SECRET_KEY, "
                        "so changing SECRET_KEY would stop duplicate children being found. "
                        "Set ID_HASH_KEY to the current SECRET_KEY and never change it")
        config["ID_HASH_KEY"] = secret
    if not config.get("AUDIT_CHAIN_KEY"):
        config["AUDIT_CHAIN_KEY"] = hmac.new(secret.encode(), b"samoe audit chain key",
                                             hashlib.sha256).hexdigest()
