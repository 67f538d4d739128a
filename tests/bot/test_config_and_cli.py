"""Settings and commands: production refuses to start without secrets; command output."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from bot.config import ConfigError, load_settings, normalise_database_url
from models import Case, LineUser, Officer
from services import access, guardians, workflow
from services.access import Actor
from tests.support import ROOT, flask_command, flask_env, texts


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


DEMO_VOLUNTEER = "Ud0000000000000000000000000000001"
DEMO_PARENT = "Ud0000000000000000000000000000002"
DEMO_OFFICER = "Ud0000000000000000000000000000003"


def test_seed_demo_creates_demo_users_once(app, session, emulator):
    first = flask_command(["seed-demo"], flask_env(app))
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert out.strip().splitlines()[-1] == "3"
    roles = set(session.scalars(sa.select(LineUser.role)))
    assert roles == {"volunteer", "parent", "officer"}
    # the chat page's user picker lists them: they are the emulator's users too
    listed = emulator.http.get(emulator.base + "/api/users", timeout=10).json()["items"]
    assert {u["userId"]: u["displayName"] for u in listed} == {
        DEMO_VOLUNTEER: "สมศรี ใจดี (อสม.)", DEMO_PARENT: "ยายบัวผัน (ผู้ปกครอง)",
        DEMO_OFFICER: "คุณวิชัย (เจ้าหน้าที่ สกร.)"}
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 3
    session.rollback()  # end the read: on SQLite it holds the write lock
    again = flask_command(["seed-demo"], flask_env(app))
    out, _ = again.communicate(timeout=60)
    assert out.strip().splitlines()[-1] == "0"
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 3
    assert session.scalar(sa.select(sa.func.count()).select_from(Officer)) == 1


def demo_password() -> str:
    return (ROOT / "instance" / "demo-officer-password").read_text().strip()


def seed_demo(app) -> None:
    """`flask seed-demo` in this process (the command's output is checked above, in its own)."""
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output


def test_the_demo_officer_has_a_console_login_and_cases_in_his_scope(app, session, client):
    seed_demo(app)
    officer = session.scalar(sa.select(Officer))
    line_user = session.scalar(sa.select(LineUser).where(LineUser.line_user_id == DEMO_OFFICER))
    assert (officer.username, officer.agency_code, officer.area_code) == (
        "wichai.demo", "LEARN", "4007")
    assert officer.line_user_id == line_user.id  # "งานของฉัน" on LINE is his work
    scoped = session.scalars(access.scoped_cases(Actor.for_officer(officer))).all()
    assert len(scoped) == 3 and {c.stage for c in scoped} == {"received"}
    assert sum(workflow.is_overdue(c) for c in scoped) == 1
    parent = session.scalar(sa.select(LineUser).where(LineUser.line_user_id == DEMO_PARENT))
    assert [c.child_name for c in guardians.linked_cases(session, parent)] == [
        "เด็กชายต้นกล้า ใจดี"]
    session.rollback()

    # The password the run script's banner prints (kept in instance/) signs him in.
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    signed_in = client.post("/console/login", data={
        "username": "wichai.demo", "password": demo_password(), "csrf_token": token})
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)
    queue = client.get("/console/cases").get_data(as_text=True)
    for case in scoped:
        assert case.reference in queue


def test_the_demo_officers_work_and_the_parents_child_show_on_line(app, emulator, worker):
    seed_demo(app)

    seen = emulator.sent(DEMO_OFFICER)
    emulator.text(DEMO_OFFICER, "งานของฉัน")
    worker.burst()
    answer = emulator.sent(DEMO_OFFICER, after=seen[-1]["seq"] if seen else 0)
    summary = texts(answer)[0]
    assert "เรื่องใหม่: 3" in summary and "เกินกำหนด: 1" in summary
    assert [m["type"] for m in answer[-1]["messages"]] == ["text", "flex"]

    emulator.text(DEMO_PARENT, "สถานะ")
    worker.burst()
    assert "ต้นกล้า" in json.dumps(emulator.sent(DEMO_PARENT), ensure_ascii=False)


def test_seed_demo_is_refused_in_production(app, session, monkeypatch):
    monkeypatch.setitem(app.config, "SAMOE_ENV", "production")
    refused = app.test_cli_runner().invoke(args=["seed-demo"])
    assert refused.exit_code == 1
    assert "SAMOE_ENV=production" in refused.output
    assert session.scalar(sa.select(sa.func.count()).select_from(LineUser)) == 0


def test_reference_data_is_seeded_by_the_migrations(session):
    query = sa.text("SELECT level, count(*) FROM areas GROUP BY level")
    counts = dict(session.execute(query).all())
    assert counts == {"province": 1, "district": 26, "subdistrict": 199}
    codes = set(session.scalars(sa.text("SELECT code FROM agencies")))
    assert codes == {"EDU", "OBEC", "HEALTH", "PHC", "SOCIAL", "LOCAL", "LEARN", "KKU", "EEF"}
