"""Settings and commands: production refuses to start without secrets; command output."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.config import ConfigError, load_settings, normalise_database_url
from models import LineUser
from tests.support import flask_command, flask_env


def test_production_without_secrets_is_a_start_up_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(str(tmp_path), {"SAMOE_ENV": "production"})
    assert "SECRET_KEY" in str(info.value) and "LINE_CHANNEL_SECRET" in str(info.value)


def test_production_with_secrets_uses_the_real_line_api(tmp_path):
    settings = load_settings(str(tmp_path), {
        "SAMOE_ENV": "production", "SECRET_KEY": "k", "LINE_CHANNEL_SECRET": "s",
        "LINE_CHANNEL_ACCESS_TOKEN": "t", "DATABASE_URL": "postgresql://db/samoe",
        "DATA_ENCRYPTION_KEYS": "Lp4cRaxTNzkE3W0ZMLAdDhKmD8n3yFXOSaAvKF7kmqE=",
        "AUDIT_CHAIN_KEY": "a" * 64})
    assert settings["LINE_EMULATOR"] is False
    assert settings["LINE_API_BASE_URL"] == "https://api.line.me"
    assert settings["LINE_DATA_API_BASE_URL"] == "https://api-data.line.me"
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://db/samoe"
    assert settings["WORKER_IN_PROCESS"] is False


def test_without_credentials_the_emulator_is_mounted_and_sqlite_runs_the_worker(tmp_path):
    settings = load_settings(str(tmp_path), {"PORT": "8123"})
    assert settings["LINE_EMULATOR"] is True
    assert settings["LINE_API_BASE_URL"] == "http://127.0.0.1:8123/emulator"
    assert settings["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert settings["WORKER_IN_PROCESS"] is True
    assert settings["PROVINCE_CODE"] == "40"


def test_postgres_urls_mean_psycopg_3():
    assert normalise_database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_worker_burst_prints_only_the_count_on_stdout(app, emulator, session):
    emulator.text("U" + "5" * 32, "hello")
    proc = flask_command(["worker", "--burst"], flask_env(app))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip().splitlines()[-1] == "2"  # one event handled, one reply sent


def test_seed_demo_creates_demo_users_once(app, session):
    first = flask_command(["seed-demo"], flask_env(app))
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert out.strip().splitlines()[-1] == "3"
    roles = set(session.scalars(sa.select(LineUser.role)))
    assert roles == {"volunteer", "parent", "officer"}
    session.rollback()  # end the read: on SQLite it holds the write lock
    again = flask_command(["seed-demo"], flask_env(app))
    out, _ = again.communicate(timeout=60)
    assert out.strip().splitlines()[-1] == "0"


def test_reference_data_is_seeded_by_the_migrations(session):
    query = sa.text("SELECT level, count(*) FROM areas GROUP BY level")
    counts = dict(session.execute(query).all())
    assert counts == {"province": 1, "district": 26, "subdistrict": 199}
    codes = set(session.scalars(sa.text("SELECT code FROM agencies")))
    assert codes == {"EDU", "OBEC", "HEALTH", "PHC", "SOCIAL", "LOCAL", "LEARN", "KKU", "EEF"}
