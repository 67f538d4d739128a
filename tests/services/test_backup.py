"""Backup and restore (services.backup, `flask --app wsgi backup` / `restore`) on each database.

Cases, consents, photos, timeline entries and audit rows are made through the real services; a
backup is taken by the command while a writer thread keeps adding timeline entries; it is
restored into a fresh database of the test's own (PostgreSQL: a new database, dropped at the
end), where every case and every timeline entry of the backup is found, the encrypted fields
read back, the audit chain verifies and the schema is at the head revision. Bad input ends
with a clear message and exit status 1."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import shutil
import subprocess
import threading
import time
import warnings
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.config import normalise_database_url
from bot.extensions import db
from bot.thai_text import citizen_id_check_digit
from models import AuditEntry, Case, Consent, TimelineEntry
from services import audit, backup, workflow
from tests import factories as f
from tests.drills.support import PgDatabase
from tests.support import flask_command, flask_env

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
_ids = itertools.count(1)


def citizen_id() -> str:
    first_twelve = f"110370{next(_ids):06d}"
    return first_twelve + str(citizen_id_check_digit(first_twelve))



def _major_of(tool: str) -> int | None:
    try:
        done = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    found = re.search(r"(\d+)(?:\.\d+)?", done.stdout)
    return int(found.group(1)) if done.returncode == 0 and found else None


def pg_tools(url: str) -> tuple[str, str, str]:
    """The pg_dump and pg_restore to test with: of the server's major version (Debian keeps
    each installed version in /usr/lib/postgresql/N/bin; $PG_DUMP first if set), else a newer
    one, said so; none, or only older ones: the test fails saying what to install."""
    with psycopg.connect(backup.libpq(url)[0]) as conn:
        server = conn.info.server_version // 10000
    candidates = [c for c in (os.environ.get("PG_DUMP"),
                              f"/usr/lib/postgresql/{server}/bin/pg_dump",
                              shutil.which("pg_dump")) if c]
    versions = {c: _major_of(c) for c in dict.fromkeys(candidates)}
    install = (f"install postgresql-client-{server} (scripts/test.sh does it when run as root: "
               f"apt-get install postgresql-client-{server})")
    matching = [c for c, major in versions.items() if major == server]
    newer = [c for c, major in versions.items() if major is not None and major > server]
    if matching:
        dump, note = matching[0], f"pg_dump {server} for PostgreSQL {server}"
    elif newer:
        dump = newer[0]
        note = (f"pg_dump {versions[dump]} for PostgreSQL {server}: no pg_dump {server} here, "
                f"so the backup is tested with a newer one (which PostgreSQL supports); to "
                f"test the matching one, {install}")
        warnings.warn(note, stacklevel=2)
    elif any(major is not None for major in versions.values()):
        pytest.fail(f"only an older pg_dump ({sorted(set(versions.values()) - {None})}) for "
                    f"PostgreSQL {server}, which cannot dump it: {install}")
    else:
        pytest.fail(f"pg_dump is not installed, so PostgreSQL's backups cannot be tested: "
                    f"{install}")
    restore = str(Path(dump).with_name("pg_restore"))
    return dump, restore, note


@pytest.fixture(autouse=True)
def postgresql_tools(app, monkeypatch):
    """On PostgreSQL, the commands (here and in the flask processes) use `pg_tools`'s."""
    url = app.config["TEST_DATABASE_URL"]
    if url.startswith("sqlite"):
        yield None
        return
    dump, restore, note = pg_tools(url)
    for name, path in (("PG_DUMP", dump), ("PG_RESTORE", restore)):
        monkeypatch.setenv(name, path)
        monkeypatch.setattr(backup, name, path)
    yield note


@pytest.fixture
def fresh(app, tmp_path):
    """A new, empty database on the backend under test, of this test alone."""
    if app.config["TEST_DATABASE_URL"].startswith("sqlite"):
        yield "sqlite:///" + str(tmp_path / "restored.db")
        return
    database = PgDatabase("samoe_restore")
    try:
        yield database.url
    finally:
        database.drop()


def run(app, *args: str, database_url: str | None = None) -> tuple[int, dict, str]:
    """Run `flask --app wsgi ARGS`; its exit status, its JSON line and its stderr."""
    env = flask_env(app, **({"DATABASE_URL": database_url} if database_url else {}))
    proc = flask_command(list(args), env)
    out, err = proc.communicate(timeout=300)
    lines = out.strip().splitlines()
    return proc.returncode, json.loads(lines[-1]) if lines else {}, err


def make_cases(s, app, count: int = 4) -> tuple[list[int], object]:
    """Cases reported by a volunteer (consent, ID and phone numbers, some with a photo) and
    worked by an officer (timeline entries and audit rows); the audit log sealed."""
    volunteer = f.line_user(s)
    officer = f.actor(f.officer(s, agency="LEARN", area="4007"))
    ids = []
    for n in range(count):
        photo = ("image/png", PNG + bytes([n])) if n % 2 == 0 else None
        case = f.report(s, app.config["SECRET_KEY"], volunteer, id_kind="citizen_id",
                        id_number=citizen_id(), photo=photo)
        workflow.transition(s, officer, case, "in_support", note=f"แม่ทำงานต่างจังหวัด {n}")
        workflow.record_service(s, officer, case, "learn_enrolment",
                                provided_on=dt.date(2026, 11, 1))
        audit.record(s, officer, "case.read", case, fields=["guardian_phone"])
        s.commit()
        ids.append(case.id)
    audit.seal(s)
    return ids, officer


class Writer(threading.Thread):
    """Adds a timeline entry (a home visit through the service) every few milliseconds."""

    def __init__(self, app, case_id: int, officer):
        super().__init__(daemon=True)
        self.app, self.case_id, self.officer = app, case_id, officer
        self.stop = threading.Event()
        self.written = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        with self.app.app_context():
            try:
                while not self.stop.is_set():
                    case = db.session.get(Case, self.case_id)
                    workflow.record_visit(db.session, self.officer, case, "found",
                                          note=f"เยี่ยมบ้านครั้งที่ {self.written + 1}")
                    db.session.commit()
                    self.written += 1
                    time.sleep(0.005)
            except BaseException as exc:  # reported by the test
                self.error = exc
            finally:
                db.session.remove()


def snapshot(session: Session) -> dict:
    """What must come back: every case with its decrypted fields, photos and consents, and
    every timeline entry, in id order."""
    cases = session.scalars(sa.select(Case).order_by(Case.id)).all()
    return {
        "cases": [(c.id, c.reference, c.child_name, c.id_number, c.guardian_phone, c.stage,
                   [(p.content_type, p.data) for p in sorted(c.photos, key=lambda p: p.id)])
                  for c in cases],
        "consents": session.scalars(sa.select(Consent.case_id).order_by(Consent.id)).all(),
        "timeline": [(e.id, e.case_id, e.kind, json.dumps(e.detail, sort_keys=True))
                     for e in session.scalars(sa.select(TimelineEntry).order_by(TimelineEntry.id))],
        "audit": session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)),
    }


def test_a_backup_taken_while_writing_restores_every_case_and_entry(app, s, fresh, tmp_path,
                                                                    postgresql_tools):
    case_ids, officer = make_cases(s, app)
    before = snapshot(s)
    sealed = s.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.seal_seq.is_not(None)))
    s.rollback()
    assert len(before["cases"]) == 4 and sum(len(c[6]) for c in before["cases"]) == 2
    assert all(c[3] and c[4] for c in before["cases"])  # ID and phone numbers held encrypted

    writer = Writer(app, case_ids[0], officer)
    writer.start()
    try:
        time.sleep(0.3)
        written_before = writer.written
        path = tmp_path / "samoe.backup"
        code, report, err = run(app, "backup", str(path))
        written_during = writer.written - written_before
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    assert writer.error is None, writer.error
    assert code == 0, err[-2000:]
    assert written_during > 0  # the service went on writing while the backup ran
    after = snapshot(s)
    s.rollback()
    engine = "sqlite" if fresh.startswith("sqlite") else "postgresql"
    assert report["engine"] == engine and report["backup"] == str(path)
    assert report["bytes"] == path.stat().st_size > 0
    assert not path.with_name(path.name + ".partial").exists()
    assert report["cases"] == 4
    assert len(before["timeline"]) <= report["timeline_entries"] <= len(after["timeline"])

    code, restored_report, err = run(app, "restore", str(path), database_url=fresh)
    assert code == 0, err[-2000:]
    assert (restored_report["cases"], restored_report["timeline_entries"]) == (
        report["cases"], report["timeline_entries"])
    assert restored_report["revision"] == report["revision"]

    restored_engine = sa.create_engine(normalise_database_url(fresh))
    try:
        with Session(restored_engine) as restored:
            copy = snapshot(restored)
    finally:
        restored_engine.dispose()
    # every case, decrypted, with its photos and consents; the timeline as it was when the
    # backup was taken: all entries written before it, none half-written
    assert copy["cases"] == after["cases"] == before["cases"]
    assert copy["consents"] == after["consents"]
    assert copy["timeline"] == after["timeline"][:report["timeline_entries"]]
    assert copy["timeline"][:len(before["timeline"])] == before["timeline"]
    assert copy["audit"] == report["audit_log"]
    print(f"\n{engine}: backup {report['bytes']} bytes in {report['seconds']} s, "
          f"{report['timeline_entries']} timeline entries ({written_during} visits written "
          f"while the command ran), restored in {restored_report['seconds']} s"
          + (f"; {postgresql_tools}" if postgresql_tools else ""))

    code, verified, err = run(app, "audit", "verify", database_url=fresh)
    assert code == 0 and verified["ok"] is True, verified
    assert verified["checked"] == sealed == before["audit"]
    env = flask_env(app, DATABASE_URL=fresh)
    proc = flask_command(["db", "current"], env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and f"{report['revision']} (head)" in out, out + err

    # a second restore into the now filled database is refused, unless forced
    with pytest.raises(backup.BackupError) as refused:
        backup.restore(fresh, path)
    assert refused.value.code == "not_empty"
    forced = backup.restore(fresh, path, force=True)
    assert (forced["cases"], forced["timeline_entries"]) == (4, report["timeline_entries"])


def test_bad_input_ends_with_a_clear_message_and_exit_status_1(app, s, tmp_path):
    make_cases(s, app, count=1)
    s.rollback()
    good = tmp_path / "good.backup"
    backup.backup(app.config["TEST_DATABASE_URL"], good)
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("not a folder")
    corrupt = tmp_path / "corrupt.backup"
    corrupt.write_bytes(b"PGDMP" + bytes(range(256)) * 8)
    fresh_sqlite = "sqlite:///" + str(tmp_path / "never-made.db")
    target = fresh_sqlite if app.config["TEST_DATABASE_URL"].startswith("sqlite") else None

    commands = {
        "unwritable": (["backup", str(not_a_folder / "samoe.backup")], None),
        "missing": (["restore", str(tmp_path / "no-such.backup")], target),
        "corrupt": (["restore", str(corrupt)], target),
        "not_empty": (["restore", str(good)], app.config["TEST_DATABASE_URL"]),
    }
    procs = {code: flask_command(args, flask_env(app, **(
        {"DATABASE_URL": url} if url else {}))) for code, (args, url) in commands.items()}
    for code, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        answer = json.loads(out.strip().splitlines()[-1])
        assert proc.returncode == 1, (code, out, err[-2000:])
        assert answer["error"] == code, answer
        assert answer["message"] in err  # said on stderr too, for cron's mail
        assert "Traceback" not in err
    assert not (not_a_folder / "samoe.backup.partial").exists()
    # the refused restore changed nothing
    assert s.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


def test_pg_dump_older_than_the_server_is_refused_by_name(app, tmp_path, monkeypatch):
    url = app.config["TEST_DATABASE_URL"]
    if url.startswith("sqlite"):
        pytest.skip("pg_dump's version check: PostgreSQL only (SQLite backs up without it)")
    with psycopg.connect(backup.libpq(url)[0]) as conn:
        client, server = backup.check_versions(backup.PG_DUMP, conn)
    assert client >= server  # the pg_dump the tests use can back the server up
    old = tmp_path / "pg_dump"
    old.write_text(f"#!/bin/sh\necho 'pg_dump (PostgreSQL) {server - 1}.3'\n")
    old.chmod(0o755)
    monkeypatch.setattr(backup, "PG_DUMP", str(old))
    with pytest.raises(backup.BackupError) as refused:
        backup.backup(url, tmp_path / "samoe.backup")
    assert refused.value.code == "version_mismatch"
    assert f"postgresql-client-{server}" in refused.value.message
    assert list(tmp_path.iterdir()) == [old]  # no backup file, not even a partial one
