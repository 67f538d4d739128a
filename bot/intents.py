"""What a typed message asks for, from the vocabulary of VOICE.md ("What people type").

The Thai literals here are vocabulary to match, never text shown to a user.

How a message is matched
------------------------
1. A sticker is ``menu``. A case reference typed alone ("KK-2569-00042", "2569-42") is
   ``show_case`` with the canonical reference as the argument.
2. The text is cleaned (:func:`bot.thai_text.clean`: digits, emoji, repeats, particles, case)
   and split into words with pythainlp's offline ``newmm`` tokenizer. A phrase matches only
   where it starts and ends on word boundaries, and never inside a longer word: "แจ้ง" does
   not match in "แจ้งเตือน" or "ชี้แจง" (:data:`BLOCKERS` lists words the dictionary lacks).
3. Words in :data:`FILLERS` ("ขอ", "หน่อย", "อยาก", "ด้วย", ...) do not count. Each phrase has a
   scope that says where in a message it may stand:

   * ``whole``: the message is that phrase and fillers only (fillers are also peeled off its
     ends as characters, so a misspelling the tokenizer splits oddly still matches:
     "ขอยกลิกหน่อย"). The scope of everyday words that are also commands or topics: กลับ,
     แก้, ย้อน, เลิก, หยุด, เซา, พอแล้ว, เยี่ยม, เคท, ไทย, ภาษา, greetings, "?", EN/TH.
     So "กลับบ้าน", "หยุดเรียนแล้ว", "เยี่ยมมาก" match nothing.
   * ``lead``: the whole message, or the first word(s) of a short message (at most
     :data:`LEAD_MAX_WORDS` words besides fillers). The default for commands (cancel, back,
     menu, language, help): "ยกเลิกการแจ้ง" cancels, "ขอยกเลิกหน่อย" cancels, "ไม่ยกเลิก" and
     "บ้านหนองกลับ" do not.
   * ``any``: anywhere in a message of at most :data:`ANY_MAX_WORDS` words besides fillers.
     The default for topics (report, status, my cases, home visit, asking for help, ...):
     "อยากแจ้งเด็กไม่ได้เรียน", "ขอดูสถานะหน่อย". Longer messages (free text such as a note)
     match only as a whole.

   Among the phrases that may match, a whole-message match wins, then one that leads the
   message, then the longest phrase, then the earliest ("ยกเลิกการเชื่อมต่อ" before "ยกเลิก").
4. If nothing matches, the same is tried again with tone marks removed from the message and
   the phrases (่ and ้ are neighbouring keys).

Answers such as "ไม่มี", "ไม่ทราบ", "ค่ะ" match nothing: they belong to the step that asked.
Messages longer than :data:`MAX_MESSAGE_CHARS` after cleaning match nothing (no tokenizing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

from bot.thai_text import (
    DEFAULT_REFERENCE_PREFIX,
    PARTICLES,
    clean,
    parse_reference,
    strip_tone_marks,
    tokenize,
)

WHOLE, LEAD, ANY = "whole", "lead", "any"
_PUNCTUATION = re.compile(r"[^\w\s]+")

#: Phrases per intent, as people type them (VOICE.md), plus the account and officer commands.
INTENT_PHRASES: dict[str, tuple[str, ...]] = {
    "report": (
        "แจ้ง", "แจ้งเด็ก", "แจ้งเคส", "แจ้งข้อมูลเด็ก", "รายงาน", "เพิ่มเคส", "เคสใหม่",
        "คีย์ข้อมูล", "เด็กตกหล่น", "เด็กออกกลางคัน", "เด็กไม่ได้เรียน", "บ่ได้เฮียน", "แจ่ง",
        "แจง",
    ),
    "status": (
        "สถานะ", "ดูสถานะ", "เช็คสถานะ", "เช็กสถานะ", "สถาณะ", "สถานนะ", "ความคืบหน้า",
        "ติดตามเรื่อง", "ถึงไหนแล้ว", "ไปฮอดไสแล้ว", "เป็นจั่งได๋",
    ),
    "my_cases": (
        "เคสของฉัน", "เคสฉัน", "เคสของผม", "เคสเฮา", "เคสของข่อย", "เด็กที่แจ้ง", "ดูเคส", "เคท",
    ),
    "home_visit": (
        "เยี่ยมบ้าน", "เยี่ยม", "ลงเยี่ยม", "ลงพื้นที่", "ไปยามบ้าน", "ไปเบิ่งเด็กน้อย",
        "เยียมบ้าน", "เยี่ยมบาน",
    ),
    "help": (
        "วิธีใช้", "ใช้ยังไง", "ใช้ยังงัย", "ทำไง", "งง", "บ่เข้าใจ", "เฮ็ดจั่งได๋", "คู่มือ",
        "help", "?",
    ),
    "talk_to_person": ("แอดมิน", "ขอคุยกับเจ้าหน้าที่", "คุยกับเจ้าหน้าที่", "admin"),
    "ask_help": ("ขอความช่วยเหลือ", "ขอทุน", "ทุนเสมอภาค", "ลูกไม่ได้เรียน"),
    "cancel": (
        "ยกเลิก", "ยกเลิด", "ยกลิก", "เลิก", "ไม่เอาแล้ว", "บ่เอาแล้ว", "พอแล้ว", "หยุด", "เซา",
        "cancel",
    ),
    "back": ("ย้อนกลับ", "ย้อน", "กลับ", "ย้อนกับ", "แก้", "แก้ไข", "พิมพ์ผิด", "back"),
    "menu": (
        "เมนู", "เมนุ", "เมณู", "เมนูหลัก", "หน้าหลัก", "กลับหน้าหลัก", "กลับไปหน้าหลัก", "menu",
        "ทำอะไรได้บ้าง", "สวัสดี", "หวัดดี", "สบายดีบ่",
    ),
    "language": (
        "ภาษา", "เปลี่ยนภาษา", "พาษา", "language", "english", "อังกฤษ", "ภาษาอังกฤษ", "en",
        "ไทย", "ภาษาไทย", "thai", "th",
    ),
    "unlink": ("ยกเลิกการเชื่อมต่อ", "ยกเลิกเชื่อมต่อ", "เลิกเชื่อมต่อ", "ยกเลิกการเชื่อม"),
    "withdraw_consent": (
        "ถอนความยินยอม", "ถอนยินยอม", "ยกเลิกความยินยอม", "ยกเลิกการยินยอม",
    ),
    "my_data": ("ข้อมูลของฉัน", "ข้อมูลฉัน", "ข้อมูลของผม", "ดูข้อมูลของฉัน"),
    "announce": ("ประกาศ", "ส่งประกาศ"),
    "news": ("ข่าวสาร", "ข่าว", "ดูข่าว", "ข่าวล่าสุด", "ดูประกาศ", "ประกาศล่าสุด", "news"),
    "my_work": (
        "งานของฉัน", "งานฉัน", "งานของผม", "งานของข่อย", "งาน", "คิวงาน", "งานที่ต้องทำ",
        "เคสที่ต้องทำ", "งานค้าง", "เคสค้าง", "เรื่องที่ต้องทำ",
    ),
}

CONFUSED = "งง"

#: Intents that are commands: their phrases lead a message (scope ``lead``) unless listed below.
COMMAND_INTENTS: frozenset[str] = frozenset({"cancel", "back", "menu", "language", "help"})

#: Phrases with a scope other than their intent's default (see the module docstring).
PHRASE_SCOPES: dict[str, str] = {
    # everyday words: only the whole message
    "กลับ": WHOLE, "ย้อน": WHOLE, "แก้": WHOLE, "เลิก": WHOLE, "หยุด": WHOLE, "เซา": WHOLE,
    "พอแล้ว": WHOLE, "เยี่ยม": WHOLE, "เคท": WHOLE, "งาน": WHOLE, "ไทย": WHOLE, "อังกฤษ": WHOLE,
    "ภาษา": WHOLE, "พาษา": WHOLE, "thai": WHOLE, "english": WHOLE, "en": WHOLE, "th": WHOLE,
    "สวัสดี": WHOLE, "หวัดดี": WHOLE, "สบายดีบ่": WHOLE, "?": WHOLE,
    "ทำไง": LEAD,
    # topic words that are also common in other sentences: first word of a short message
    "แจ้ง": LEAD, "แจ่ง": LEAD, "แจง": LEAD, "รายงาน": LEAD, "ประกาศ": LEAD,
    "สถานะ": ANY,
}

#: Arguments carried by some phrases (the language chosen).
PHRASE_ARGUMENTS: dict[str, str] = {
    "english": "en", "อังกฤษ": "en", "ภาษาอังกฤษ": "en", "en": "en",
    "ไทย": "th", "ภาษาไทย": "th", "thai": "th", "th": "th",
}

#: Words that contain a phrase but mean something else (missing from pythainlp's dictionary).
BLOCKERS: tuple[str, ...] = (
    "แจ้งเตือน", "ชี้แจง", "แจ้งความ", "แจกแจง", "รายงานตัว", "ประกาศนียบัตร", "กลับบ้าน",
    "แก้ปัญหา", "เลิกเรียน", "หยุดเรียน",
)

#: Words that do not count when deciding whether a phrase is the whole message or leads it.
FILLERS: frozenset[str] = PARTICLES | frozenset({
    "ขอ", "หน่อย", "ด้วย", "อยาก", "อยากจะ", "จะ", "ต้องการ", "ช่วย", "ได้", "ไหม", "มั้ย",
    "เลย", "ที", "ให้", "ก่อน", "ไป", "please", "pls", "plz", "ดู", "ทำ",
})

#: The largest number of words (fillers aside) around a ``lead`` / ``any`` phrase.
LEAD_MAX_WORDS = 4
ANY_MAX_WORDS = 12
#: How many fillers may be peeled off a message to find a whole-message phrase.
PEEL_MAX = 4
#: Longer messages are free text, not commands.
MAX_MESSAGE_CHARS = 200


@dataclass(frozen=True, slots=True)
class Intent:
    """A recognised intent and its argument (the reference for show_case, the language code)."""

    name: str
    argument: str | None = None


@dataclass(frozen=True, slots=True)
class _Phrase:
    text: str
    intent: str
    scope: str
    argument: str | None


def _scope(phrase: str, intent: str) -> str:
    if phrase in PHRASE_SCOPES:
        return PHRASE_SCOPES[phrase]
    return LEAD if intent in COMMAND_INTENTS else ANY


@cache
def _phrases(toneless: bool) -> tuple[_Phrase, ...]:
    """Every phrase, cleaned (and without tone marks for the looser pass), longest first."""
    table = []
    for intent, phrases in INTENT_PHRASES.items():
        for phrase in phrases:
            text = phrase.lower().replace(" ", "")
            if toneless:
                text = strip_tone_marks(text)
            argument = PHRASE_ARGUMENTS.get(phrase)
            table.append(_Phrase(text, intent, _scope(phrase, intent), argument))
    return tuple(sorted(table, key=lambda p: -len(p.text)))


@cache
def _blockers(toneless: bool) -> tuple[str, ...]:
    """Blocking words; typed without their tone marks they still block ("แจงเตือน")."""
    toneless_forms = {strip_tone_marks(b) for b in BLOCKERS}
    return tuple(toneless_forms if toneless else set(BLOCKERS) | toneless_forms)


@cache
def _fillers(toneless: bool) -> frozenset[str]:
    return frozenset(strip_tone_marks(f) for f in FILLERS) if toneless else FILLERS


@cache
def _phrase_index(toneless: bool) -> dict[str, _Phrase]:
    index: dict[str, _Phrase] = {}
    for phrase in _phrases(toneless):
        index.setdefault(phrase.text, phrase)
    return index


@cache
def _filler_texts(toneless: bool) -> tuple[str, ...]:
    return tuple(sorted(_fillers(toneless), key=len, reverse=True))


def _whole_message(compact: str, toneless: bool) -> _Phrase | None:
    """The phrase the message is, once fillers are peeled off either end ("ขอยกลิกหน่อย").

    Works on the characters, so it also holds when misspellings confuse the tokenizer.
    """
    index, fillers = _phrase_index(toneless), _filler_texts(toneless)
    frontier, seen = [compact], {compact}
    for _ in range(PEEL_MAX + 1):
        for candidate in frontier:
            if candidate in index:
                return index[candidate]
        peeled = []
        for candidate in frontier:
            for filler in fillers:
                if len(candidate) <= len(filler):
                    continue
                if candidate.startswith(filler):
                    peeled.append(candidate[len(filler):])
                if candidate.endswith(filler):
                    peeled.append(candidate[: -len(filler)])
        frontier = [c for c in dict.fromkeys(peeled) if c not in seen]
        seen.update(frontier)
    return None


def _occurrences(text: str, part: str):
    start = text.find(part)
    while start != -1:
        yield start
        start = text.find(part, start + 1)


def _best(tokens: list[str], toneless: bool) -> _Phrase | None:
    """The phrase the words ask for under the scope rules, or None."""
    # fillers are read on the words as typed: without tone marks "ที่" would read as "ที"
    content = [i for i, t in enumerate(tokens) if t not in FILLERS]
    if toneless:
        tokens = [strip_tone_marks(t) for t in tokens]
    compact = "".join(tokens)
    whole = _whole_message(compact, toneless)
    if whole is not None:
        return whole
    starts, ends, position = [], [], 0
    for token in tokens:
        starts.append(position)
        position += len(token)
        ends.append(position)
    boundaries = set(starts) | set(ends)
    if not content:
        return None
    first_start = starts[content[0]]
    blocked = [
        (at, at + len(word))
        for word in _blockers(toneless)
        for at in _occurrences(compact, word)
    ]

    best_key, best = None, None
    for phrase in _phrases(toneless):
        for at in _occurrences(compact, phrase.text):
            end = at + len(phrase.text)
            if at not in boundaries or end not in boundaries:
                continue
            if any(b0 <= at and end <= b1 and (b0, b1) != (at, end) for b0, b1 in blocked):
                continue
            outside = [i for i in content if ends[i] <= at or starts[i] >= end]
            whole = not outside
            leading = at == first_start
            if whole:
                rank = 2
            elif phrase.scope == LEAD and leading and len(content) <= LEAD_MAX_WORDS:
                rank = 1
            elif phrase.scope == ANY and len(content) <= ANY_MAX_WORDS:
                rank = 1 if leading else 0
            else:
                continue
            key = (rank, len(phrase.text), -at)
            if best_key is None or key > best_key:
                best_key, best = key, phrase
    return best


def _language_argument(tokens: list[str]) -> str | None:
    """The language named anywhere in a language request ("เปลี่ยนภาษาเป็นอังกฤษ")."""
    for token in tokens:
        if token in PHRASE_ARGUMENTS:
            return PHRASE_ARGUMENTS[token]
    return None


def match(text: str | None, *, sticker: bool = False,
          reference_prefix: str = DEFAULT_REFERENCE_PREFIX) -> Intent | None:
    """The intent of a message (or a sticker), with its argument; None when there is none.

    The answer depends on the text alone, and most messages a LINE bot gets are the same few
    texts again and again (a rich-menu tile or a quick-reply button sends its label as the
    message), so the last CACHED_TEXTS answers are kept; matching one costs 0.1 ms of CPU
    (tokenising and scanning every phrase), more than the rest of the message's step."""
    if sticker:
        return Intent("menu")
    if not text or len(text) > MAX_MESSAGE_CHARS * 4:
        return None
    return _match(text, reference_prefix)


CACHED_TEXTS = 4096  # at most 800 characters each: a few MiB at most


@lru_cache(maxsize=CACHED_TEXTS)
def _match(text: str, reference_prefix: str) -> Intent | None:
    reference = parse_reference(text, prefix=reference_prefix)
    if reference is not None:
        return Intent("show_case", reference)
    cleaned = clean(text)
    if not cleaned or len(cleaned) > MAX_MESSAGE_CHARS:
        return None
    if cleaned == CONFUSED[0] and CONFUSED in text:  # "งงงง" collapsed to one letter
        cleaned = CONFUSED
    tokens = [t for t in tokenize(cleaned) if not _PUNCTUATION.fullmatch(t)] or tokenize(cleaned)
    found = _best(tokens, toneless=False) or _best(tokens, toneless=True)
    if found is None:
        return None
    argument = found.argument
    if found.intent == "language" and argument is None:
        argument = _language_argument(tokens)
    return Intent(found.intent, argument)


def match_intent(text: str | None, *, sticker: bool = False) -> str | None:
    """The name of the intent of a message, or None."""
    found = match(text, sticker=sticker)
    return found.name if found else None
