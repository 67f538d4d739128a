"""Reading what people type: every form listed in VOICE.md, and the edge cases around them."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from datetime import time as clock

import pytest

from bot.thai_text import (
    BirthResult,
    IdResult,
    PhoneResult,
    age_on,
    citizen_id_check_digit,
    clean,
    format_citizen_id,
    looks_like_reference,
    parse_birth,
    parse_citizen_id,
    parse_code,
    parse_phone,
    parse_reference,
    strip_tone_marks,
    thai_date,
    thai_time,
    tokenize,
)
from services.cases import normalise_name

TODAY = date(2026, 11, 27)  # 27 พ.ย. 2569
AUG_13_2019 = date(2019, 8, 13)
LONG = "ก" * 5000
SQL = "'; DROP TABLE cases; --"
NASTY = ["", "   ", "\n\t", "😀😀😀", LONG, SQL, "<script>alert(1)</script>", "\u200b", None]


def valid_id(first_twelve: str) -> str:
    """A citizen ID with the right check digit, computed here from the formula in the brief."""
    total = sum(int(d) * (14 - i) for i, d in enumerate(first_twelve, 1))
    return first_twelve + str((11 - total % 11) % 10)


# ---------------------------------------------------------------------------------- clean


@pytest.mark.parametrize(("typed", "expected"), [
    ("สถานะ", "สถานะ"),
    ("สถานะะะะ", "สถานะ"),
    ("สถานะ ค่ะ", "สถานะ"),
    ("ดูสถานะนะคะ", "ดูสถานะ"),
    ("แจ้งเด็กค่ะ", "แจ้งเด็ก"),
    ("แจ้งเด็กครับ", "แจ้งเด็ก"),
    ("แจ้งเด็กคับ", "แจ้งเด็ก"),
    ("แจ้งเด็กจ้า", "แจ้งเด็ก"),
    ("แจ้งเด็กจ้าาาา", "แจ้งเด็ก"),
    ("แจ้งเด็กเด้อ", "แจ้งเด็ก"),
    ("แจ้งเด็กแหน่", "แจ้งเด็ก"),
    ("แจ้งเด็กเนาะ", "แจ้งเด็ก"),
    ("แจ้งเด็ก จ้ะ", "แจ้งเด็ก"),
    ("ยกเลิกครับผม", "ยกเลิก"),
    ("ค่ะ แจ้งเด็ก ค่ะ", "แจ้งเด็ก"),
    ("แจ้งเด็กค่ะ 😀", "แจ้งเด็ก"),
    ("แจ้ง😀เด็ก", "แจ้ง เด็ก"),
    ("👍🏽 ok", "ok"),
    ("  แจ้ง    เด็ก  ", "แจ้ง เด็ก"),
    ("HELP", "help"),
    ("Menu", "menu"),
    ("๑๓/๘/๒๕๖๒", "13/8/2562"),
    ("๐๘๑-๒๓๔-๕๖๗๘", "081-234-5678"),
    ("0888888888", "0888888888"),  # digits are never collapsed
    ("มากกกกก", "มาก"),
    ("เเจ้ง", "แจ้ง"),  # two sara e typed for sara ae
    ("ค่่่ะ แจ้ง", "แจ้ง"),
    ("???", "?"),
    ("แจ้ง\u200bเด็ก", "แจ้งเด็ก"),
    ("ขอบคุณเจ้า", "ขอบคุณเจ้า"),  # "จ้า" inside เจ้า is not a particle
    ("ชนะ", "ชนะ"),  # "นะ" inside a word stays
    ("ค่ะ", "ค่ะ"),  # a particle alone is an answer, kept
    ("", ""),
    (None, ""),
    ("😀", ""),
])
def test_clean(typed, expected):
    assert clean(typed) == expected


def test_clean_is_idempotent():
    for typed in ["สถานะะะะ ค่ะ", "แจ้งเด็กค่ะ 😀", "๑๓ สิงหาคม ๒๕๖๒", "ดูสถานะนะคะ", "CANCEL!!!"]:
        once = clean(typed)
        assert clean(once) == once


def test_clean_long_input_is_quick():
    started = time.perf_counter()
    clean("แจ้งเด็กค่ะ " * 500)
    clean(LONG)
    assert time.perf_counter() - started < 2


def test_strip_tone_marks():
    assert strip_tone_marks("แจ้งเด็ก ย้อนกลับ ก๊ก ก๋วย") == "แจงเด็ก ยอนกลับ กก กวย"
    assert strip_tone_marks("สถานะ") == "สถานะ"


def test_tokenize_uses_the_offline_dictionary():
    assert tokenize("อยากแจ้งเด็กไม่ได้เรียน") == ["อยาก", "แจ้ง", "เด็ก", "ไม่", "ได้", "เรียน"]
    assert tokenize("") == []


# ---------------------------------------------------------------------------------- birth


VOICE_DATES = [
    "13/8/2562", "13/08/62", "13 ส.ค. 62", "13 สค 62", "13ส.ค.2562", "๑๓ สิงหาคม ๒๕๖๒",
    "๑๓/๘/๖๒", "13 สิงหา 62", "13.8.62", "2019-08-13",
]
MORE_DATES = [
    "13-8-2562", "13 8 2562", "13 / 8 / 2562", "13 ส.ค 2562", "13 ส. ค. 2562", "13 สค. 2562",
    "13 สิงหาคม พ.ศ. 2562", "13 สิงหาคม พ.ศ.2562", "13 เดือนสิงหาคม ปี 2562",
    "วันที่ 13 สิงหาคม 2562", "เกิดวันที่ 13/8/2562", "น้องเกิด 13 ส.ค. 62 ค่ะ",
    "13/8/2562 ค่ะ 😊", "13 สิงหาคม 2019", "13 aug 2019", "13 August 2019", "13/8/ค.ศ.2019",
    "13 ส.ค. ค.ศ. 2019", "2562-08-13", "๒๐๑๙-๐๘-๑๓", "13สิงหาคม2562", "13 สิงหาฯ 62",
]


@pytest.mark.parametrize("typed", VOICE_DATES + MORE_DATES)
def test_birth_dates_of_13_august_2019(typed):
    result = parse_birth(typed, TODAY)
    assert result == BirthResult(
        ok=True, birth_date=AUG_13_2019, precision="day", age_years=7, age_months=3,
        approximate=False,
    ), typed


@pytest.mark.parametrize(("typed", "expected"), [
    ("5 กรกฏาคม 2560", date(2017, 7, 5)),  # common misspelling of กรกฎาคม
    ("5 กรกฎาคม 2560", date(2017, 7, 5)),
    ("5 ก.ค. 60", date(2017, 7, 5)),
    ("1 ม.ค. 2550", date(2007, 1, 1)),
    ("1 มกรา 50", date(2007, 1, 1)),
    ("14 ก.พ. 2565", date(2022, 2, 14)),
    ("14 กุมภาพันธ์ 2565", date(2022, 2, 14)),
    ("14 กุมภา 65", date(2022, 2, 14)),
    ("3 มี.ค. 2555", date(2012, 3, 3)),
    ("3 มีนาคม 2555", date(2012, 3, 3)),
    ("13 เม.ย. 2560", date(2017, 4, 13)),
    ("13 เมษายน 2560", date(2017, 4, 13)),
    ("13 เมษา 60", date(2017, 4, 13)),
    ("5 พ.ค. 2561", date(2018, 5, 5)),
    ("5 พฤษภาคม 2561", date(2018, 5, 5)),
    ("5 มิ.ย. 2561", date(2018, 6, 5)),
    ("5 มิถุนายน 2561", date(2018, 6, 5)),
    ("5 ก.ย. 2561", date(2018, 9, 5)),
    ("5 กันยายน 2561", date(2018, 9, 5)),
    ("5 ต.ค. 2561", date(2018, 10, 5)),
    ("5 ตุลาคม 2561", date(2018, 10, 5)),
    ("5 พ.ย. 2561", date(2018, 11, 5)),
    ("5 พฤศจิกายน 2561", date(2018, 11, 5)),
    ("5 ธ.ค. 2561", date(2018, 12, 5)),
    ("5 ธันวาคม 2561", date(2018, 12, 5)),
    ("5 ธันวา 61", date(2018, 12, 5)),
    ("29/2/2563", date(2020, 2, 29)),
    ("27/11/2569", TODAY),  # born today
    ("1/1/2545", date(2002, 1, 1)),
    ("2019-8-13", AUG_13_2019),
])
def test_birth_dates(typed, expected):
    result = parse_birth(typed, TODAY)
    assert result.ok, (typed, result)
    assert (result.birth_date, result.precision) == (expected, "day")


def test_birth_year_only_is_approximate():
    result = parse_birth("เกิดปี 50", TODAY)
    assert result.ok
    assert result.precision == "year"
    assert result.approximate
    assert result.birth_date.year + 543 == 2550
    assert thai_date(result.birth_date, result.precision) == "2550"


@pytest.mark.parametrize(("typed", "year"), [
    ("ปี 50", 2007), ("2550", 2007), ("ปี 2550", 2007), ("พ.ศ. 2550", 2007),
    ("เกิด พ.ศ.2550", 2007), ("ค.ศ. 2007", 2007), ("2007", 2007), ("พ.ศ. 50", 2007),
    ("62", 2019), ("น่าจะเกิดปี 62", 2019),
])
def test_birth_years(typed, year):
    result = parse_birth(typed, TODAY)
    assert (result.ok, result.precision, result.birth_date) == (True, "year", date(year, 1, 1))


@pytest.mark.parametrize("typed", [
    "เดือนสิงหา ปี 62", "สิงหาคม 2562", "ส.ค. 62", "เดือน ส.ค. 2562", "8/2562", "สิงหา พ.ศ. 2562",
])
def test_birth_month_and_year_day_unknown(typed):
    result = parse_birth(typed, TODAY)
    assert result.ok, result
    assert (result.birth_date, result.precision, result.approximate) == (
        date(2019, 8, 1), "month", True)
    assert thai_date(result.birth_date, result.precision) == "ส.ค. 2562"


@pytest.mark.parametrize("typed", ["13/8/19", "13/08/19", "13 ส.ค. 19", "13.8.19"])
def test_two_digit_year_that_could_be_either_era_is_asked_back(typed):
    result = parse_birth(typed, TODAY)
    assert (result.ok, result.reason) == (False, "ambiguous_year")
    assert AUG_13_2019 in result.candidates  # ค.ศ. 2019
    assert date(1976, 8, 13) in result.candidates  # พ.ศ. 2519


@pytest.mark.parametrize(("two_digits", "expected"), [
    ("44", 2001), ("50", 2007), ("62", 2019), ("69", 2026),  # Buddhist era, child's age
    ("01", None), ("19", None), ("26", None),  # CE plausible but BE possible: ask back
    ("30", None), ("43", None), ("70", None), ("99", None),  # neither plausible: ask back
])
def test_two_digit_year_rule(two_digits, expected):
    result = parse_birth(f"1/1/{two_digits}", TODAY)
    if expected is None:
        assert result.reason == "ambiguous_year", result
    else:
        assert result.birth_date == date(expected, 1, 1), result


def test_explicit_era_settles_two_digit_years():
    assert parse_birth("13/8/ค.ศ.19", TODAY).birth_date == AUG_13_2019
    assert parse_birth("13 ส.ค. พ.ศ. 62", TODAY).birth_date == AUG_13_2019


@pytest.mark.parametrize(("typed", "years", "months"), [
    ("3ขวบ", 3, 0), ("๓ ขวบ", 3, 0), ("สามขวบ", 3, 0), ("3 ขวบ", 3, 0), ("3 ขวบค่ะ", 3, 0),
    ("น้องอายุ 3 ขวบแล้วค่ะ", 3, 0), ("ประมาณ 3 ขวบ", 3, 0), ("3 ขวบกว่า", 3, 0),
    ("ขวบครึ่ง", 1, 6), ("2 ขวบครึ่ง", 2, 6), ("สองขวบครึ่ง", 2, 6), ("ปีครึ่ง", 1, 6),
    ("ขวบ", 1, 0), ("ขวบนึง", 1, 0), ("ขวบเดียว", 1, 0), ("ครึ่งขวบ", 0, 6),
    ("แปดเดือน", 0, 8), ("8 เดือน", 0, 8), ("๘ เดือน", 0, 8), ("18 เดือน", 1, 6),
    ("เดือนนึง", 0, 1), ("2 ขวบ 3 เดือน", 2, 3), ("1 ปี 2 เดือน", 1, 2),
    ("ย่าง 5 ขวบ", 4, 0), ("ย่างห้าขวบ", 4, 0), ("ย่าง 5", 4, 0), ("เกือบ 3 ขวบ", 2, 0),
    ("อายุ 15", 15, 0), ("๑๕ ปี", 15, 0), ("15 ปี", 15, 0), ("อายุ 15 ปี", 15, 0),
    ("สิบห้าปี", 15, 0), ("อายุสิบห้า", 15, 0), ("15", 15, 0), ("สิบเอ็ดขวบ", 11, 0),
    ("ยี่สิบปี", 20, 0), ("ยี่สิบห้าปี", 25, 0), ("ยี่สิบเอ็ดปี", 21, 0), ("หกขวบ", 6, 0),
    ("เก้าขวบ", 9, 0), ("เจ็ดขวบ", 7, 0), ("สี่ขวบ", 4, 0), ("หนึ่งขวบ", 1, 0),
    ("2 สัปดาห์", 0, 0), ("10 วัน", 0, 0), ("0", 0, 0),
])
def test_ages(typed, years, months):
    result = parse_birth(typed, TODAY)
    assert result.ok, (typed, result)
    assert (result.precision, result.age_years, result.age_months) == ("age", years, months)
    assert result.approximate
    assert result.birth_date <= TODAY


def test_an_age_estimates_the_birth_date():
    assert parse_birth("3 ขวบ", TODAY).birth_date == date(2023, 11, 27)
    assert parse_birth("แปดเดือน", TODAY).birth_date == date(2026, 3, 27)
    assert parse_birth("2 สัปดาห์", TODAY).birth_date == TODAY - timedelta(days=14)


@pytest.mark.parametrize(("typed", "reason"), [
    ("31/2/62", "no_such_day"),
    ("30/2/2562", "no_such_day"),
    ("29/2/2564", "no_such_day"),  # 2021 is not a leap year
    ("32/1/2562", "no_such_day"),
    ("0/1/2562", "no_such_day"),
    ("31 เมษายน 2562", "no_such_day"),
    ("13/13/2562", "no_such_month"),
    ("13/0/2562", "no_such_month"),
    ("28/11/2569", "future_date"),  # tomorrow
    ("1/12/2569", "future_date"),
    ("13/12/69", "future_date"),
    ("1 ม.ค. 2570", "future_date"),
    ("2027-01-01", "future_date"),
    ("ธันวาคม 2569", "future_date"),
    ("2570", "future_date"),
    ("13/8", "missing_year"),
    ("13 ส.ค.", "missing_year"),
    ("สิงหาคม", "missing_year"),
    ("13/8/2300", "bad_year"),
    ("13/8/1850", "bad_year"),
    ("พ.ศ. 2019", "bad_year"),
    ("ค.ศ. 2562", "bad_year"),
    ("อายุ 130", "bad_age"),
    ("ย่าง 0 ขวบ", "bad_age"),
    ("ไม่ทราบ", "unreadable"),
    ("ค่ะ", "unreadable"),
    ("พรุ่งนี้", "unreadable"),
    ("13/8/2562 และ 14/8/2562", "unreadable"),
    ("ปี", "unreadable"),
    (SQL, "unreadable"),
    ("<script>alert(1)</script>", "unreadable"),
    ("", "empty"),
    ("   ", "empty"),
    (None, "empty"),
    ("😀😀", "empty"),
    ("\u200b", "empty"),
    (LONG, "too_long"),
])
def test_birth_refused_with_a_reason(typed, reason):
    result = parse_birth(typed, TODAY)
    assert (result.ok, result.reason) == (False, reason), result
    assert result.birth_date is None


def test_hedged_dates_are_approximate():
    result = parse_birth("ประมาณ 13/8/62", TODAY)
    assert (result.ok, result.birth_date, result.approximate) == (True, AUG_13_2019, True)


def test_birth_round_trips_every_written_date():
    """Whatever thai_date writes (and d/m/BE, ISO) reads back as the same date."""
    day = date(2001, 1, 1)
    while day <= TODAY:
        for typed in (thai_date(day), f"{day.day}/{day.month}/{day.year + 543}",
                      day.isoformat()):
            assert parse_birth(typed, TODAY).birth_date == day, typed
        day += timedelta(days=13)


def test_datetimepicker_value():
    assert parse_birth("2019-08-13", TODAY).birth_date == AUG_13_2019


def test_birth_long_input_is_quick():
    started = time.perf_counter()
    for typed in (LONG, "1" * 5000, "13/8/" * 1000, "ขวบ" * 1500):
        assert not parse_birth(typed, TODAY).ok
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(("birth", "today", "expected"), [
    (date(2019, 8, 13), TODAY, (7, 3)),
    (date(2019, 8, 13), date(2026, 8, 13), (7, 0)),
    (date(2019, 8, 13), date(2026, 8, 12), (6, 11)),
    (date(2026, 11, 27), TODAY, (0, 0)),
    (date(2026, 10, 28), TODAY, (0, 0)),
    (date(2026, 10, 27), TODAY, (0, 1)),
    (date(2020, 2, 29), date(2021, 2, 28), (0, 11)),
    (date(2020, 2, 29), date(2021, 3, 1), (1, 0)),
])
def test_age_on(birth, today, expected):
    assert age_on(birth, today) == expected


def test_age_on_refuses_a_birth_after_today():
    with pytest.raises(ValueError):
        age_on(TODAY + timedelta(days=1), TODAY)


# ---------------------------------------------------------------------------------- IDs


GOOD_ID = valid_id("110170020345")  # 1101700203450


@pytest.mark.parametrize("typed", [
    GOOD_ID, "1-1017-00203-45-0", "1 1017 00203 45 0", "๑๑๐๑๗๐๐๒๐๓๔๕๐", "๑-๑๐๑๗-๐๐๒๐๓-๔๕-๐",
    " 1101700203450 ", "1101700203450ค่ะ", "1.1017.00203.45.0",
])
def test_citizen_id(typed):
    assert parse_citizen_id(typed) == IdResult(ok=True, kind="citizen_id", value=GOOD_ID)


def test_checksum_accepts_exactly_one_last_digit():
    for prefix in ("110170020345", "310100123456", "000008912345", "876543210987"):
        good = [d for d in "0123456789" if parse_citizen_id(prefix + d).ok]
        assert good == [str(citizen_id_check_digit(prefix))]
        assert prefix + good[0] == valid_id(prefix)


@pytest.mark.parametrize("typed", ["G123456789012", "g123456789012", "G 1234 5678 9012",
                                   "G-1234-5678-9012", "G๑๒๓๔๕๖๗๘๙๐๑๒"])
def test_g_code(typed):
    assert parse_citizen_id(typed) == IdResult(ok=True, kind="g_code", value="G123456789012")


@pytest.mark.parametrize("typed", ["ไม่มี", "ไม่ทราบ", "ไม่มี/ไม่ทราบ", "ไม่มี / ไม่ทราบ", "-",
                                   "ไม่มีค่ะ", "ไม่ทราบครับ", "ไมมี", "ไม่รู้"])
def test_no_id(typed):
    assert parse_citizen_id(typed) == IdResult(ok=True, kind="none")


@pytest.mark.parametrize(("typed", "reason"), [
    ("1101700203451", "bad_checksum"),
    ("1-1017-00203-45-1", "bad_checksum"),
    ("110170020345", "wrong_length"),
    ("11017002034500", "wrong_length"),
    ("G12345678901", "wrong_length"),
    ("G1234567890123", "wrong_length"),
    ("0000000000000", "not_an_id"),
    ("ก123456789012", "not_an_id"),  # only a Latin G starts a G-code
    ("abc", "not_an_id"),
    ("สมชาย", "not_an_id"),
    (SQL, "not_an_id"),
    (LONG, "not_an_id"),
    ("", "empty"),
    ("   ", "empty"),
    (None, "empty"),
    ("😀", "empty"),
])
def test_id_refused(typed, reason):
    result = parse_citizen_id(typed)
    assert (result.ok, result.reason) == (False, reason)


def test_format_citizen_id():
    assert format_citizen_id("1101700203451") == "1-1017-00203-45-1"
    assert format_citizen_id("G123456789012") == "G123456789012"


# ---------------------------------------------------------------------------------- phones


@pytest.mark.parametrize("typed", [
    "0812345678", "081-234-5678", "081 234 5678", "081.234.5678", "๐๘๑-๒๓๔-๕๖๗๘",
    "+66812345678", "+66 81 234 5678", "+66-81-234-5678", "+66 (0) 81 234 5678", "66812345678",
    "0066812345678", "(081) 234-5678", "081-234-5678 ค่ะ", "โทร 0812345678", "เบอร์ 081-234-5678",
    "081-234-5678 📞",
])
def test_mobile(typed):
    assert parse_phone(typed) == PhoneResult(
        ok=True, kind="mobile", value="0812345678", display="081-234-5678")
    assert parse_phone(typed, mobile_only=True).ok


@pytest.mark.parametrize(("typed", "value", "display"), [
    ("0612345678", "0612345678", "061-234-5678"),
    ("0998765432", "0998765432", "099-876-5432"),
])
def test_mobile_prefixes(typed, value, display):
    assert parse_phone(typed) == PhoneResult(ok=True, kind="mobile", value=value, display=display)


@pytest.mark.parametrize(("typed", "value", "display"), [
    ("043-123-456", "043123456", "043-123-456"),
    ("043 123 456", "043123456", "043-123-456"),
    ("๐๔๓๑๒๓๔๕๖", "043123456", "043-123-456"),
    ("+66 43 123 456", "043123456", "043-123-456"),
    ("02-123-4567", "021234567", "02-123-4567"),
])
def test_landline(typed, value, display):
    assert parse_phone(typed) == PhoneResult(
        ok=True, kind="landline", value=value, display=display)
    refused = parse_phone(typed, mobile_only=True)
    assert (refused.ok, refused.reason, refused.kind) == (False, "not_mobile", "landline")


@pytest.mark.parametrize(("typed", "reason"), [
    ("081234567", "wrong_length"),
    ("08123456789", "wrong_length"),
    ("0431234567", "wrong_length"),
    ("12345", "not_a_phone"),
    ("1300", "not_a_phone"),
    ("0112345678", "not_a_phone"),
    ("081-234-567x", "not_a_phone"),
    ("โทร 0812345678 ต่อ 12", "not_a_phone"),
    ("สมชาย", "not_a_phone"),
    (SQL, "not_a_phone"),
    (LONG, "not_a_phone"),
    ("", "empty"),
    (None, "empty"),
    ("😀", "empty"),
])
def test_phone_refused(typed, reason):
    result = parse_phone(typed)
    assert (result.ok, result.reason) == (False, reason)


# ---------------------------------------------------------------------------------- references


@pytest.mark.parametrize("typed", [
    "KK-2569-00042", "kk-2569-00042", "KK 2569 00042", "kk256900042", "KK2569-42", "2569-00042",
    "2569-42", "2569 42", "๒๕๖๙-๔๒", "๒๕๖๙-๐๐๐๔๒", "KK-๒๕๖๙-๐๐๐๔๒", "256900042",
    "เลขที่เรื่อง KK-2569-00042", "KK-2569-00042 ค่ะ", "#KK-2569-00042", " kk - 2569 - 42 ",
])
def test_reference(typed):
    assert parse_reference(typed) == "KK-2569-00042"
    assert looks_like_reference(typed)


@pytest.mark.parametrize("typed", [
    "42", "KK-42", "2569", "25691", "0812345678", "1101700203450", "13/8/2562", "2562-08-13",
    "XX-2569-00042", "KK-2569-00000", "แจ้งเด็ก", "", None, SQL, LONG, "KK-2569-1234567",
])
def test_not_a_reference(typed):
    assert parse_reference(typed) is None
    assert not looks_like_reference(typed)


def test_reference_number_alone_with_a_year():
    assert parse_reference("42", year_be=2569) == "KK-2569-00042"
    assert parse_reference("KK-42", year_be=2569) == "KK-2569-00042"
    assert parse_reference("2568-7", year_be=2569) == "KK-2568-00007"


def test_reference_of_another_province():
    assert parse_reference("ub-2569-7", prefix="UB") == "UB-2569-00007"
    assert parse_reference("KK-2569-7", prefix="UB") is None


@pytest.mark.parametrize(("typed", "expected"), [
    ("123456", "123456"), ("๑๒๓ ๔๕๖", "123456"), ("123 456", "123456"), ("123-456", "123456"),
    ("๑๒๓๔๕๖", "123456"), ("รหัส 123456", "123456"), ("รหัสเชิญ: 123456", "123456"),
    ("123456 ค่ะ", "123456"), ("000000", "000000"),
    ("12345", None), ("1234567", None), ("12345a", None), ("", None), (None, None), (SQL, None),
    (LONG, None), ("😀", None),
])
def test_code(typed, expected):
    assert parse_code(typed) == expected


# ---------------------------------------------------------------------------------- writing


@pytest.mark.parametrize(("value", "precision", "expected"), [
    (AUG_13_2019, "day", "13 ส.ค. 2562"),
    (AUG_13_2019, "month", "ส.ค. 2562"),
    (AUG_13_2019, "year", "2562"),
    (AUG_13_2019, "age", "2562"),
    (date(2026, 12, 2), "day", "2 ธ.ค. 2569"),
    (date(2026, 1, 1), "day", "1 ม.ค. 2569"),
    (datetime(2019, 8, 13, 10, 15), "day", "13 ส.ค. 2562"),
])
def test_thai_date(value, precision, expected):
    assert thai_date(value, precision) == expected


def test_thai_date_default_and_bad_precision():
    assert thai_date(AUG_13_2019) == "13 ส.ค. 2562"
    with pytest.raises(ValueError):
        thai_date(AUG_13_2019, "week")


def test_thai_time():
    assert thai_time(clock(8, 0)) == "08:00 น."
    assert thai_time(datetime(2026, 11, 27, 22, 5)) == "22:05 น."


# ---------------------------------------------------------------------------------- names
# (the one name normaliser lives in services.cases: duplicate detection and the queue use it)


@pytest.mark.parametrize(("typed", "expected"), [
    ("สมชาย ใจดี", "สมชาย ใจดี"),
    ("ด.ช.สมชาย ใจดี", "สมชาย ใจดี"),
    ("ด.ช. สมชาย  ใจดี", "สมชาย ใจดี"),
    ("เด็กชายสมชาย ใจดี", "สมชาย ใจดี"),
    ("ดช.สมชาย ใจดี", "สมชาย ใจดี"),
    ("ด.ญ.สมหญิง ใจดี", "สมหญิง ใจดี"),
    ("เด็กหญิง สมหญิง ใจดี", "สมหญิง ใจดี"),
    ("นายสมชาย ใจดี", "สมชาย ใจดี"),
    ("นางสาวสมศรี ใจดี", "สมศรี ใจดี"),
    ("น.ส. สมศรี ใจดี", "สมศรี ใจดี"),
    ("นางสมศรี ใจดี", "สมศรี ใจดี"),
    ("น้องสมชาย", "สมชาย"),
    ("สม\u200bชาย\u200b ใจ\u200cดี", "สมชาย ใจดี"),
    ("นายิกา ใจดี", "นายิกา ใจดี"),  # a name that starts like a title keeps its letters
    ("Mr. John  SMITH", "john smith"),
    ("", ""),
    (None, ""),
])
def test_normalise_name(typed, expected):
    assert normalise_name(typed) == expected


def test_same_child_written_two_ways_normalises_the_same():
    assert normalise_name("ด.ญ.น้องนุช ใจดี") == normalise_name("น้องนุช  ใจดี")
    assert normalise_name("เเพรวา ใจดี") == normalise_name("แพรวา ใจดี")


@pytest.mark.parametrize("typed", NASTY)
def test_every_parser_fails_cleanly_on_nasty_input(typed):
    assert not parse_birth(typed, TODAY).ok
    assert not parse_citizen_id(typed).ok
    assert not parse_phone(typed).ok
    assert parse_reference(typed) is None
    assert parse_code(typed) is None
    assert isinstance(clean(typed), str)
    assert isinstance(normalise_name(typed), str)
