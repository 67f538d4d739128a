"""Per-user language: the Babel catalogs in locales/, Thai first and English second."""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import request, session

SUPPORTED = ("th", "en")
DEFAULT = "th"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


#: Pages whose language is the one chosen on the page (kept in the session), Thai by default.
CONSOLE_PREFIX = "/console"


def select_locale() -> str:
    """Pick the web request's language: the console's choice kept in its session (Thai until
    the officer switches), elsewhere the request's Accept-Language."""
    try:
        path = request.path
    except RuntimeError:  # outside a request: the worker forces the user's locale itself
        return DEFAULT
    if path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/"):
        chosen = session.get("lang")
        return chosen if chosen in SUPPORTED else DEFAULT
    return request.accept_languages.best_match(SUPPORTED) or DEFAULT


def user_locale(language: str | None) -> str:
    """The catalog to use for a user's stored language."""
    return language if language in SUPPORTED else DEFAULT


def compile_catalogs(locales_dir: Path = LOCALES_DIR) -> list[Path]:
    """Compile every messages.po under locales/ to messages.mo; return the files written."""
    written = []
    for po_path in sorted(locales_dir.glob("*/LC_MESSAGES/*.po")):
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        mo_path = po_path.with_suffix(".mo")
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog, use_fuzzy=False)
        written.append(mo_path)
    return written
