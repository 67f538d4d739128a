"""Logs without personal data (DESIGN.md §4, issue 11 point 6).

Every record that leaves through Samoe's handler passes `Redact` first: Thai text (names,
addresses and message text are written in Thai), runs of 9 or more digits with or without
dashes and spaces (phone and identity numbers), e-mail addresses and the values of JSON fields
that carry what people typed (`"text"`, `"displayName"`, `"address"`, `"title"`) are replaced
by a marker. The code logs ids, references and counts, never people's words — the filter is the
net under that rule, applied to the message, its arguments, and the traceback text.

`LOG_FORMAT=json` (the default with SAMOE_ENV=production) writes one JSON object per line:
`ts`, `level`, `logger`, `message`, and `exc` when there is a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

THAI = re.compile(r"[\u0e00-\u0e7f]+(?:[\s\u0e00-\u0e7f.]*[\u0e00-\u0e7f])?")
DIGITS = re.compile(r"(?<![\w.\-])(?:\+?\d[\d\- ]{7,}\d)(?![\w.])")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
FIELDS = re.compile(r'("(?:text|displayName|address|title|full_name|child_name|guardian_name|'
                    r'guardian_phone|phone|id_number|note)"\s*:\s*)"(?:[^"\\]|\\.)*"')
MARK = "[redacted]"


def redact(text: str) -> str:
    """The text with personal data replaced by a marker."""
    text = FIELDS.sub(lambda m: m.group(1) + f'"{MARK}"', text)
    text = THAI.sub(MARK, text)
    text = EMAIL.sub(MARK, text)
    return DIGITS.sub(lambda m: MARK if sum(c.isdigit() for c in m.group(0)) >= 9
                      else m.group(0), text)


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
