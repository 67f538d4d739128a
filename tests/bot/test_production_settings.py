"""Production settings (bot.config): keys that are only commas or spaces count as missing, the
audit chain's key is required, the identity numbers' hash key can be set apart from SECRET_KEY
(and production warns while it is not), and SQL errors never carry the values of a statement."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from bot.config import ConfigError, finish_settings, load_settings
from bot.extensions import db
from models import Case
from services import cases
from tests.handlers.test_report import _press, report_until_summary, valid_id
from tests.handlers.test_report import volunteer as volunteer  # noqa: F401 (fixture)

KEY = Fernet.generate_key().decode()
PRODUCTION = {"SAMOE_ENV": "production", "SECRET_KEY": "k" * 40, "LINE_CHANNEL_SECRET": "s",
              "LINE_CHANNEL_ACCESS_TOKEN": "t", "DATABASE_URL": "postgresql://db/samoe",
              "DATA_ENCRYPTION_KEYS": KEY, "AUDIT_CHAIN_KEY": "a" * 64}


@pytest.mark.parametrize("blank", [", ", ",", " ", " , , "])
def test_encryption_keys_of_only_commas_and_spaces_are_missing(tmp_path, blank):
    with pytest.raises(ConfigError) as info:
        load_settings(str(tmp_path), {**PRODUCTION, "DATA_ENCRYPTION_KEYS": blank})
    assert "DATA_ENCRYPTION_KEYS" in str(info.value)
    # in development the same is "not set": create_app keeps a key in instance/ instead
    assert load_settings(str(tmp_path), {"DATA_ENCRYPTION_KEYS": blank})[
        "DATA_ENCRYPTION_KEYS"] is None


@pytest.mark.parametrize("name", ["SECRET_KEY", "AUDIT_CHAIN_KEY", "LINE_CHANNEL_SECRET"])
def test_a_blank_secret_is_a_missing_one(tmp_path, name):
    with pytest.raises(ConfigError) as info:
        load_settings(str(tmp_path), {**PRODUCTION, name: "   "})
    assert name in str(info.value)


def test_production_needs_a_long_audit_chain_key(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(str(tmp_path), {**PRODUCTION, "AUDIT_CHAIN_KEY": "short"})
    assert "AUDIT_CHAIN_KEY" in str(info.value) and "32" in str(info.value)
    settings = load_settings(str(tmp_path), PRODUCTION)
    finish_settings(settings)
    assert settings["AUDIT_CHAIN_KEY"] == "a" * 64


def test_development_derives_the_audit_key_from_secret_key(tmp_path):
    first = load_settings(str(tmp_path), {"SECRET_KEY": "one"})
    second = load_settings(str(tmp_path), {"SECRET_KEY": "two"})
    finish_settings(first)
    finish_settings(second)
    assert first["AUDIT_CHAIN_KEY"] not in ("one", second["AUDIT_CHAIN_KEY"])
    assert len(first["AUDIT_CHAIN_KEY"]) == 64


def test_id_hash_key_defaults_to_secret_key_and_production_warns_while_unset(tmp_path, caplog):
    settings = load_settings(str(tmp_path), PRODUCTION)
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        finish_settings(settings)
    assert settings["ID_HASH_KEY"] == PRODUCTION["SECRET_KEY"]  # hashes stored so far stay valid
    [warning] = [r for r in caplog.records if r.name == "bot.config"]
    assert "ID_HASH_KEY is not set" in warning.getMessage()
    assert "never change it" in warning.getMessage()
    caplog.clear()
    settings = load_settings(str(tmp_path), {**PRODUCTION, "ID_HASH_KEY": "h" * 40})
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        finish_settings(settings)
    assert settings["ID_HASH_KEY"] == "h" * 40
    assert not [r for r in caplog.records if r.name == "bot.config"]
    development = load_settings(str(tmp_path), {"SECRET_KEY": "dev"})
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        finish_settings(development)
    assert development["ID_HASH_KEY"] == "dev" and not caplog.records


@pytest.fixture
def keys(app):
    """The live app's keys, put back after the test changes them."""
    saved = {name: app.config[name] for name in ("SECRET_KEY", "ID_HASH_KEY")}
    yield app.config
    app.config.update(saved)


def test_duplicates_are_found_by_id_hash_key_whatever_secret_key_becomes(
        keys, volunteer, session):  # noqa: F811
    keys["ID_HASH_KEY"] = "the identity hash key, never changed"
    summary = report_until_summary(volunteer, name="สมชาย ดีมาก", id_answer=valid_id())
    _press(volunteer, summary[0], "ส่งเรื่อง")
    case = session.scalar(sa.select(Case))
    assert case.id_hash == cases.id_hash(keys["ID_HASH_KEY"], "citizen_id", valid_id())
    assert case.id_hash != cases.id_hash(keys["SECRET_KEY"], "citizen_id", valid_id())
    session.rollback()
    keys["SECRET_KEY"] = "a new secret key"  # rotated: the identity hash key is not
    summary = report_until_summary(volunteer, name="สมชาย ดีมาก", id_answer=valid_id())
    answer = _press(volunteer, summary[0], "ส่งเรื่อง")
    assert case.reference in answer[0]["text"]  # told it is a case already reported
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


def test_sql_errors_name_the_statement_but_never_its_values(app):
    with app.app_context():
        with pytest.raises(sa.exc.DBAPIError) as info:
            db.session.execute(sa.text("SELECT * FROM no_such_table WHERE name = :name"),
                               {"name": "Somchai Deemak 0812345678"})
        db.session.rollback()
        db.session.remove()
    assert "no_such_table" in str(info.value)
    assert "Somchai" not in str(info.value) and "0812345678" not in str(info.value)
