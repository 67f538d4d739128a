"""No personal text in the audit log, on each database: a name searched in the console's queue,
its export and the API's list is kept as a keyed hash and its length (and can still be found
by an investigator given the name: `flask --app wsgi audit searched`); a reopening's reason
stays on the timeline, the audit row names the entry; and the migration that keyed the chain
takes the texts out of the rows written before it and lets the sealer chain them again."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from bot import create_app
from bot.config import normalise_database_url
from bot.extensions import db
from models import AuditEntry, TimelineEntry
from models.base import UTCDateTime as UTC
from services import audit, workflow
from tests import factories as f
from tests.console.conftest import Console
from tests.drills.support import PgDatabase

NAME = "สมชาย ดีมาก"



def rows(s, *actions: str) -> list[AuditEntry]:
    s.expire_all()
    return list(s.scalars(sa.select(AuditEntry).where(AuditEntry.action.in_(actions))
                          .order_by(AuditEntry.id)))


def test_a_searched_name_is_kept_as_a_keyed_hash_and_found_again_by_name(app, s, client):
    case = f.report(s, app.config["SECRET_KEY"], f.line_user(s), name="เด็กชายสมชาย ดีมาก")
    officer = f.officer(s, agency="LEARN", area="4007")
    token = f.token(s, officer)
    reference = case.reference
    s.rollback()

    console = Console(client, officer)
    page = console.get("/console/cases", query_string={"q": NAME})
    assert page.status_code == 200 and reference in page.get_data(as_text=True)
    export = console.get("/console/exports/cases.csv", query_string={"q": "  " + NAME})
    assert export.status_code == 200
    export.close()
    listed = client.get("/api/v1/cases", query_string={"q": "น้องสมชาย  ดีมาก"},
                        headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200 and listed.get_json()["items"][0]["reference"] == reference
    other = client.get("/api/v1/cases", query_string={"q": "มะลิ"},
                       headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 200

    listings = rows(s, "case.list", "case.export")
    for row in listings:
        text = json.dumps(row.detail, ensure_ascii=False)
        assert "สมชาย" not in text and "ดีมาก" not in text and "มะลิ" not in text
        assert "q" not in row.detail["filters"]
    searches = [r for r in listings if "q_hash" in r.detail["filters"]]
    assert [r.action for r in searches] == ["case.list", "case.export", "case.list", "case.list"]
    assert all(len(r.detail["filters"]["q_hash"]) == 64 for r in searches)
    assert [r.detail["filters"]["q_length"] for r in searches] == [
        len(NAME), len(NAME), len("น้องสมชาย  ดีมาก"), len("มะลิ")]
    # the same name, typed as the searchers typed it or a little differently, is found
    same = {r.id for r in searches[:3]}
    assert {r.id for r in audit.searched(s, NAME)} == same
    assert {r.id for r in audit.searched(s, "ด.ช. สมชาย   ดีมาก")} == same
    assert audit.searched(s, "สมชาย") == []
    # without the key the hash says nothing: it is not a plain hash of the text
    assert audit.search_hash(NAME, key="another key") != searches[0].detail["filters"]["q_hash"]
    s.rollback()

    found = app.test_cli_runner().invoke(args=["audit", "searched"], input=NAME + "\n")
    assert found.exit_code == 0, found.output
    answer = json.loads(found.output.strip().splitlines()[-1])
    assert [(r["id"], r["action"], r["actor"]) for r in answer] == [
        (r.id, r.action, r.actor) for r in searches[:3]]
    assert NAME not in found.output  # asked for without echo, never printed


def test_a_reopening_names_its_timeline_entry_instead_of_copying_the_reason(app, s):
    case = f.report(s, app.config["SECRET_KEY"], f.line_user(s))
    learn = f.actor(f.officer(s, agency="LEARN", area="4007"))
    workflow.transition(s, learn, case, "in_support")
    workflow.record_service(s, learn, case, "scholarship")
    workflow.record_visit(s, learn, case, "found")
    workflow.transition(s, learn, case, "closed")
    s.commit()
    workflow.reopen(s, learn, case, "แม่ของน้องสมชายโทรมาแจ้ง 081-234-5678")
    s.commit()
    [row] = rows(s, "case.reopen")
    assert "reason" not in row.detail
    assert "สมชาย" not in json.dumps(row.detail, ensure_ascii=False)
    note = s.get(TimelineEntry, row.detail["note_id"])
    assert (note.case_id, note.kind, note.public) == (case.id, "note", False)
    assert note.detail["text"] == "แม่ของน้องสมชายโทรมาแจ้ง 081-234-5678"


@pytest.fixture
def fresh_url(app, tmp_path):
    """A database of this test alone, on the backend under test."""
    if app.config["TEST_DATABASE_URL"].startswith("sqlite"):
        yield "sqlite:///" + str(tmp_path / "migrated.db")
        return
    database = PgDatabase("samoe_audit_migration")
    try:
        yield database.url
    finally:
        database.drop()


@pytest.fixture
def other(app, fresh_url):
    """Samoe on that database, in this process (its commands run by the CLI runner)."""
    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": fresh_url,
                        "LINE_EMULATOR": False, "LINE_CHANNEL_SECRET": "s",
                        "LINE_CHANNEL_ACCESS_TOKEN": "t", "WORKER_IN_PROCESS": False,
                        "SECRET_KEY": app.config["SECRET_KEY"]})
    yield other
    with other.app_context():
        db.engine.dispose()


def command(app, *args: str) -> str:
    with app.app_context():  # as `flask` pushes one for each command
        result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_the_migration_takes_texts_out_of_older_rows_and_clears_their_unkeyed_seals(
        other, fresh_url):
    with other.app_context():
        upgrade(revision="1249cba37f0a")  # the revision before it
    engine = sa.create_engine(normalise_database_url(fresh_url))
    at = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)
    old_rows = [
        ("case.list", {"via": "console", "filters": {"q": "สมชาย ดีมาก", "stage": "received"}}),
        ("case.export", {"via": "console", "filters": {"q": " มะลิ "}, "rows": 1}),
        ("case.reopen", {"via": "api", "reference": "KK-2569-00001",
                         "reason": "แม่ของน้องโทรมา"}),
        ("case.read", {"via": "api", "reference": "KK-2569-00001"}),
    ]
    try:
        with engine.begin() as conn:
            for n, (action, detail) in enumerate(old_rows, 1):
                conn.execute(sa.text(
                    "INSERT INTO audit_log (at, actor, actor_kind, action, detail, seal_seq, "
                    "prev_hash, row_hash) VALUES (:at, 'learn.np', 'officer', :action, "
                    ":detail, :seq, :prev, :hash)").bindparams(sa.bindparam("at", type_=UTC)),
                    {"at": at, "action": action, "seq": n, "prev": "0" * 64, "hash": "a" * 64,
                     "detail": json.dumps(detail, ensure_ascii=False)})
        with other.app_context():
            upgrade()
        with engine.connect() as conn:
            stored = conn.execute(sa.text(
                "SELECT action, detail, seal_seq, prev_hash, row_hash FROM audit_log "
                "ORDER BY id")).all()
        assert [json.loads(r.detail) for r in stored] == [
            {"via": "console", "filters": {"stage": "received", "q_length": 11}},
            {"via": "console", "filters": {"q_length": 4}, "rows": 1},
            {"via": "api", "reference": "KK-2569-00001"},
            {"via": "api", "reference": "KK-2569-00001"},
        ]
        assert all(r.seal_seq is r.prev_hash is r.row_hash is None for r in stored)
        # the sealer chains them again under the key, and the chain verifies
        assert command(other, "audit", "seal") == "4"
        verified = json.loads(command(other, "audit", "verify"))
        assert verified["ok"] and verified["checked"] == 4
        # downgrade: the keyed seals and the head go (the older code seals with SHA-256)
        with other.app_context():
            downgrade(revision="1249cba37f0a")
        with engine.connect() as conn:
            assert conn.scalar(sa.text(
                "SELECT count(*) FROM audit_log WHERE seal_seq IS NOT NULL")) == 0
            assert conn.scalar(sa.text(
                "SELECT count(*) FROM service_state WHERE key = 'audit.chain_head'")) == 0
    finally:
        engine.dispose()
