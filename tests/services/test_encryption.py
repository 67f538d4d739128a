"""Encryption at rest (models.crypto, services.encryption) on each database: identity and phone
numbers and photos stored as Fernet tokens and read back in clear; values written before
encryption still read; `rotate-key` moving everything to a new key while the old one still
decrypts; and the settings refusing a missing or malformed key in production."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from bot.config import ConfigError, load_settings
from bot.extensions import db
from handlers.flows import report as report_flow
from models import Case, CasePhoto, ConversationState, LineUser, crypto, utcnow
from services import encryption
from tests import factories as f
from tests.support import flask_command, flask_env

JPEG = b"\xff\xd8\xff\xe0" + b"photo-bytes" * 10


@pytest.fixture
def s(app):
    with app.app_context():
        saved = crypto._fernet
        yield db.session
        crypto._fernet = saved
        db.session.rollback()
        db.session.remove()


@pytest.fixture
def case(s, app):
    volunteer = f.line_user(s)
    volunteer.phone = "0891112222"
    made = f.report(s, app.config["SECRET_KEY"], volunteer, id_kind="citizen_id",
                    id_number="1101700203451")
    made.photos.append(CasePhoto(content_type="image/jpeg", data=JPEG, size=len(JPEG)))
    s.commit()
    return made


def raw(s, sql: str, **params):
    return s.execute(sa.text(sql), params).scalar()


def test_identity_and_phone_numbers_and_photos_are_stored_encrypted(s, case):
    for column in ("id_number", "guardian_phone"):
        stored = raw(s, f"SELECT {column} FROM cases WHERE id = :i", i=case.id)
        assert stored.startswith("enc1:") and "0812345678" not in stored
        assert "1101700203451" not in stored
    phone = raw(s, "SELECT phone FROM line_users WHERE id = :i", i=case.reporter_id)
    assert phone.startswith("enc1:") and "0891112222" not in phone
    photo = bytes(raw(s, "SELECT data FROM case_photos WHERE case_id = :i", i=case.id))
    assert photo.startswith(b"enc1:") and b"photo-bytes" not in photo
    s.expire_all()
    again = s.get(Case, case.id)
    assert (again.id_number, again.guardian_phone) == ("1101700203451", "0812345678")
    assert again.photos[0].data == JPEG
    assert s.get(LineUser, case.reporter_id).phone == "0891112222"


def test_a_value_stored_before_encryption_is_read_then_encrypted_by_rotate(s, case):
    s.execute(sa.text("UPDATE cases SET guardian_phone = '0800000000' WHERE id = :i"),
              {"i": case.id})
    s.commit()
    s.expire_all()
    assert s.get(Case, case.id).guardian_phone == "0800000000"
    report = encryption.rotate(s)
    assert report["cases.guardian_phone"] >= 1
    stored = raw(s, "SELECT guardian_phone FROM cases WHERE id = :i", i=case.id)
    assert stored.startswith("enc1:")
    s.expire_all()
    assert s.get(Case, case.id).guardian_phone == "0800000000"


def test_rotate_key_moves_every_value_to_the_new_key(s, case):
    old = crypto._fernet._fernets[0]
    new = Fernet(Fernet.generate_key())
    crypto.configure([new, old])  # DATA_ENCRYPTION_KEYS="NEW,OLD"
    report = encryption.rotate(s)
    assert report["cases.id_number"] >= 1 and report["case_photos.data"] >= 1
    assert report["line_users.phone"] >= 1
    crypto.configure([new])  # the old key dropped: everything still reads
    s.expire_all()
    again = s.get(Case, case.id)
    assert (again.id_number, again.photos[0].data) == ("1101700203451", JPEG)
    crypto.configure([old])  # and the old key alone no longer can
    s.expire_all()
    with pytest.raises(crypto.EncryptionKeyError):
        s.get(Case, case.id).id_number  # noqa: B018
    s.rollback()


def test_rotate_key_command_reports_the_columns(app, s, case):
    s.close()
    proc = flask_command(["rotate-key"], flask_env(app))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert set(report) == {"cases.id_number", "cases.guardian_phone", "line_users.phone",
                           "case_photos.data", "conversation_states.draft"}
    assert report["cases.id_number"] >= 1


def test_rotate_key_moves_the_sealed_answers_of_drafts_to_the_new_key(s):
    old = crypto._fernet._fernets[0]
    answers = {"group": "out_of_school", "child_name": report_flow.seal("สมชาย ใจดี"),
               "guardian": report_flow.seal({"name": "บัวพันธ์", "phone": "0812345678"}),
               "id": report_flow.seal({"kind": "citizen_id", "value": "1101700203451"})}
    state = ConversationState(line_user_id="U-draft", flow="report", step="relation",
                              draft=json.dumps(answers), history="[]",
                              expires_at=utcnow(), updated_at=utcnow())
    s.add(state)
    s.commit()
    version = state.version
    new = Fernet(Fernet.generate_key())
    crypto.configure([new, old])
    assert encryption.rotate(s)["conversation_states.draft"] == 1
    crypto.configure([new])  # the old key dropped: the draft still reads
    s.expire_all()
    again = s.get(ConversationState, state.id)
    assert again.version == version + 1  # an engine's write of what it read before fails
    draft = json.loads(again.draft)
    assert draft["group"] == "out_of_school"
    assert report_flow.answer(draft, "child_name") == "สมชาย ใจดี"
    assert report_flow.answer(draft, "guardian")["phone"] == "0812345678"
    assert report_flow.answer(draft, "id")["value"] == "1101700203451"
    assert encryption.rotate(s)["conversation_states.draft"] == 1  # again: still readable
    s.rollback()


def test_production_needs_keys_and_a_bad_key_stops_start_up(tmp_path):
    base = {"SAMOE_ENV": "production", "SECRET_KEY": "k", "LINE_CHANNEL_SECRET": "s",
            "LINE_CHANNEL_ACCESS_TOKEN": "t", "DATABASE_URL": "postgresql://db/samoe",
            "AUDIT_CHAIN_KEY": "a" * 64}
    with pytest.raises(ConfigError) as info:
        load_settings(str(tmp_path), base)
    assert "DATA_ENCRYPTION_KEYS" in str(info.value)
    key = Fernet.generate_key().decode()
    settings = load_settings(str(tmp_path), {**base, "DATA_ENCRYPTION_KEYS": f"{key}, {key}"})
    assert settings["DATA_ENCRYPTION_KEYS"].startswith(key)
    with pytest.raises(ConfigError) as info:
        load_settings(str(tmp_path), {**base, "DATA_ENCRYPTION_KEYS": "not-a-key"})
    assert "Fernet" in str(info.value)


def test_without_keys_nothing_is_written_in_clear(s):
    crypto.configure([])
    with pytest.raises(crypto.EncryptionKeyError):
        crypto.encrypt_text("0812345678")
