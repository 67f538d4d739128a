"""Reading what people type in Thai: cleaning, dates and ages, ID numbers, phones, codes.

Nothing here is shown to a user. Parsers return frozen result objects carrying values or a
machine-readable ``reason`` code; the flows turn those codes into catalog messages. The Thai
literals in this module are vocabulary to match (particles, month names, number words, titles)
and the month abbreviations used to write dates (data, the same in every locale).

Reason codes:

* every parser: ``empty`` (nothing left after cleaning), ``too_long`` (far longer than an answer);
* :func:`parse_birth`: ``unreadable``, ``future_date``, ``no_such_day``, ``no_such_month``,
  ``missing_year``, ``ambiguous_year`` (with ``candidates``), ``bad_year``, ``bad_age``;
* :func:`parse_citizen_id`: ``bad_checksum``, ``wrong_length``, ``not_an_id``;
* :func:`parse_phone`: ``wrong_length``, ``not_a_phone``, ``not_mobile``.

Everything works offline: only pythainlp's bundled word list and its ``normalize`` are used.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache, lru_cache
from typing import Literal

from pythainlp.util import normalize as _thai_normalize

# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

#: Sentence-final polite and filler particles, stripped by :func:`clean`.
PARTICLES: frozenset[str] = frozenset({
    "ค่ะ", "คะ", "ค่า", "คับ", "ครับ", "ค้าบ", "คร้าบ", "ครัช", "ครับผม", "ฮะ", "ฮับ",
    "จ้า", "จ้ะ", "จ๊ะ", "จ๋า", "นะ", "น้า", "นะคะ", "นะค่ะ", "นะครับ", "นะจ๊ะ", "นะจ้ะ",
    "เด้อ", "เด้อค่ะ", "เด้อครับ", "แหน่", "เนาะ", "เน้อ", "เนอะ",
})

#: Words that end like a particle but are not one (misspellings the dictionary does not know).
NOT_PARTICLE_ENDINGS: tuple[str, ...] = ("สถานนะ",)

#: Tone marks (mai ek, mai tho, mai tri, mai chattawa) removed by :func:`strip_tone_marks`.
TONE_MARKS = "\u0e48\u0e49\u0e4a\u0e4b"

#: Month names as typed: full names, short names and common misspellings (Thai and English).
MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: ("มกราคม", "มกรา", "january", "jan"),
    2: ("กุมภาพันธ์", "กุมภาพันธ", "กุมภาพัน", "กุมพาพันธ์", "กุมภา", "february", "feb"),
    3: ("มีนาคม", "มีนา", "march", "mar"),
    4: ("เมษายน", "เมษา", "april", "apr"),
    5: ("พฤษภาคม", "พฤศภาคม", "พฤษภา", "พฤศภา", "may"),
    6: ("มิถุนายน", "มิถุนา", "มิถุ", "june", "jun"),
    7: ("กรกฎาคม", "กรกฏาคม", "กรกดาคม", "กรกฎา", "กรกฏา", "july", "jul"),
    8: ("สิงหาคม", "สิงหคม", "สิงหา", "สิงห์", "august", "aug"),
    9: ("กันยายน", "กันยายม", "กันยา", "september", "sept", "sep"),
    10: ("ตุลาคม", "ตุลา", "october", "oct"),
    11: ("พฤศจิกายน", "พฤษจิกายน", "พฤศจิกา", "พฤศจิ", "november", "nov"),
    12: ("ธันวาคม", "ธันวา", "december", "dec"),
}

#: Abbreviated month names; typed with or without the dots ("ส.ค.", "ส.ค", "สค").
MONTH_ABBREVIATIONS: tuple[str, ...] = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
    "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.",
)

#: Thai number words for ages (0-99).
NUMBER_UNITS: dict[str, int] = {
    "ศูนย์": 0, "หนึ่ง": 1, "นึง": 1, "เอ็ด": 1, "สอง": 2, "สาม": 3, "สี่": 4, "ห้า": 5,
    "หก": 6, "เจ็ด": 7, "แปด": 8, "เก้า": 9,
}
NUMBER_TEN = "สิบ"
NUMBER_TWENTY_PREFIX = "ยี่"

#: Words that may lead a birth answer without changing it ("น้องเกิดวันที่ ...").
BIRTH_LEADING_WORDS: tuple[str, ...] = (
    "น้อง", "ลูก", "หลาน", "เด็ก", "เขา", "เกิดเมื่อ", "เกิด", "เมื่อ", "วันที่", "ตอนนี้",
)
#: Words that make a birth answer approximate ("ประมาณ 3 ขวบ").
BIRTH_HEDGES: tuple[str, ...] = ("ประมาณ", "ประมาน", "ราวๆ", "ราว ๆ", "ราว", "น่าจะ", "คิดว่า")
#: Words that may end a birth answer without changing it ("3 ขวบแล้ว").
BIRTH_TRAILING_WORDS: tuple[str, ...] = ("แล้ว", "นี้", "พอดี", "ได้")

AGE_WORD = "อายุ"
YEAR_WORD = "ปี"
MONTH_WORD = "เดือน"
AGE_YEAR_UNITS = ("ขวบ", "ปี")
AGE_MONTH_UNIT = "เดือน"
AGE_DAY_UNITS = ("วัน",)
AGE_WEEK_UNITS = ("สัปดาห์", "อาทิตย์")
HALF_WORD = "ครึ่ง"
PLUS_WORD = "กว่า"
ONE_WORDS = ("นึง", "หนึ่ง", "เดียว")
TURNING_WORDS = ("ย่างเข้า", "ย่าง", "เกือบจะ", "เกือบ", "กำลังจะ", "จะ")
ERA_BE = r"พ\.?\s?ศ\.?"
ERA_CE = r"ค\.?\s?ศ\.?"

#: Answers meaning "no identity number / don't know" (compared after cleaning).
NO_ID_ANSWERS: frozenset[str] = frozenset({
    "ไม่มี", "ไม่ทราบ", "ไม่มี/ไม่ทราบ", "ไม่มี / ไม่ทราบ", "ไม่มีไม่ทราบ", "ไม่รู้", "ไม่มีเลข",
    "ไม่มีบัตร", "ยังไม่มี", "-", "--", "none", "no",
})

#: Words that may precede a reference or a code ("เลขที่เรื่อง KK-2569-00042", "รหัส 123456").
REFERENCE_LABELS: tuple[str, ...] = ("เลขที่เรื่อง", "เลขที่", "เรื่อง", "เคส", "ดู", "ref", "no.")
CODE_LABELS: tuple[str, ...] = ("รหัสเชื่อมต่อ", "รหัสเชิญ", "รหัส", "คือ", "code")
PHONE_LABELS: tuple[str, ...] = (
    "เบอร์โทรศัพท์", "เบอร์โทร", "เบอร์", "โทรศัพท์", "มือถือ", "โทร.", "โทร", "tel.", "tel",
)

#: Short Thai month names used to write dates (data: the same in every locale).
THAI_MONTH_ABBREVIATIONS: tuple[str, ...] = MONTH_ABBREVIATIONS
#: The suffix written after a time ("08:00 น.").
TIME_SUFFIX = "น."

BE_OFFSET = 543
MAX_CHILD_AGE = 25  # a two-digit year is read as the one giving an age in 0..MAX_CHILD_AGE
MAX_AGE = 120
MAX_BIRTH_INPUT = 200  # characters; a longer birth answer is refused as too_long
MAX_SHORT_INPUT = 100  # for ids, phones, references and codes
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"

# --------------------------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_ANY_DIGIT = re.compile(r"\d")
MAX_CACHED_CLEAN = 500  # longer texts (notes) are cleaned without caching
_REPEATED_LETTER = re.compile(r"([^\W\d_])\1{2,}")
_REPEATED_MARK = re.compile(r"([?!])\1+")
_THAI_MARK = re.compile(r"[\u0e31\u0e34-\u0e3a\u0e47-\u0e4e]")


def _ascii_digits(text: str) -> str:
    """Replace every decimal digit (Thai, full-width, ...) by its ASCII digit."""
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.decimal(ch)) if not ch.isascii() and unicodedata.category(ch) == "Nd"
        else ch
        for ch in text
    )


def _basic(text: str | None) -> str:
    """NFC, ASCII digits, no zero-width characters, one space between words."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text)
    text = _ascii_digits(text)
    text = "".join(ch for ch in text if ch not in _ZERO_WIDTH)
    return _SPACES.sub(" ", text).strip()


def _is_symbol(ch: str) -> bool:
    """Emoji, pictographs, modifiers, variation selectors, controls: not words."""
    category = unicodedata.category(ch)
    if category in ("So", "Sk", "Cs", "Co", "Cn", "Cf", "Cc", "Me"):
        return True
    return category == "Mn" and not ("\u0e00" <= ch <= "\u0e7f")


def _strip_symbols(text: str) -> str:
    """Replace symbols by spaces (so that no two words are glued together)."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(" " if _is_symbol(ch) else ch for ch in text)


@cache
def _tokenizer():
    """pythainlp's newmm tokenizer with its bundled dictionary (imported on first use)."""
    from pythainlp.tokenize import word_tokenize

    return word_tokenize


def warm_up() -> None:
    """Load the tokenizer's dictionary now (about a second) rather than on the first message."""
    _tokenizer()("สวัสดี", engine="newmm")  # an empty text would not build the word trie


def tokenize(text: str) -> list[str]:
    """Split Thai text into words (pythainlp newmm, offline dictionary), spaces dropped."""
    if not text:
        return []
    return list(_tokens(text))


@lru_cache(maxsize=16384)
def _tokens(text: str) -> tuple[str, ...]:
    # newmm costs about a millisecond a call and matching asks for the same chunks many times
    return tuple(t for t in _tokenizer()(text, engine="newmm", keep_whitespace=False)
                 if t.strip())


_PARTICLE_ENDINGS = tuple(sorted(PARTICLES, key=len, reverse=True))


def _strip_trailing_particles(chunk: str) -> str:
    """Remove particles ending a space-free chunk, when they start on a word boundary.

    "ดูสถานะนะคะ" loses "นะคะ"; "สถานะ" and "เจ้า" keep their endings (the tokenizer reads
    them as one word). Particles the dictionary lacks ("แหน่") count when they start a word.
    """
    while chunk.endswith(_PARTICLE_ENDINGS) and chunk not in PARTICLES:
        tail = chunk[-24:]
        boundaries, position = set(), 0
        for token in tokenize(tail):
            boundaries.add(position)
            position += len(token)
        for particle in _PARTICLE_ENDINGS:
            if (chunk.endswith(particle) and len(tail) - len(particle) in boundaries
                    and not _cuts_a_word(chunk, len(chunk) - len(particle))):
                chunk = chunk[: -len(particle)]
                break
        else:
            return chunk
    return chunk


def _cuts_a_word(chunk: str, cut: int) -> bool:
    """Whether cutting ``chunk`` at ``cut`` splits one of NOT_PARTICLE_ENDINGS."""
    for word in NOT_PARTICLE_ENDINGS:
        at = chunk.rfind(word)
        if at != -1 and at < cut < at + len(word):
            return True
    return False


def _is_particles(chunk: str) -> bool:
    """Whether a chunk is made only of particles ("นะคะ", "ค่ะค่ะ")."""
    if chunk in PARTICLES:
        return True
    if len(chunk) > 24 or not chunk.endswith(_PARTICLE_ENDINGS):
        return False
    return all(t in PARTICLES for t in tokenize(chunk))


def clean(text: str | None) -> str:
    """Normalise typed text for matching: digits, symbols, spaces, repeats, particles, case."""
    if text is None or len(text) > MAX_CACHED_CLEAN:
        return _clean(text)
    return _clean_cached(text)


@lru_cache(maxsize=16384)
def _clean_cached(text: str) -> str:
    return _clean(text)


def _clean(text: str | None) -> str:
    text = _basic(text)
    if not text:
        return ""
    text = _strip_symbols(text)
    text = _REPEATED_LETTER.sub(r"\1", text)
    text = _REPEATED_MARK.sub(r"\1", text)
    text = _thai_normalize(text)
    text = _SPACES.sub(" ", text).strip().lower()
    if not text:
        return ""
    chunks = text.split(" ")
    kept = [c for c in chunks if not _is_particles(c)]
    if not kept:  # a message of particles only is an answer ("ค่ะ"), keep it
        return text
    kept = [_strip_trailing_particles(c) for c in kept]
    return " ".join(c for c in kept if c)


def strip_tone_marks(text: str) -> str:
    """Remove the four Thai tone marks, for a second, looser match."""
    return text.translate({ord(mark): None for mark in TONE_MARKS})


# --------------------------------------------------------------------------------------------
# Birth dates and ages
# --------------------------------------------------------------------------------------------

Precision = Literal["day", "month", "year", "age"]


@dataclass(frozen=True, slots=True)
class BirthResult:
    """A birth date or age read from text, or the reason it could not be read."""

    ok: bool
    birth_date: date | None = None
    precision: Precision | None = None
    age_years: int | None = None
    age_months: int | None = None
    approximate: bool = False
    reason: str | None = None
    candidates: tuple[date, ...] = ()  # for ambiguous_year: the readings to offer


def _refuse(reason: str, candidates: tuple[date, ...] = ()) -> BirthResult:
    return BirthResult(ok=False, reason=reason, candidates=candidates)


def age_on(birth: date, today: date) -> tuple[int, int]:
    """Completed (years, months) of age on ``today``; ValueError if born after ``today``."""
    if birth > today:
        raise ValueError("born after today")
    months = (today.year - birth.year) * 12 + today.month - birth.month
    if today.day < birth.day:
        months -= 1
    return divmod(months, 12)


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - timedelta(days=1)).day


def _minus_months(day: date, months: int) -> date:
    """``day`` moved back by ``months`` months, the day clamped to the month's length."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, _days_in_month(year, month)))


def _alternation(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _abbreviation_pattern(abbreviation: str) -> str:
    parts = [p for p in abbreviation.split(".") if p]
    return r"\.?\s?".join(re.escape(p) for p in parts) + r"\.?"


_MONTH_PATTERNS: dict[int, re.Pattern[str]] = {
    number: re.compile(
        "(?:" + "|".join(
            [_alternation(MONTH_NAMES[number]),
             _abbreviation_pattern(MONTH_ABBREVIATIONS[number - 1])]
        ) + r")ฯ?"
    )
    for number in MONTH_NAMES
}
_MONTH = "(?:" + "|".join(
    [_alternation(w for words in MONTH_NAMES.values() for w in words)]
    + [_abbreviation_pattern(a) for a in MONTH_ABBREVIATIONS]
) + r")ฯ?"
_YEAR_PART = (
    rf"(?:{YEAR_WORD}\s?)?(?:(?P<era>{ERA_BE}|{ERA_CE})\s?)?(?P<y>\d{{4}}|\d{{2}})"
)
_SEP = r"\s?[-/.]\s?"

_ISO = re.compile(rf"(?P<y>\d{{4}}){_SEP}(?P<m>\d{{1,2}}){_SEP}(?P<d>\d{{1,2}})")
_DMY = re.compile(
    rf"(?P<d>\d{{1,2}}){_SEP}(?P<m>\d{{1,2}}){_SEP}"
    rf"(?:(?P<era>{ERA_BE}|{ERA_CE})\s?)?(?P<y>\d{{4}}|\d{{2}})"
    rf"|(?P<d2>\d{{1,2}}) (?P<m2>\d{{1,2}}) (?P<y2>\d{{4}}|\d{{2}})"
)
_D_MONTH_Y = re.compile(
    rf"(?P<d>\d{{1,2}})\s?(?:{MONTH_WORD}\s?)?(?P<mn>{_MONTH})\s?{_YEAR_PART}"
)
_MONTH_Y = re.compile(rf"(?:{MONTH_WORD}\s?)?(?P<mn>{_MONTH})\s?{_YEAR_PART}")
_M_Y = re.compile(rf"(?P<m>\d{{1,2}}){_SEP}(?P<y>\d{{4}})")
_YEAR_ONLY = re.compile(
    rf"(?:{YEAR_WORD}\s?)?(?:(?P<era>{ERA_BE}|{ERA_CE})\s?)?(?P<y>\d{{4}})"
    rf"|(?:{YEAR_WORD}\s?(?:(?P<era2>{ERA_BE}|{ERA_CE})\s?)?|(?P<era3>{ERA_BE}|{ERA_CE})\s?)"
    rf"(?P<y2>\d{{2}})"
)
_NO_YEAR = re.compile(
    rf"\d{{1,2}}{_SEP}\d{{1,2}}|\d{{1,2}}\s?(?:{MONTH_WORD}\s?)?{_MONTH}|(?:{MONTH_WORD}\s?)?{_MONTH}"
)

_UNIT_WORDS = "|".join(
    re.escape(w) for w in sorted(set(NUMBER_UNITS) - {"เอ็ด"}, key=len, reverse=True)
)
_TENS_WORDS = "|".join(
    re.escape(w) for w in sorted(
        (set(NUMBER_UNITS) - {"เอ็ด", "หนึ่ง", "นึง", "ศูนย์"}) | {NUMBER_TWENTY_PREFIX},
        key=len, reverse=True,
    )
)
_NUMBER_WORD = (
    rf"(?:(?:{_TENS_WORDS})?{NUMBER_TEN}(?:เอ็ด|{_UNIT_WORDS})?|(?:{_UNIT_WORDS}))"
)
_NUM = rf"(?:\d{{1,3}}|{_NUMBER_WORD})"
_YEARS_UNIT = "|".join(AGE_YEAR_UNITS)
_AGE = re.compile(
    rf"(?P<turning>{_alternation(TURNING_WORDS)})?"
    rf"(?:"
    rf"(?P<y>{_NUM})?(?P<yu>{_YEARS_UNIT})(?P<one>{_alternation(ONE_WORDS)})?"
    rf"(?P<half>{HALF_WORD})?(?P<plus>{PLUS_WORD}ๆ?)?(?:(?P<m>{_NUM}){AGE_MONTH_UNIT})?"
    rf"|{HALF_WORD}(?P<halfonly>{_YEARS_UNIT})"
    rf"|(?P<mo>{_NUM}){AGE_MONTH_UNIT}(?P<mhalf>{HALF_WORD})?(?P<mplus>{PLUS_WORD}ๆ?)?"
    rf"|(?P<mone>{AGE_MONTH_UNIT})(?:{_alternation(ONE_WORDS)})"
    rf"|(?P<d>{_NUM})(?P<du>{_alternation(AGE_DAY_UNITS + AGE_WEEK_UNITS)})"
    rf"|(?P<n>{_NUM})"
    rf")"
)


def _number(word: str) -> int:
    """An integer from ASCII digits or a Thai number word (0-99) matched by ``_NUMBER_WORD``."""
    if word.isdigit():
        return int(word)
    if NUMBER_TEN in word:
        tens_word, _, units_word = word.partition(NUMBER_TEN)
        if tens_word == NUMBER_TWENTY_PREFIX:
            tens = 2
        else:
            tens = NUMBER_UNITS[tens_word] if tens_word else 1
        return tens * 10 + (NUMBER_UNITS[units_word] if units_word else 0)
    return NUMBER_UNITS[word]


def _strip_words(text: str, words: tuple[str, ...], leading: bool) -> tuple[str, bool]:
    """Strip any of ``words`` from one end, repeatedly; report whether any was stripped."""
    ordered = sorted(words, key=len, reverse=True)
    stripped = False
    changed = True
    while changed and text:
        changed = False
        for word in ordered:
            if leading and text.startswith(word):
                text, changed = text[len(word):].lstrip(), True
            elif not leading and text.endswith(word) and len(text) > len(word):
                text, changed = text[: -len(word)].rstrip(), True
            if changed:
                stripped = True
                break
    return text, stripped


def _era(match: re.Match[str], *names: str) -> str | None:
    for name in names:
        value = match.groupdict().get(name)
        if value:
            return "be" if value.replace(".", "").replace(" ", "").startswith("พ") else "ce"
    return None


def _plausible(year_ce: int, today: date) -> bool:
    return 0 <= today.year - year_ce <= MAX_CHILD_AGE


def _resolve_year(raw: str, era: str | None, today: date) -> tuple[list[int], str | None]:
    """Christian-era year(s) for a typed year: one year, or several with a reason."""
    value = int(raw)
    if len(raw) == 4:
        if value >= 2400 and era != "ce":
            return [value - BE_OFFSET], None
        if 1900 <= value <= 2100 and era != "be":
            return [value], None
        return [], "bad_year"
    be = 2500 + value - BE_OFFSET
    ce = 2000 + value if 2000 + value <= today.year else 1900 + value
    if era == "be":
        return [be], None
    if era == "ce":
        return [ce], None
    be_ok, ce_ok = _plausible(be, today), _plausible(ce, today)
    if be_ok and not ce_ok:
        return [be], None
    if ce_ok and be > today.year:  # the Buddhist reading is impossible (in the future)
        return [ce], None
    return [be, ce], "ambiguous_year"


def _first_day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _dated(years: list[int], month: int, day: int | None, precision: Precision,
           approximate: bool, reason: str | None, today: date) -> BirthResult:
    """Build the result for a date once the year is known (or found ambiguous)."""
    if not 1 <= month <= 12:
        return _refuse("no_such_month")
    if day is not None and not 1 <= day <= _days_in_month(2000, month):  # 2000: a leap year
        return _refuse("no_such_day")
    if reason:
        if reason == "ambiguous_year":
            found = (_first_day(y, month, day or 1) for y in years)
            return _refuse(reason, tuple(d for d in found if d is not None and d <= today))
        return _refuse(reason)
    birth = _first_day(years[0], month, day or 1)
    if birth is None:
        return _refuse("no_such_day")
    if birth > today:
        return _refuse("future_date")
    age_years, age_months = age_on(birth, today)
    return BirthResult(
        ok=True, birth_date=birth, precision=precision, age_years=age_years,
        age_months=age_months, approximate=approximate or precision != "day",
    )


def _month_number(text: str) -> int:
    for number, pattern in _MONTH_PATTERNS.items():
        if pattern.fullmatch(text):
            return number
    raise LookupError(text)  # pragma: no cover - _MONTH only matches known months


def _read_date(text: str, approximate: bool, today: date) -> BirthResult | None:
    """A date, a month or a year; None when the text is not one."""
    if m := _ISO.fullmatch(text):
        years, reason = _resolve_year(m["y"], None, today)
        return _dated(years, int(m["m"]), int(m["d"]), "day", approximate, reason, today)
    if m := _DMY.fullmatch(text):
        d, mo, y = (m["d"], m["m"], m["y"]) if m["d"] else (m["d2"], m["m2"], m["y2"])
        years, reason = _resolve_year(y, _era(m, "era"), today)
        return _dated(years, int(mo), int(d), "day", approximate, reason, today)
    if m := _D_MONTH_Y.fullmatch(text):
        years, reason = _resolve_year(m["y"], _era(m, "era"), today)
        month = _month_number(m["mn"])
        return _dated(years, month, int(m["d"]), "day", approximate, reason, today)
    if m := _MONTH_Y.fullmatch(text):
        years, reason = _resolve_year(m["y"], _era(m, "era"), today)
        return _dated(years, _month_number(m["mn"]), None, "month", True, reason, today)
    if m := _M_Y.fullmatch(text):
        years, reason = _resolve_year(m["y"], None, today)
        return _dated(years, int(m["m"]), None, "month", True, reason, today)
    if m := _YEAR_ONLY.fullmatch(text):
        raw = m["y"] or m["y2"]
        years, reason = _resolve_year(raw, _era(m, "era", "era2", "era3"), today)
        return _dated(years, 1, None, "year", True, reason, today)
    if _NO_YEAR.fullmatch(text):
        return _refuse("missing_year")
    return None


def _aged(years: int, months: int, today: date, days: int = 0) -> BirthResult:
    years, months = years + months // 12, months % 12
    if years > MAX_AGE:
        return _refuse("bad_age")
    if days:
        birth = today - timedelta(days=days)
        years, months = age_on(birth, today)
    else:
        birth = _minus_months(today, years * 12 + months)
    return BirthResult(
        ok=True, birth_date=birth, precision="age", age_years=years, age_months=months,
        approximate=True,
    )


def _read_age(text: str, said_age: bool, today: date) -> BirthResult | None:
    """An age ("3 ขวบ", "ขวบครึ่ง", "แปดเดือน", "ย่าง 5 ขวบ"); None when the text is not one."""
    compact = text.replace(" ", "")
    m = _AGE.fullmatch(compact)
    if not m:
        return None
    turning = bool(m["turning"])
    if m["yu"]:
        if m["y"] is None and not (m["half"] or m["one"] or m["plus"]) and m["yu"] != "ขวบ":
            return None  # "ปี" alone is not an age
        if m["y"] is not None and m["one"]:
            return None
        years = _number(m["y"]) if m["y"] is not None else 1
        months = 6 if m["half"] else 0
        if m["m"] is not None:
            if m["half"]:
                return None
            months = _number(m["m"])
    elif m["halfonly"]:
        years, months = 0, 6
    elif m["mo"] is not None:
        years, months = 0, _number(m["mo"])
    elif m["mone"]:
        years, months = 0, 1
    elif m["d"] is not None:
        count = _number(m["d"])
        days = count * 7 if m["du"] in AGE_WEEK_UNITS else count
        if turning or days > 366:
            return None
        return _aged(0, 0, today, days=max(days, 0))
    else:
        years, months = _number(m["n"]), 0
        if not (said_age or turning) and years > MAX_CHILD_AGE:
            return None  # a bare larger number is read as a year, not an age
    if turning:  # "ย่าง 5 ขวบ": in the fifth year, 4 completed
        if years:
            years -= 1
        elif months:
            months -= 1
        else:
            return _refuse("bad_age")
    return _aged(years, months, today)


def parse_birth(text: str | None, today: date) -> BirthResult:
    """Read a birth date (any form people type, BE or CE) or an age from ``text``."""
    raw = _basic(text)
    if len(raw) > MAX_BIRTH_INPUT:
        return _refuse("too_long")
    cleaned = clean(raw)
    if not cleaned:
        return _refuse("empty")
    cleaned, _ = _strip_words(cleaned, BIRTH_LEADING_WORDS, leading=True)
    cleaned, hedged = _strip_words(cleaned, BIRTH_HEDGES, leading=True)
    cleaned, _ = _strip_words(cleaned, BIRTH_LEADING_WORDS, leading=True)
    said_age = cleaned.startswith(AGE_WORD)
    if said_age:
        cleaned = cleaned[len(AGE_WORD):].lstrip()
        cleaned, more_hedged = _strip_words(cleaned, BIRTH_HEDGES, leading=True)
        hedged = hedged or more_hedged
    cleaned, _ = _strip_words(cleaned, BIRTH_TRAILING_WORDS, leading=False)
    if not cleaned:
        return _refuse("unreadable")
    if not said_age:
        result = _read_date(cleaned, hedged, today)
        if result is not None:
            return result
    result = _read_age(cleaned, said_age, today)
    if result is not None:
        return result
    if not said_age and (m := re.fullmatch(r"\d{2}", cleaned)):
        # a bare two-digit number above MAX_CHILD_AGE: a short year ("62" -> 2562)
        years, reason = _resolve_year(m[0], None, today)
        return _dated(years, 1, None, "year", True, reason, today)
    return _refuse("unreadable")


# --------------------------------------------------------------------------------------------
# Identity numbers
# --------------------------------------------------------------------------------------------

IdKind = Literal["citizen_id", "g_code", "none"]


@dataclass(frozen=True, slots=True)
class IdResult:
    """A citizen ID, a G-code, an explicit "none", or the reason the text is none of them."""

    ok: bool
    kind: IdKind | None = None
    value: str | None = None
    reason: str | None = None


def citizen_id_check_digit(first_twelve: str) -> int:
    """The mod-11 check digit of a Thai citizen ID from its first 12 digits."""
    total = sum(int(d) * (13 - i) for i, d in enumerate(first_twelve[:12]))
    return (11 - total % 11) % 10


def _without_separators(text: str) -> str:
    return re.sub(r"[\s\-.,/_]", "", text)


def parse_citizen_id(text: str | None) -> IdResult:
    """Read a 13-digit citizen ID (checksum verified), a G-code, or "ไม่มี/ไม่ทราบ"."""
    raw = _basic(text)
    if len(raw) > MAX_SHORT_INPUT:
        return IdResult(ok=False, reason="not_an_id")
    cleaned = clean(raw)
    if not cleaned:
        return IdResult(ok=False, reason="empty")
    if cleaned in NO_ID_ANSWERS or strip_tone_marks(cleaned) in {
        strip_tone_marks(a) for a in NO_ID_ANSWERS
    }:
        return IdResult(ok=True, kind="none")
    compact = _without_separators(cleaned)
    if compact[:1] == "g" and compact[1:].isdigit():
        if len(compact) != 13:
            return IdResult(ok=False, kind="g_code", reason="wrong_length")
        return IdResult(ok=True, kind="g_code", value="G" + compact[1:])
    if not compact.isdigit():
        return IdResult(ok=False, reason="not_an_id")
    if len(compact) != 13:
        return IdResult(ok=False, kind="citizen_id", reason="wrong_length")
    if set(compact) == {"0"}:
        return IdResult(ok=False, kind="citizen_id", reason="not_an_id")
    if citizen_id_check_digit(compact) != int(compact[12]):
        return IdResult(ok=False, kind="citizen_id", reason="bad_checksum")
    return IdResult(ok=True, kind="citizen_id", value=compact)


def format_citizen_id(value: str) -> str:
    """Write a 13-digit citizen ID as 1-2345-67890-12-3; anything else is returned unchanged."""
    if len(value) != 13 or not value.isdigit():
        return value
    return f"{value[0]}-{value[1:5]}-{value[5:10]}-{value[10:12]}-{value[12]}"


# --------------------------------------------------------------------------------------------
# Phone numbers
# --------------------------------------------------------------------------------------------

PhoneKind = Literal["mobile", "landline"]
MOBILE_PREFIXES = ("06", "08", "09")


@dataclass(frozen=True, slots=True)
class PhoneResult:
    """A Thai phone number (normalised and for display), or the reason the text is not one."""

    ok: bool
    kind: PhoneKind | None = None
    value: str | None = None
    display: str | None = None
    reason: str | None = None


def _display_phone(number: str) -> str:
    if len(number) == 10:
        return f"{number[:3]}-{number[3:6]}-{number[6:]}"
    if number.startswith("02"):
        return f"{number[:2]}-{number[2:5]}-{number[5:]}"
    return f"{number[:3]}-{number[3:6]}-{number[6:]}"


def parse_phone(text: str | None, mobile_only: bool = False) -> PhoneResult:
    """Read a Thai mobile (10 digits, 06/08/09) or landline (9 digits) number."""
    raw = _basic(text)
    if len(raw) > MAX_SHORT_INPUT:
        return PhoneResult(ok=False, reason="not_a_phone")
    cleaned = _strip_labels(clean(raw), PHONE_LABELS)
    if not cleaned:
        return PhoneResult(ok=False, reason="empty")
    compact = re.sub(r"[\s\-.()/]", "", cleaned)
    international = compact.startswith(("+66", "0066"))
    compact = compact.removeprefix("+").removeprefix("00")
    if not compact.isdigit():
        return PhoneResult(ok=False, reason="not_a_phone")
    if international or (compact.startswith("66") and len(compact) in (10, 11)):
        compact = compact[2:]
        if not compact.startswith("0"):
            compact = "0" + compact
    if not compact.startswith("0") or compact.startswith(("00", "01")):
        return PhoneResult(ok=False, reason="not_a_phone")
    if len(compact) == 10 and compact.startswith(MOBILE_PREFIXES):
        return PhoneResult(ok=True, kind="mobile", value=compact, display=_display_phone(compact))
    if len(compact) == 9 and not compact.startswith(MOBILE_PREFIXES):
        result = PhoneResult(
            ok=not mobile_only, kind="landline", value=compact, display=_display_phone(compact),
            reason="not_mobile" if mobile_only else None,
        )
        return result
    return PhoneResult(ok=False, reason="wrong_length")


# --------------------------------------------------------------------------------------------
# References and codes
# --------------------------------------------------------------------------------------------

DEFAULT_REFERENCE_PREFIX = "KK"
_REFERENCE = re.compile(
    r"(?:(?P<p>[a-z]{2,3})\s?-?\s?)?(?P<y>25\d\d)(?P<sep>\s?[-/.\s]\s?)?(?P<n>\d{1,6})"
)
_NUMBER_ONLY = re.compile(r"(?:(?P<p>[a-z]{2,3})\s?-?\s?)?(?P<n>\d{1,6})")


def _strip_labels(text: str, labels: tuple[str, ...]) -> str:
    text = text.strip(" :#")
    stripped, _ = _strip_words(text, labels, leading=True)
    return stripped.strip(" :#")


def parse_reference(text: str | None, year_be: int | None = None,
                    prefix: str = DEFAULT_REFERENCE_PREFIX) -> str | None:
    """Canonical reference ("KK-2569-00042") from a typed one, or None.

    ``year_be`` allows a number typed alone ("42") to mean that year's case.
    """
    raw = _basic(text)
    if not raw or len(raw) > MAX_SHORT_INPUT or not _ANY_DIGIT.search(raw):
        return None  # every reference has digits: most messages stop here, cheaply
    cleaned = _strip_labels(clean(raw), REFERENCE_LABELS)
    expected = prefix.lower()
    if m := _REFERENCE.fullmatch(cleaned):
        if m["p"] and m["p"] != expected:
            return None
        if not m["sep"] and not m["p"] and len(m["n"]) != 5:
            return None
        year, number = int(m["y"]), int(m["n"])
    elif year_be is not None and (m := _NUMBER_ONLY.fullmatch(cleaned)):
        if m["p"] and m["p"] != expected:
            return None
        year, number = year_be, int(m["n"])
    else:
        return None
    if number == 0:
        return None
    return f"{prefix.upper()}-{year}-{number:05d}"


def looks_like_reference(text: str | None, prefix: str = DEFAULT_REFERENCE_PREFIX) -> bool:
    """Whether the text is a case reference typed alone (it means "show this case")."""
    return parse_reference(text, prefix=prefix) is not None


def parse_code(text: str | None) -> str | None:
    """A 6-digit invitation or link code from the text (Thai digits, spaces allowed), or None."""
    raw = _basic(text)
    if not raw or len(raw) > MAX_SHORT_INPUT:
        return None
    cleaned = _strip_labels(clean(raw), CODE_LABELS)
    compact = re.sub(r"[\s\-.]", "", cleaned)
    return compact if len(compact) == 6 and compact.isdigit() else None


# --------------------------------------------------------------------------------------------
# Writing dates and times, names
# --------------------------------------------------------------------------------------------


def thai_date(d: date, precision: str | None = "day") -> str:
    """A date in the Buddhist era with a short Thai month: "13 ส.ค. 2562" (or month, year)."""
    if isinstance(d, datetime):
        d = d.date()
    month = THAI_MONTH_ABBREVIATIONS[d.month - 1]
    year = d.year + BE_OFFSET
    if precision in ("day", None):
        return f"{d.day} {month} {year}"
    if precision == "month":
        return f"{month} {year}"
    if precision in ("year", "age"):
        return str(year)
    raise ValueError(f"unknown precision {precision!r}")


def thai_time(t: time | datetime) -> str:
    """A time of day as written in Thai: "08:00 น."."""
    return f"{t.hour:02d}:{t.minute:02d} {TIME_SUFFIX}"


#: Words that mean "finished" when choosing several options ("พอแล้ว" here is not a cancel).
DONE_WORDS: frozenset[str] = frozenset({"พอแล้ว", "พอ", "เสร็จ", "เสร็จแล้ว", "ครบแล้ว", "done"})
_VILLAGE_NO = re.compile(r"(?:หมู่ที่|หมู่|ม\.|ม\s|moo|m\.)\s*(\d{1,2})", re.IGNORECASE)


def parse_village(text: str | None) -> tuple[str, int] | None:
    """A village and its number ("บ้านหนองแวง หมู่ 3", "บ้านหนองแวง ม.๓") or None."""
    raw = _basic(text)
    if not raw or len(raw) > MAX_SHORT_INPUT * 2:
        return None
    found = _VILLAGE_NO.search(raw)
    if found is None:
        return None
    village = _SPACES.sub(" ", (raw[:found.start()] + " " + raw[found.end():])).strip(" ,")
    number = int(found.group(1))
    if len(village) < 2 or not 1 <= number <= 99:
        return None
    return village, number


def is_none_answer(text: str | None) -> bool:
    """True for "ไม่มี", "ไม่ทราบ", "-" and the like (an optional answer skipped)."""
    return clean(text) in NO_ID_ANSWERS
