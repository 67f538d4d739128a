"""Spreadsheet files of rows: CSV (UTF-8 with a byte-order mark, so Excel on an old office PC
reads Thai) and XLSX (XlsxWriter in constant-memory mode: each row goes to disk as it is
written), both into a temporary file so a large export holds one row in memory at a time.

A text cell that a spreadsheet would take as a formula (it starts with = + - @, a tab or a
carriage return) is written with a leading apostrophe: a name typed as `=HYPERLINK(...)` stays
text in Excel, LibreOffice and Google Sheets, in both formats (OWASP's advice on CSV
injection). Characters XML cannot hold are dropped from XLSX cells (a file with them would not
open); everything else, Thai and emoji included, is kept as it is.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import tempfile
from collections.abc import Iterable, Sequence
from typing import IO

FORMATS = ("csv", "xlsx")
MIMETYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Excel holds at most this many characters in a cell.
CELL_MAX = 32_767
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: Memory kept before the temporary file goes to disk.
SPOOL_BYTES = 1 << 20


def guard(value: str) -> str:
    """Text that no spreadsheet reads as a formula."""
    if value and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (int, float)):
        return str(value)
    return guard(str(value))


def write_csv(headers: Sequence[str], rows: Iterable[Sequence]) -> tuple[IO[bytes], int]:
    """A CSV file (UTF-8 with BOM, CRLF lines) of `rows` under `headers`, rewound; and how
    many rows it holds."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    out.write(codecs.BOM_UTF8)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, dialect="excel")
    writer.writerow([guard(str(h)) for h in headers])
    count = 0
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        count += 1
    text.flush()
    text.detach()  # keep `out` open for the caller
    out.seek(0)
    return out, count


def _xlsx_text(value: str) -> str:
    return guard(_XML_ILLEGAL.sub("", value))[:CELL_MAX]


def write_xlsx(headers: Sequence[str], rows: Iterable[Sequence], sheet: str = "cases",
               about: Sequence[tuple[str, str]] = (),
               about_sheet: str = "about") -> tuple[IO[bytes], int]:
    """An XLSX workbook of `rows` under `headers` (dates as date cells, yyyy-mm-dd), and a
    second sheet `about` of (label, value) lines; rewound, with how many rows it holds."""
    import xlsxwriter

    out = tempfile.TemporaryFile()
    workbook = xlsxwriter.Workbook(out, {
        "constant_memory": True, "in_memory": False, "tmpdir": tempfile.gettempdir(),
        "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False,
    })
    bold = workbook.add_format({"bold": True})
    day = workbook.add_format({"num_format": "yyyy-mm-dd"})
    moment = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    data = workbook.add_worksheet(sheet)
    for col, header in enumerate(headers):
        data.write_string(0, col, _xlsx_text(str(header)), bold)
    data.freeze_panes(1, 0)
    count = 0
    for count, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                data.write_boolean(count, col, value)
            elif isinstance(value, dt.datetime):
                data.write_datetime(count, col, value.replace(tzinfo=None), moment)
            elif isinstance(value, dt.date):
                data.write_datetime(count, col, value, day)
            elif isinstance(value, (int, float)):
                data.write_number(count, col, value)
            else:
                data.write_string(count, col, _xlsx_text(str(value)))
    if about:
        notes = workbook.add_worksheet(about_sheet)
        for line, (label, value) in enumerate(about):
            notes.write_string(line, 0, _xlsx_text(str(label)), bold)
            notes.write_string(line, 1, _xlsx_text(str(value)))
    workbook.close()
    out.seek(0)
    return out, count
