"""Keep the Babel catalogs in step with the code.

    python scripts/i18n.py update          extract messages and update locales/th and locales/en
    python scripts/i18n.py missing         list the msgids that have no Thai translation yet
    python scripts/i18n.py fill FILE.json  fill empty Thai translations from {"msgid": "Thai"}
                                           (a plural msgid takes a list of Thai forms)

`fill` only writes translations that are still empty, so several people adding messages at the
same time do not overwrite each other's work.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TH = ROOT / "locales/th/LC_MESSAGES/messages.po"


def _pybabel(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], cwd=ROOT,
                   check=True)


def update() -> None:
    _pybabel("extract", "-F", "babel.cfg", "-o", "locales/messages.pot", "--no-location",
             "--sort-output", "-k", "_l", "-w", "100", ".")
    _pybabel("update", "-i", "locales/messages.pot", "-d", "locales", "--no-fuzzy-matching",
             "--ignore-obsolete", "-w", "100")


def _read():
    with TH.open("rb") as handle:
        return read_po(handle, locale="th")


def _empty(message) -> bool:
    if isinstance(message.string, (list, tuple)):
        return not any(message.string)
    return not message.string


def missing() -> list[str]:
    return [m.id if isinstance(m.id, str) else m.id[0] for m in _read() if m.id and _empty(m)]


def fill(path: str) -> int:
    translations = json.loads(Path(path).read_text(encoding="utf-8"))
    catalog = _read()
    filled = 0
    for message in catalog:
        if not message.id or not _empty(message):
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        if key not in translations:
            continue
        value = translations[key]
        if isinstance(message.id, (list, tuple)):
            value = value if isinstance(value, list) else [value]
            message.string = tuple(value[:1] * len(message.id)) if len(value) == 1 else tuple(
                value)
        else:
            message.string = value
        filled += 1
    with TH.open("wb") as handle:
        write_po(handle, catalog, width=100, no_location=True)
    return filled


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("update", "missing", "fill"):
        print(__doc__)
        return 2
    if argv[0] == "update":
        update()
    elif argv[0] == "missing":
        for msgid in missing():
            print(json.dumps(msgid, ensure_ascii=False))
    else:
        print(f"filled {fill(argv[1])} translations")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
