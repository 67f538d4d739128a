"""The migration that gave consents `withdrawn_by` and `withdrawal_channel`, on each database:
consents withdrawn before it get them from their audit rows (the k-th withdrawal of a case from
the k-th `case.consent_withdraw` row), the parents' consents recorded under the volunteers'
statement get the parents' own version, and the downgrade puts things back."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from bot import create_app
from bot.config import normalise_database_url
from bot.extensions import db
from models.base import UTCDateTime as UTC
from tests.drills.support import PgDatabase

MIGRATION = next((Path(__file__).parents[2] / "migrations" / "versions").glob(
    "f32f3e6c1ef0_*.py"))


def _before() -> str:
    spec = importlib.util.spec_from_file_location("consent_migration", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.down_revision


@pytest.fixture
def fresh_url(app, tmp_path):
    if app.config["TEST_DATABASE_URL"].startswith("sqlite"):
        yield "sqlite:///" + str(tmp_path / "migrated.db")
        return
    database = PgDatabase("samoe_consent_migration")
    try:
        yield database.url
    finally:
        database.drop()


@pytest.fixture
def other(app, fresh_url):
    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": fresh_url,
                        "LINE_EMULATOR": False, "LINE_CHANNEL_SECRET": "s",
                        "LINE_CHANNEL_ACCESS_TOKEN": "t", "WORKER_IN_PROCESS": False,
                        "SECRET_KEY": app.config["SECRET_KEY"]})
    yield other
    with other.app_context():
        db.engine.dispose()


def test_withdrawals_made_before_get_who_and_how_from_the_audit_log(other, fresh_url):
    with other.app_context():
        upgrade(revision=_before())
    engine = sa.create_engine(normalise_database_url(fresh_url))
    at = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)
    utc = {"type_": UTC}
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO line_users (id, line_user_id, language, followed, created_at, "
                "code_failures) VALUES (1, 'U-parent', 'th', true, :at, 0)")
                .bindparams(sa.bindparam("at", **utc)), {"at": at})
            for case_id, channel in ((1, "line_volunteer"), (2, "line_parent")):
                conn.execute(sa.text(
                    "INSERT INTO cases (id, reference, target_group, child_name, "
                    "child_name_norm, id_kind, subdistrict_code, district_code, situations, "
                    "stage, owner_agency_code, owner_area_code, reporter_id, self_reported, "
                    "created_at, updated_at, escalation) VALUES (:id, :ref, 'out_of_school', "
                    "'x', 'x', 'none', '400701', '4007', '[]', 'received', 'LEARN', '4007', 1, "
                    ":own, :at, :at, 0)").bindparams(sa.bindparam("at", **utc)),
                    {"id": case_id, "ref": f"KK-2569-0000{case_id}", "at": at,
                     "own": channel == "line_parent"})
            consents = [  # case 1: withdrawn twice (a report in between), case 2: once
                (1, 1, "line_volunteer", at), (2, 1, "line_volunteer", at + dt.timedelta(1)),
                (3, 2, "line_parent", at), (4, 2, "line_parent", None)]
            for consent_id, case_id, channel, withdrawn in consents:
                conn.execute(sa.text(
                    "INSERT INTO consents (id, case_id, purposes, statement_version, channel, "
                    "recorded_at, withdrawn_at) VALUES (:id, :case, '[\"share_with_agencies\"]',"
                    " '2569-1', :channel, :at, :withdrawn)").bindparams(
                        sa.bindparam("at", **utc), sa.bindparam("withdrawn", **utc)),
                    {"id": consent_id, "case": case_id, "channel": channel, "at": at,
                     "withdrawn": withdrawn})
            audits = [(1, "learn.np", {"via": "console"}), (1, "learn.api", {"via": "api"}),
                      (2, "U-parent", {"via": "line"})]
            for case_id, actor, detail in audits:
                conn.execute(sa.text(
                    "INSERT INTO audit_log (at, actor, actor_kind, action, case_id, detail) "
                    "VALUES (:at, :actor, 'officer', 'case.consent_withdraw', :case, :detail)")
                    .bindparams(sa.bindparam("at", **utc)),
                    {"at": at, "actor": actor, "case": case_id, "detail": json.dumps(detail)})
        with other.app_context():
            upgrade()
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT id, withdrawn_by, withdrawal_channel, statement_version FROM consents "
                "ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [
            (1, "learn.np", "console", "2569-1"), (2, "learn.api", "api", "2569-1"),
            (3, "U-parent", "line_parent", "parent-2569-1"),
            (4, None, None, "parent-2569-1")]
        with other.app_context():
            downgrade(revision=_before())
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("consents")}
            versions = conn.scalars(sa.text("SELECT DISTINCT statement_version FROM consents"))
            assert "withdrawn_by" not in columns and list(versions) == ["2569-1"]
    finally:
        engine.dispose()
