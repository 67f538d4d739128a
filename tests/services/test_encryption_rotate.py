"""`flask --app wsgi rotate-key` while the service keeps writing (issue 11, point 3), on each
database: another process reports new children and changes guardians' phone numbers the whole
time the command runs (small batches, so their transactions interleave); afterwards every
value reads back as last written, and every one is under the newest key alone."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from bot.extensions import db
from bot.thai_text import citizen_id_check_digit
from models import Case, CasePhoto, LineUser, crypto
from tests import factories as f
from tests.support import ROOT, flask_env

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

#: The other process: the service, restarted with DATA_ENCRYPTION_KEYS=NEW,OLD, writing.
WRITER = r"""
import datetime as dt, json, random, sys, time
from pathlib import Path
import sqlalchemy as sa
from bot import create_app
from bot.extensions import db
from bot.thai_text import citizen_id_check_digit
from bot.thai_text import citizen_id_check_digit
from models import Case, LineUser
from services import cases

stop, ids, users = Path(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
app = create_app()
written, times, n = {}, [], 0
with app.app_context():
    reporter = db.session.scalar(sa.select(LineUser).order_by(LineUser.id))
    while not stop.exists():
        n += 1
        first = f"11037{500000 + n:07d}"
        draft = cases.CaseDraft(
            target_group="out_of_school", child_name=f"writer child {n}",
            subdistrict_code="400701", submission_key=f"writer-{n}", sex="male",
            birth_date=dt.date(2011, 5, 1), birth_precision="day", guardian_name="writer",
            guardian_phone=f"08{n:08d}", guardian_relation="mother", village="v",
            village_no=1, situations=["dropped_out"], consent=True, id_kind="citizen_id",
            id_number=first + str(citizen_id_check_digit(first)))
        made = cases.submit_report(db.session, app.config["ID_HASH_KEY"], reporter, draft,
                                   now=dt.datetime.now(dt.UTC)).case
        changed = db.session.get(Case, random.choice(ids))
        changed.guardian_phone = f"09{n:08d}"
        user = db.session.get(LineUser, random.choice(users))
        user.phone = f"07{n:08d}"
        db.session.flush()
        now_written = {str(made.id): made.guardian_phone, str(changed.id): f"09{n:08d}",
                       f"user {user.id}": f"07{n:08d}"}
        db.session.commit()  # and nothing read after it: a read would hold SQLite's lock
        written.update(now_written)
        times.append(time.time())
        if n == 3:
            print("writing", flush=True)
        time.sleep(0.02)  # a busy service, not a flood
print(json.dumps({"written": written, "times": times}))
"""


@pytest.fixture
def s(app):
    with app.app_context():
        saved = crypto._fernet
        yield db.session
        crypto._fernet = saved
        db.session.rollback()
        db.session.remove()


def test_rotate_key_while_another_process_writes_leaves_everything_under_the_new_key(
        app, s, tmp_path):
    volunteer = f.line_user(s)
    volunteer.phone = "0891112222"
    ids = []
    for n in range(40):
        first = f"11037{400000 + n:07d}"
        case = f.report(s, app.config["SECRET_KEY"], volunteer, id_kind="citizen_id",
                        id_number=first + str(citizen_id_check_digit(first)))
        case.guardian_phone = f"06{n:08d}"
        if n % 3 == 0:
            case.photos.append(CasePhoto(content_type="image/png", data=PNG + bytes([n]),
                                         size=len(PNG) + 1))
        ids.append(case.id)
    s.add_all(LineUser(line_user_id=f"Urotate{n:026x}", phone=f"05{n:08d}") for n in range(800))
    s.commit()
    expected = {str(c.id): c.guardian_phone for c in s.scalars(sa.select(Case))}
    users = {f"user {u.id}": u.phone for u in s.scalars(sa.select(LineUser).where(
        LineUser.line_user_id.startswith("Urotate")))}
    volunteer_id = volunteer.id
    s.close()

    old = app.config["DATA_ENCRYPTION_KEYS"]
    new = Fernet.generate_key().decode()
    env = flask_env(app, DATA_ENCRYPTION_KEYS=f"{new},{old}")  # the new key first, restarted
    stop = tmp_path / "stop"
    log = (tmp_path / "writer.log").open("w")  # a pipe nobody reads would fill and block it
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(stop), json.dumps(ids),
                               json.dumps([int(k.split()[1]) for k in users])],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing", (tmp_path / "writer.log").read_text()
        # the command, here, with the same keys (the writer is the other process)
        crypto.configure(crypto.parse_keys(f"{new},{old}"))
        started = time.time()
        rotate = app.test_cli_runner().invoke(args=["rotate-key", "--batch", "10"])
        ended = time.time()
        assert rotate.exit_code == 0, rotate.output
        time.sleep(0.3)  # and a few writes after it
    finally:
        stop.touch()
        written, _ = writer.communicate(timeout=120)
        log.close()
    assert writer.returncode == 0, (tmp_path / "writer.log").read_text()[-3000:]
    report = json.loads(rotate.output.strip().splitlines()[-1])
    made = json.loads(written.strip().splitlines()[-1])
    writes = made["written"]
    during = sum(started <= t <= ended for t in made["times"])
    print(f"\nrotate-key: {report} in {ended - started:.1f} s; the writer committed "
          f"{len(made['times'])} times, {during} of them while it ran")
    assert during >= 3, "the writer and the command did not overlap"
    assert report["cases.guardian_phone"] >= 1 and report["case_photos.data"] == 14
    assert report["line_users.phone"] >= 800

    # every stored token decrypts with the new key alone (not only through MultiFernet)
    only_new = Fernet(new.encode())
    for table, column in (("cases", "guardian_phone"), ("cases", "id_number"),
                          ("line_users", "phone"), ("case_photos", "data")):
        for (value,) in s.execute(sa.text(
                f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")):
            token = bytes(value) if isinstance(value, bytes | memoryview) else value.encode()
            assert token.startswith(b"enc1:"), (table, column)
            only_new.decrypt(token[len(b"enc1:"):])
    # and reads back as last written, with the old key dropped
    crypto.configure(crypto.parse_keys(new))
    s.expire_all()
    phones = {str(c.id): c.guardian_phone for c in s.scalars(sa.select(Case))}
    phones.update({f"user {u.id}": u.phone for u in s.scalars(sa.select(LineUser).where(
        LineUser.line_user_id.startswith("Urotate")))})
    expected.update(users)
    expected.update(writes)
    assert phones == expected
    assert len(phones) == 40 + 800 + len([k for k in writes if " " not in k
                                             and int(k) not in ids])
    assert s.scalar(sa.select(LineUser.phone).where(LineUser.id == volunteer_id)) == "0891112222"
    assert sorted(p.data for p in s.scalars(sa.select(CasePhoto))) == sorted(
        PNG + bytes([n]) for n in range(0, 40, 3))
