"""Intent matching over VOICE.md's vocabulary ("What people type") and the scope rules."""

from __future__ import annotations

import time

import pytest

from bot.intents import (
    ANY_MAX_WORDS,
    BLOCKERS,
    INTENT_PHRASES,
    PHRASE_SCOPES,
    WHOLE,
    Intent,
    match,
    match_intent,
)
from bot.thai_text import clean

#: VOICE.md's table, copied here so that a phrase dropped from the module fails a test.
VOICE_TABLE = {
    "report": "แจ้ง, แจ้งเด็ก, แจ้งเคส, แจ้งข้อมูลเด็ก, รายงาน, เพิ่มเคส, เคสใหม่, คีย์ข้อมูล, "
              "เด็กตกหล่น, เด็กออกกลางคัน, เด็กไม่ได้เรียน, บ่ได้เฮียน, แจ่ง, แจง",
    "status": "สถานะ, ดูสถานะ, เช็คสถานะ, เช็กสถานะ, สถาณะ, สถานนะ, ความคืบหน้า, ติดตามเรื่อง, "
              "ถึงไหนแล้ว, ไปฮอดไสแล้ว, เป็นจั่งได๋",
    "my_cases": "เคสของฉัน, เคสฉัน, เคสของผม, เคสเฮา, เคสของข่อย, เด็กที่แจ้ง, ดูเคส, เคท",
    "home_visit": "เยี่ยมบ้าน, เยี่ยม, ลงเยี่ยม, ลงพื้นที่, ไปยามบ้าน, ไปเบิ่งเด็กน้อย, เยียมบ้าน, "
                  "เยี่ยมบาน",
    "help": "วิธีใช้, ใช้ยังไง, ใช้ยังงัย, ทำไง, งง, บ่เข้าใจ, เฮ็ดจั่งได๋, คู่มือ, help, ?",
    "talk_to_person": "แอดมิน, ขอคุยกับเจ้าหน้าที่",
    "ask_help": "ขอความช่วยเหลือ, ขอทุน, ทุนเสมอภาค, ลูกไม่ได้เรียน",
    "cancel": "ยกเลิก, ยกเลิด, ยกลิก, เลิก, ไม่เอาแล้ว, บ่เอาแล้ว, พอแล้ว, หยุด, เซา, cancel",
    "back": "ย้อนกลับ, ย้อน, กลับ, ย้อนกับ, แก้, แก้ไข, พิมพ์ผิด, back",
    "menu": "เมนู, เมนุ, เมณู, หน้าหลัก, menu, ทำอะไรได้บ้าง, สวัสดี, หวัดดี, สบายดีบ่",
    "language": "ภาษา, เปลี่ยนภาษา, พาษา, English, อังกฤษ, EN, ไทย, TH",
    "unlink": "ยกเลิกการเชื่อมต่อ",
    "withdraw_consent": "ถอนความยินยอม",
    "my_data": "ข้อมูลของฉัน",
    "announce": "ประกาศ",
    "my_work": "งานของฉัน",
}
VOICE_CASES = [
    (phrase.strip(), intent)
    for intent, phrases in VOICE_TABLE.items()
    for phrase in phrases.split(",")
]
ALL_PHRASES = [(phrase, intent) for intent, phrases in INTENT_PHRASES.items() for phrase in phrases]


@pytest.mark.parametrize(("typed", "intent"), VOICE_CASES)
def test_voice_vocabulary(typed, intent):
    assert match_intent(typed) == intent


def test_voice_vocabulary_is_in_intent_phrases():
    listed = {(p.lower(), i) for p, i in ALL_PHRASES}
    assert {(p.lower(), i) for p, i in VOICE_CASES} <= listed


def test_no_phrase_belongs_to_two_intents():
    seen: dict[str, str] = {}
    for phrase, intent in ALL_PHRASES:
        assert seen.setdefault(phrase.lower(), intent) == intent, phrase


def test_phrases_survive_cleaning():
    for phrase, _ in ALL_PHRASES:
        assert clean(phrase) == phrase.lower(), phrase


def test_scopes_name_listed_phrases():
    listed = {p for p, _ in ALL_PHRASES}
    assert set(PHRASE_SCOPES) <= listed


DRESSES = [
    "{}ค่ะ", "{}ครับ", "{} คะ", "{}นะคะ", "{}จ้า", "{}เด้อ", "ขอ{}หน่อย", "ขอ{}หน่อยค่ะ", "{} 😀",
    "😀{}", "  {}  ", "{}!!",
]


@pytest.mark.parametrize(("phrase", "intent", "dress"), [
    (phrase, intent, dress)
    for phrase, intent in ALL_PHRASES
    for dress in DRESSES
    if phrase != "?" or dress in ("{}ค่ะ", "{} 😀", "  {}  ")  # "ขอ?หน่อย" is not typed
])
def test_every_phrase_dressed_as_people_type_it(phrase, intent, dress):
    typed = dress.format(phrase)
    assert match_intent(typed) == intent, typed


@pytest.mark.parametrize(("phrase", "intent"), [(p, i) for p, i in ALL_PHRASES if p.isascii()])
def test_latin_phrases_in_any_case(phrase, intent):
    assert match_intent(phrase.upper()) == intent
    assert match_intent(phrase.title()) == intent


@pytest.mark.parametrize(("typed", "intent"), [
    # the brief's examples
    ("แจ้งเด็กค่ะ", "report"),
    ("อยากแจ้งเด็กไม่ได้เรียน", "report"),
    ("ขอดูสถานะหน่อย", "status"),
    ("แจ้งเตือน", None),
    ("ไม่มี", None),
    ("ไม่ทราบ", None),
    ("กลับบ้าน", None),
    # longest phrase first
    ("ยกเลิกการเชื่อมต่อ", "unlink"),
    ("ยกเลิกการเชื่อมต่อกับลูก", "unlink"),
    ("ยกเลิกความยินยอมค่ะ", "withdraw_consent"),
    ("เช็คสถานะ", "status"),
    ("เด็กที่แจ้ง", "my_cases"),
    ("ภาษาไทย", "language"),
    ("เมนูหลัก", "menu"),
    ("กลับไปหน้าหลัก", "menu"),
    ("ขอกลับหน้าหลักหน่อย", "menu"),
    # topics inside a short sentence
    ("สวัสดีค่ะ อยากแจ้งเด็ก", "report"),
    ("มีเด็กตกหล่นในหมู่บ้าน", "report"),
    ("ขอดูเคสของฉันหน่อย", "my_cases"),
    ("ไปเยี่ยมบ้านน้องสมชายมาแล้ว", "home_visit"),
    ("ลูกไม่ได้เรียนค่ะ ขอความช่วยเหลือหน่อย", "ask_help"),
    ("ขอทุนเสมอภาคให้ลูก", "ask_help"),
    ("เรื่องไปถึงไหนแล้วคะ", "status"),
    ("ลูกเป็นจั่งได๋แล้ว", "status"),
    ("ติดตามเรื่องหน่อยค่ะ", "status"),
    ("ขอคุยกับแอดมินหน่อย", "talk_to_person"),
    ("ใช้ยังไงคะ", "help"),
    ("ใช้ยังไง?", "help"),
    ("บ่เข้าใจเด้อ", "help"),
    ("help me", "help"),
    ("งงงงง", "help"),
    ("??", "help"),
    # commands leading a short message
    ("ยกเลิกการแจ้ง", "cancel"),
    ("ยกเลิกแจ้งเด็ก", "cancel"),
    ("ขอยกเลิกหน่อย", "cancel"),
    ("ขอยกลิกหน่อย", "cancel"),
    ("CANCEL!!!", "cancel"),
    ("ย้อนกลับไป", "back"),
    ("แก้ไขชื่อ", "back"),
    ("เปลี่ยนภาษาเป็นอังกฤษ", "language"),
    ("หยุดก่อน", "cancel"),
    # everyday words are commands only as the whole message
    ("ไม่ยกเลิก", None),
    ("ไม่ต้องยกเลิก", None),
    ("บ้านหนองกลับ", None),
    ("หยุดเรียนแล้ว", None),
    ("เลิกเรียนแล้ว", None),
    ("เยี่ยมมาก", None),
    ("เยี่ยมเลยค่ะ ขอบคุณ", None),
    ("คุณเคทอยู่ไหม", None),
    ("สวัสดีครับ ผมชื่อสมชาย", None),
    ("แก้วตา", None),
    # never inside a longer word
    ("ชี้แจง", None),
    ("แจ้งความ", None),
    ("ประกาศนียบัตร", None),
    ("รายงานตัว", None),
    ("ของ", None),
    # answers belong to the step that asked
    ("ไม่มีค่ะ", None),
    ("ไม่ทราบค่ะ", None),
    ("ไม่มี/ไม่ทราบ", None),
    ("ค่ะ", None),
    ("ครับ", None),
    ("ok", None),
    ("สมชาย ใจดี", None),
    ("081-234-5678", None),
    ("13/8/2562", None),
    ("3 ขวบ", None),
    ("1101700203450", None),
    ("123456", None),
    ("ยินยอม", None),
])
def test_sentences(typed, intent):
    assert match_intent(typed) == intent


@pytest.mark.parametrize(("typed", "intent"), [
    ("ย่อนกลับ", "back"),  # ่ for ้
    ("ย๊อนกลับ", "back"),
    ("ขอความช้วยเหลือ", "ask_help"),
    ("เยี้ยมบ้าน", "home_visit"),
    ("แจ่งเด็กค่ะ", "report"),
    ("เคสของฉั้น", "my_cases"),
    ("ดูสถานะค้ะ", "status"),
    ("แจงเตือน", None),  # the toneless pass still respects longer words
])
def test_tone_marks_are_ignored_on_a_second_try(typed, intent):
    assert match_intent(typed) == intent


def test_long_messages_match_topics_only_as_a_whole():
    words = " ".join(["น้อง", "ไป", "ช่วย", "แม่", "ขาย", "ของ", "ที่", "ตลาด"] * 2)
    assert match_intent(words + " แจ้งเด็ก") is None
    short = " ".join(["น้อง", "ช่วย", "แม่", "ขาย", "ของ"])
    assert match_intent(short + " แจ้งเด็ก") == "report"
    assert ANY_MAX_WORDS >= 8


def test_whole_only_phrases_do_not_match_inside_sentences():
    for phrase, scope in PHRASE_SCOPES.items():
        if scope == WHOLE and not phrase.isascii():
            assert match_intent(f"ลูก{phrase}มาก") is None, phrase


@pytest.mark.parametrize("word", BLOCKERS)
def test_blockers_match_nothing(word):
    assert match_intent(word) is None


@pytest.mark.parametrize(("typed", "reference"), [
    ("KK-2569-00042", "KK-2569-00042"),
    ("kk256900042", "KK-2569-00042"),
    ("2569-42", "KK-2569-00042"),
    ("๒๕๖๙-๔๒", "KK-2569-00042"),
    ("เลขที่เรื่อง KK-2569-00042", "KK-2569-00042"),
    ("KK-2568-12345 ค่ะ", "KK-2568-12345"),
])
def test_a_reference_alone_shows_the_case(typed, reference):
    assert match(typed) == Intent("show_case", reference)


def test_a_reference_of_another_province():
    assert match("UB-2569-7", reference_prefix="UB") == Intent("show_case", "UB-2569-00007")
    assert match("KK-2569-7", reference_prefix="UB") is None


@pytest.mark.parametrize(("typed", "language"), [
    ("English", "en"), ("EN", "en"), ("อังกฤษ", "en"), ("ภาษาอังกฤษ", "en"),
    ("ไทย", "th"), ("TH", "th"), ("ภาษาไทยค่ะ", "th"), ("ภาษา", None), ("เปลี่ยนภาษา", None),
    ("เปลี่ยนภาษาเป็นอังกฤษ", "en"),
])
def test_language_carries_the_language(typed, language):
    assert match(typed) == Intent("language", language)


def test_a_sticker_is_menu():
    assert match(None, sticker=True) == Intent("menu")
    assert match_intent("", sticker=True) == "menu"


@pytest.mark.parametrize("typed", [
    None, "", "   ", "\n", "😀", "😀😀😀", "🙏🏻", "\u200b", "ก" * 5000, "แจ้งเด็ก " * 700,
    "'; DROP TABLE cases; --", "' OR 1=1 --", "<script>alert(1)</script>", "%s%s%s", "{0}",
    "\x00", "...", "!!!",
])
def test_nasty_input_matches_nothing(typed):
    assert match(typed) is None


def test_matching_is_quick():
    match("แจ้งเด็ก")  # the tokenizer's dictionary loads on first use
    started = time.perf_counter()
    for _ in range(20):
        match("ก" * 5000)
        match("แจ้งเด็ก " * 700)
        match("ขอดูสถานะหน่อยค่ะ")
        match("สวัสดีค่ะ อยากแจ้งเด็กไม่ได้เรียนในหมู่บ้านค่ะ")
    assert time.perf_counter() - started < 2


def test_a_text_seen_before_is_answered_from_the_cache_and_the_same():
    from bot.intents import _match

    typed = "ขอดูเมนูหน่อยค่ะ  " + str(time.time_ns())  # a text no other test sent
    before = _match.cache_info()
    first = match(typed)
    second = match(typed)
    after = _match.cache_info()
    assert first == second
    assert after.hits - before.hits >= 1 and after.misses - before.misses >= 1
    assert match(None) is None and match("") is None
    too_long = "เมนู " * 1000  # never reaches the cache: refused before it
    misses = _match.cache_info().misses
    assert match(too_long) is None and _match.cache_info().misses == misses
