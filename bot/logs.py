"""Logs without personal data (DESIGN.md §4, issue 11 point 6).

The code logs ids, references, counts and error classes, never what people typed, their names
or their numbers; SQL errors name the statement but never its values (the engine's
`hide_parameters`, bot.config). Every record that leaves through Samoe's handler also passes
`Redact`, the net under that rule, applied to the message, its arguments and the traceback:

- Thai text (names, addresses and messages are written in Thai), also JSON-escaped (\\u0e..);
- phone and identity numbers: runs of 9 or more digits, with or without dashes, spaces,
  brackets or a leading +, even before a full stop (`08-1234-5678.`), but not an ISO date
  or a reference (`KK-2569-00042`); G-codes (`G` and 12 digits);
- Latin-script names: two or more capitalised words in a row (`Somchai Deemak`), except
  HTTP's reason phrases (`Internal Server Error`);
- e-mail addresses;
- the values of fields that carry what people typed or who they are (`text`, `displayName`,
  `child_name`, `phone`, pydantic's `input_value`, ...), whether written as JSON, a Python
  dict or `name=value`;
- the parameters of an SQL statement, should a library print them.

`LOG_FORMAT=json` (the default with SAMOE_ENV=production) writes one JSON object per line:
`ts`, `level`, `logger`, `message`, and `exc` when there is a traceback.
"""

from __future__ import annotations

import datetime as dt
import http
import json
import logging
import re

THAI = re.compile(r"[\u0e00-\u0e7f]+(?:[\s\u0e00-\u0e7f.]*[\u0e00-\u0e7f])?")
ESCAPED_THAI = re.compile(r"(?:\\u0[eE][0-7][0-9a-fA-F])+")
#: digits with separators; not after a letter, digit, dot, dash or plus; not an ISO date
DIGITS = re.compile(r"(?<![\w.\-+])(?!\d{4}-\d{2}-\d{2})[+(]?\d(?:[\d\- ()]*\d)?"
                    r"(?![\w\-]|\.\d)")
GCODE = re.compile(r"(?<![A-Za-z0-9])[Gg][\s\-]?(?:\d[\s\-]?){11}\d(?![A-Za-z0-9])")
LATIN_NAME = re.compile(r"\b[A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+)+\b")
KEPT_PHRASES = frozenset(status.phrase for status in http.HTTPStatus)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_FIELD_NAMES = (r"text|displayName|display_name|statusMessage|address|title|name|nickname|"
                r"full_name|child_name|guardian_name|guardian_phone|phone|id_number|note|"
                r"reason|village|input_value")
FIELDS = re.compile(r"((?:[\"'](?:" + _FIELD_NAMES + r")[\"']\s*:|\b(?:" + _FIELD_NAMES
                    + r")\s*=)\s*)(?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')")
SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*")
MARK = "[redacted]"


def _digits(match: re.Match) -> str:
    return MARK if sum(c.isdigit() for c in match.group(0)) >= 9 else match.group(0)


def _name(match: re.Match) -> str:
    return match.group(0) if match.group(0) in KEPT_PHRASES else MARK


def redact(text: str) -> str:
    """The text with personal data replaced by a marker."""
    text = FIELDS.sub(lambda m: m.group(1) + f'"{MARK}"', text)
    text = SQL_PARAMETERS.sub(f"[parameters: {MARK}]", text)
    text = THAI.sub(MARK, text)
    text = ESCAPED_THAI.sub(MARK, text)
    text = EMAIL.sub(MARK, text)
    text = GCODE.sub(MARK, text)
    text = DIGITS.sub(_digits, text)
    return LATIN_NAME.sub(_name, text)


class Redact(logging.Filter):
    """Rewrites a record's message (arguments merged) and traceback text, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None  # formatted (and redacted) already
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                     timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")


def handler(stream, fmt: str = "text") -> logging.Handler:
    """Samoe's log handler on `stream`: redacted, in `fmt` (text or json)."""
    out = logging.StreamHandler(stream)
    out.addFilter(Redact())
    out.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    out._samoe = True
    return out
