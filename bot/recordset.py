"""PostgreSQL: many rows sent as one JSON parameter and read back by `json_to_recordset`.

A statement of this shape has the same text for any number of rows, so it is parsed and
prepared once; the JSON is made by the json module's C encoder and read by the server's,
where an executemany is a statement a row and psycopg builds arrays value by value in Python.
Used by the webhook's insert (bot.inbox), the worker's answers (bot.outbox) and the sender's
outcomes (bot.sender).
"""

from __future__ import annotations

import datetime as dt
import json


def columns(table, keys, dialect, prefix: str = "") -> str:
    """`name TYPE, …` of these columns of `table`, for `json_to_recordset(%s) AS r(…)`."""
    return ", ".join(f"{prefix}{key} {table.c[key].type.compile(dialect=dialect)}"
                     for key in keys)


def processors(table, keys, dialect) -> dict:
    """Each column's bind processing (UTCDateTime: aware UTC to naive), or None."""
    return {key: table.c[key].type.bind_processor(dialect) for key in keys}


def bound(value, process):
    """A value as its column stores it, in JSON's terms (a time as ISO 8601 text)."""
    if process is not None:
        value = process(value)
    return value.isoformat() if isinstance(value, dt.datetime) else value


def dumps(records: list[dict]) -> str:
    """The JSON parameter of the rows."""
    return json.dumps(records, ensure_ascii=False, separators=(",", ":"))
