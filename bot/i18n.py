"""Per-user language: the Babel catalogs in locales/, Thai first and English second."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import flask_babel
from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations
from flask import request, session
from flask_babel.speaklater import LazyString

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


#: The locale forced by `force_locale` in this thread and its catalog (None: not forced).
_forced: ContextVar[tuple[str, NullTranslations] | None] = ContextVar(
    "samoe_forced_catalog", default=None)
#: Babel's Locale of each supported language, parsed once (parsing looks for its data file).
_LOCALES = {name: Locale.parse(name) for name in SUPPORTED}


@contextmanager
def force_locale(locale) -> Iterator[None]:
    """flask_babel's force_locale, with the locale's catalog looked up once for the block.

    The worker answers every event under its user's locale, and one answer looks up six or
    more texts: through flask_babel each lookup finds the app, the request or `g`, the locale
    and the catalog again (about a tenth of the worker's own CPU per event,
    bench/profile_worker.py --profile worker). Inside this block `gettext` goes straight to the
    catalog flask_babel itself picked for the locale; flask_babel's own functions
    (get_locale, format_*) still see the forced locale. Forcing the locale already forced
    changes nothing and costs nothing."""
    name = str(locale)
    forced = _forced.get()
    if forced is not None and forced[0] == name:
        yield
        return
    with flask_babel.force_locale(_LOCALES.get(name, locale)):
        token = _forced.set((name, flask_babel.get_translations()))
        try:
            yield
        finally:
            _forced.reset(token)


def gettext(string: str, **variables) -> str:
    """flask_babel's gettext: the text in the forced locale's catalog, else in the request's."""
    forced = _forced.get()
    if forced is None:
        return flask_babel.gettext(string, **variables)
    text = forced[1].ugettext(string)
    return text % variables if variables else text


def lazy_gettext(string: str, **variables) -> LazyString:
    """A text looked up (`gettext`) each time it is used, in the locale of that moment."""
    return LazyString(gettext, string, **variables)


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
