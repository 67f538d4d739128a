"""Project-wide checks: one migration head, models match the migrations, Thai text only in
the catalogs, every message translated."""

from __future__ import annotations

import re
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.extensions import db
from bot.ops import migration_heads
from models.base import for_dialect

ROOT = Path(__file__).resolve().parent.parent
THAI = re.compile(r"[\u0E00-\u0E7F]")
CODE_DIRS = ("bot", "handlers", "services", "models")
# Thai here is vocabulary to match what people type (month names, particles, intent phrases),
# never text shown to a user.
VOCABULARY = {"bot/thai_text.py", "bot/intents.py", "services/areas.py", "services/cases.py"}


def test_migrations_have_a_single_head():
    assert len(migration_heads()) == 1


def test_models_and_migrations_agree(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True,
                  "include_object": lambda obj, name, type_, reflected, *a: not (
                      type_ == "table" and name.startswith("emu_")) and (
                      reflected or for_dialect(obj, connection.dialect.name))},
        )
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_no_user_facing_thai_outside_the_catalogs():
    offenders = []
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            if str(path.relative_to(ROOT)) in VOCABULARY:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if THAI.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []


def test_every_message_has_a_thai_translation():
    extracted = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for folder in CODE_DIRS
        for message in extract_from_dir(str(ROOT / folder), [("**.py", "python")])
    }
    with (ROOT / "locales/th/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="th")
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    assert extracted - translated == set(), "run pybabel extract/update and translate"
    for message in catalog:
        if message.id:
            assert THAI.search(message.string), f"not Thai: {message.id!r}"
