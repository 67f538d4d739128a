"""Reading what officers type in the console's forms: dates (ISO from a date picker, or
13/8/2569 typed, Buddhist or Christian era, Thai digits), times (09:30, 09.30) and choices."""

from __future__ import annotations

import datetime as dt
import re

from bot.i18n import lazy_gettext as _l

BE_OFFSET = 543
THAI_DIGITS = str.maketrans({chr(0x0E50 + i): str(i) for i in range(10)})
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DMY = re.compile(r"^(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{2}|\d{4})$")
_CLOCK = re.compile(r"^(\d{1,2})\s*[:.]\s*(\d{2})$")

MESSAGES = {
    "bad_date": _l("The date could not be read. Type it like 13/8/2569 or pick it from the "
                   "calendar."),
    "date_required": _l("Please give the date."),
    "bad_time": _l("The time could not be read. Type it like 09:30."),
    "choose_stage": _l("Please choose the stage."),
    "choose_service": _l("Please choose the service."),
    "choose_outcome": _l("Please choose what the visit found."),
    "choose_agency": _l("Please choose the agency."),
}


class FormError(ValueError):
    """A value the form cannot take; `code` names the words shown (MESSAGES)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code
        self.status = 422

    @property
    def message(self) -> str:
        return str(MESSAGES[self.code])


def _digits(text: str | None) -> str:
    return " ".join((text or "").translate(THAI_DIGITS).split())


def _year(value: str) -> int:
    year = int(value)
    if len(value) == 2:
        year += 2500  # "69" is 2569: people write the Buddhist era short
    return year - BE_OFFSET if year > 2400 else year


def parse_day(text: str | None, required: bool = False) -> dt.date | None:
    """A date from a form; None when left empty and not required."""
    typed = _digits(text)
    if not typed:
        if required:
            raise FormError("date_required")
        return None
    if m := _ISO.match(typed):
        year, month, day = _year(m[1]), int(m[2]), int(m[3])
    elif m := _DMY.match(typed):
        day, month, year = int(m[1]), int(m[2]), _year(m[3])
    else:
        raise FormError("bad_date")
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise FormError("bad_date") from None


def parse_clock(text: str | None) -> dt.time:
    """A time of day from a form (09:30, 9.30, Thai digits)."""
    typed = _digits(text)
    m = _CLOCK.match(typed)
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise FormError("bad_time")
    return dt.time(int(m[1]), int(m[2]))


def choice(value: str | None, allowed, code: str) -> str:
    if value not in allowed:
        raise FormError(code)
    return value
