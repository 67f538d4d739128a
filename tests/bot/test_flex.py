"""Every Flex message the bot can send, made by the bot's own code at its largest and sent to the
emulator over real HTTP through the SDK's client (bot.line_client), where LINE's limits are
checked (emulator.limits: bubble 30 KB, carousel 12 bubbles and 50 KB, alt text 1,500, labels
20, data 300, then the SDK's own request models):

- a volunteer's page of cases (`my_cases.show_page`): 12 reported children with 120-letter
  names, so a full page of PER_PAGE cards and "see more";
- an officer's newest cases (`officer_work.show_work`): SHOWN cards, each a pending referral
  (the accept button), overdue, in the district's longest-named subdistrict, with PUBLIC_URL set
  (the "open in console" button);
- a parent's status (`parent.status_message`): 12 linked children (a carousel of the maximum),
  each with an appointment whose place is 300 characters and an office with a phone;
- the report's summary (`SummaryStep.prompt`) with every field at its longest;
- an announcement (`announcements.announcement_messages`) of 5,000 Thai characters with a
  1,000-character https link: the preview the officer confirms and the multicast itself.

`flex_sites` records where `bot.flex.flex` is called from while a test runs, and each test says
which call sites it builds (`@builds`): a test fails if its site did not make the message it
sent. The guard at the end finds every place in handlers/ and bot/ that makes a Flex message
(a call of bot.flex.flex, or a literal {"type": "flex"}) and fails when one has no test here.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
import sys
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from bot import flex as fx
from bot.extensions import db
from bot.worker import make_client
from emulator.limits import (
    MAX_ALT_TEXT,
    MAX_BUBBLE_BYTES,
    MAX_CAROUSEL_BUBBLES,
    MAX_CAROUSEL_BYTES,
    check_send_request,
    compact_size,
)
from handlers.flows import my_cases, officer_work
from models import Agency, Area, OutboxMessage, utcnow
from services import announcements, guardians, workflow
from services.workflow import PLACE_LIMIT
from tests import factories as f
from tests.handlers.test_notifications import work
from tests.support import Chat

ROOT = Path(__file__).resolve().parents[2]
THAI = re.compile(r"[\u0E00-\u0E7F]")
NAME_MAX = 120  # handlers.flows.report.NAME_MAX: the longest name the report flow takes
LETTERS = "กขคฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮ"
PUBLIC_URL = "https://samoe.khonkaen.go.th"
AGENCY_PHONE = "043-246-810"


def long_name(n: int) -> str:
    """A 120-letter one-word name (so the card's "น้อง…" is all of it), different for each n
    (the same name, birth date and subdistrict would be one child reported twice)."""
    base = "ปรียาภรณ์วรรณวิไลลักษณ์ศรีสุวรรณ" * 5
    return base[:NAME_MAX - 2] + LETTERS[n // len(LETTERS)] + LETTERS[n % len(LETTERS)]


# -- where Flex messages are made ------------------------------------------------------------

#: (file, function) of each place that makes a Flex message -> the test here that builds it.
SITES: dict[tuple[str, str], str] = {}


def builds(*sites: tuple[str, str]):
    """Mark a test as building (and sending) the Flex message made at these call sites."""

    def mark(test):
        for site in sites:
            SITES[site] = test.__name__
        test.flex_sites = sites
        return test

    return mark


class FlexCalls:
    """Where `bot.flex.flex` is called from, as (file, qualified function name), in this
    thread and in every thread started while recording (the sender's pool)."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()
        self._code = fx.flex.__code__

    def _profile(self, frame, event, _arg):
        if event == "call" and frame.f_code is self._code and frame.f_back is not None:
            caller = frame.f_back.f_code
            try:
                path = Path(caller.co_filename).resolve().relative_to(ROOT).as_posix()
            except ValueError:
                path = caller.co_filename
            self.seen.add((path, caller.co_qualname))

    def start(self) -> None:
        threading.setprofile(self._profile)
        sys.setprofile(self._profile)

    def stop(self) -> None:
        sys.setprofile(None)
        threading.setprofile(None)


@pytest.fixture
def flex_sites(request):
    """Record where Flex messages are made during the test; after it, every site the test
    claims (@builds) must have made one."""
    calls = FlexCalls()
    failed_before = request.session.testsfailed
    calls.start()
    try:
        yield calls
    finally:
        calls.stop()
    if request.session.testsfailed > failed_before:
        return  # the test failed already: that is the news
    claimed = set(getattr(request.function, "flex_sites", ()))
    assert claimed, "a test using flex_sites says which call sites it builds (@builds)"
    assert claimed <= calls.seen, f"not made by the code under test: {claimed - calls.seen}"


# -- checks ------------------------------------------------------------------------------------


def check_largest(message: dict) -> int:
    """LINE's limits, as the emulator checks them, and a Thai alt text; the contents' size."""
    assert message["type"] == "flex"
    assert check_send_request("push", {"to": "U" + "0" * 32, "messages": [message]}) == []
    assert 1 <= len(message["altText"]) <= MAX_ALT_TEXT and THAI.search(message["altText"])
    contents = message["contents"]
    if contents["type"] == "carousel":
        assert len(contents["contents"]) <= MAX_CAROUSEL_BUBBLES
        assert compact_size(contents) <= MAX_CAROUSEL_BYTES
        assert all(compact_size(b) <= MAX_BUBBLE_BYTES for b in contents["contents"])
    else:
        assert compact_size(contents) <= MAX_BUBBLE_BYTES
    return compact_size(contents)


def push(app, emulator, message: dict) -> None:
    """Push a message the way the sender does (bot.line_client over the SDK's ApiClient);
    the emulator refuses with LINE's 400 what LINE would refuse, and stores what it accepts."""
    user = "U" + uuid.uuid4().hex
    client = make_client(app)
    try:
        result = client.push(user, [message], str(uuid.uuid4()))
    finally:
        client.close()
    assert result.outcome == "ok", (result.status, result.message)
    [item] = emulator.sent(user)
    assert item["messages"] == [message]


def all_accepted(emulator, session) -> None:
    """Everything the bot sent in the test went through: no 4xx from the emulator, and every
    outbox row delivered."""
    refused = [(r["endpoint"], r["status"], r["error"]) for r in emulator.requests()
               if r["status"] >= 400]
    assert refused == []
    session.expire_all()
    statuses = set(session.scalars(sa.select(OutboxMessage.status)))
    assert statuses <= {OutboxMessage.SENT}, statuses


def flex_messages(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["type"] == "flex"]


def bubbles(message: dict) -> list[dict]:
    contents = message["contents"]
    return contents["contents"] if contents["type"] == "carousel" else [contents]


def rows(bubble: dict) -> dict[str, str]:
    """A card's label/value rows (the body's last box, under the title and subtitle)."""
    return {r["contents"][0]["text"]: r["contents"][1]["text"]
            for r in bubble["body"]["contents"][-1]["contents"]}


def footer(bubble: dict) -> list[dict]:
    return [b["action"] for b in bubble.get("footer", {}).get("contents", [])]


@pytest.fixture
def phone_of(app):
    """Give an agency a phone for the test (the seed data has few), putting it back after."""
    changed: dict[str, str | None] = {}

    def set_phone(code: str, phone: str) -> None:
        with app.app_context():
            agency = db.session.get(Agency, code)
            changed.setdefault(code, agency.phone)
            agency.phone = phone
            db.session.commit()
            db.session.remove()

    yield set_phone
    with app.app_context():
        for code, phone in changed.items():
            db.session.get(Agency, code).phone = phone
        db.session.commit()
        db.session.remove()


# -- each Flex message the bot sends, at its largest --------------------------------------------


@builds(("handlers/flows/my_cases.py", "register.<locals>.show_page"))
def test_a_volunteers_full_page_of_cases_is_accepted(app, emulator, worker, session,
                                                     flex_sites):
    stages = list(my_cases.STAGE_WORDS)
    with work(app) as s:
        volunteer = f.line_user(s, role="volunteer")
        for n in range(12):
            case = f.report(s, app.config["SECRET_KEY"], volunteer, name=long_name(n))
            case.stage = stages[n % len(stages)]  # every stage's words
        user_id = volunteer.line_user_id
    chat = Chat(emulator, worker, user_id)

    names = {"น้อง" + long_name(n) for n in range(12)}  # the whole 120 letters on each card
    answer = chat.say("เคสของฉัน")
    all_accepted(emulator, session)
    [page] = flex_messages(answer)
    assert len(bubbles(page)) == my_cases.PER_PAGE  # a full page
    assert {b["body"]["contents"][0]["text"] for b in bubbles(page)} <= names
    assert chat.labels() == ["ดูเพิ่ม"]  # there are more than a page
    check_largest(page)
    answer = chat.tap("ดูเพิ่ม")
    all_accepted(emulator, session)
    [more] = flex_messages(answer)
    assert len(bubbles(more)) == my_cases.PER_PAGE
    check_largest(more)


@builds(("handlers/flows/officer_work.py", "show_work"))
def test_an_officers_newest_cases_with_every_button_are_accepted(app, emulator, worker,
                                                                 session, monkeypatch,
                                                                 flex_sites):
    monkeypatch.setitem(app.config, "PUBLIC_URL", PUBLIC_URL)
    with work(app) as s:
        place = max(s.scalars(sa.select(Area).where(Area.parent_code == "4007")),
                    key=lambda a: len(a.name_th))  # ต.ท่ากระเสริม
        line = f.line_user(s, role="officer")
        line.agency_code, line.area_code = "LEARN", "4007"
        f.officer(s, agency="LEARN", area="4007", line=line)
        local = f.actor(f.officer(s, agency="LOCAL", area=place.code))
        volunteer = f.line_user(s, role="volunteer", subdistrict=place.code)
        for n in range(officer_work.SHOWN + 2):
            case = f.report(s, app.config["SECRET_KEY"], volunteer, group="early_childhood",
                            subdistrict=place.code, name=long_name(n))
            workflow.refer(s, local, case, "LEARN",
                           "เด็กอายุเกินวัยศูนย์พัฒนาเด็กเล็ก ควรได้เรียนต่อในระบบ")
            case.due_at = utcnow() - dt.timedelta(days=3)  # overdue: the card says since when
            s.commit()
        user_id, place_name = line.line_user_id, place.name_th
    chat = Chat(emulator, worker, user_id)
    chat._answer()  # the referrals' notices, already waiting

    answer = chat.say("งานของฉัน")
    all_accepted(emulator, session)
    [card] = flex_messages(answer)
    assert len(bubbles(card)) == officer_work.SHOWN
    for bubble in bubbles(card):
        accept, console = footer(bubble)
        assert accept["type"] == "postback" and "accept_referral" in accept["data"]
        assert console["type"] == "uri" and console["uri"].startswith(
            PUBLIC_URL + "/console/cases/KK-")
        assert {"ตำบล", "ส่งมาจาก", "กำหนด"} <= set(rows(bubble))
        assert rows(bubble)["ตำบล"] == place_name
    check_largest(card)


@builds(("handlers/flows/parent.py", "status_message"))
def test_a_parents_status_of_twelve_children_is_accepted(app, emulator, worker, session,
                                                         phone_of, flex_sites):
    phone_of("LEARN", AGENCY_PHONE)
    place = ("ห้องประชุมศูนย์ส่งเสริมการเรียนรู้ระดับอำเภอน้ำพอง ชั้น 2 " * 10)[:PLACE_LIMIT]
    at = (utcnow() + dt.timedelta(days=3)).replace(microsecond=0)
    with work(app) as s:
        volunteer = f.line_user(s, role="volunteer")
        parent = f.line_user(s, role="parent")
        learn = f.actor(f.officer(s, agency="LEARN", area="4007"))
        for n in range(MAX_CAROUSEL_BUBBLES):
            case = f.report(s, app.config["SECRET_KEY"], volunteer, name=long_name(n))
            guardians.link_reporter(s, parent, case)
            workflow.set_appointment(s, learn, case, at, place=place, purpose="ลงทะเบียนเรียน")
            s.commit()
        user_id = parent.line_user_id
    chat = Chat(emulator, worker, user_id)
    chat._answer()  # the appointments' notices, already waiting

    answer = chat.say("สถานะ")
    all_accepted(emulator, session)
    [status] = flex_messages(answer)
    assert len(bubbles(status)) == MAX_CAROUSEL_BUBBLES
    for bubble in bubbles(status):
        assert rows(bubble)["นัดหมาย"].endswith(place)
        [call] = footer(bubble)
        assert call["uri"] == "tel:" + AGENCY_PHONE.replace("-", "")
    check_largest(status)
    assert len(status["altText"]) == MAX_ALT_TEXT  # twelve children: cut to LINE's limit


@builds(("handlers/flows/report.py", "SummaryStep.prompt"))
def test_the_report_summary_with_every_field_at_its_longest_is_accepted(app, emulator,
                                                                        flex_sites):
    from handlers.flows.report import NOTE_MAX, SITUATIONS, SummaryStep

    draft = {"group": "out_of_school", "child_name": long_name(0), "sex": "female",
             "birth_date": "2012-08-13", "birth_precision": "day",
             "id": {"kind": "citizen", "value": "1234567890121"},
             "guardian": {"name": long_name(1), "phone": "0812345678"},
             "relation": "grandparent", "village": "บ้านโนนสะอาดพัฒนาสามัคคี" * 4,
             "village_no": 12, "subdistrict": "400710",
             "situations": [c.value for c in SITUATIONS], "note": "ก" * NOTE_MAX,
             "photo_message_id": "1", "consent": "yes", "submission_key": "k" * 32}
    with app.test_request_context():
        [message] = SummaryStep().prompt(SimpleNamespace(session=db.session), draft)
        db.session.remove()
    check_largest(message)
    assert len(message["altText"]) == MAX_ALT_TEXT  # the long draft's alt text is cut
    push(app, emulator, message)


@builds(("handlers/announcements.py", "announcement_messages"))
def test_an_announcement_of_5000_characters_and_a_long_link_is_previewed_and_sent(
        app, emulator, worker, session, flex_sites):
    with work(app) as s:
        officer = f.line_user(s, role="officer")
        officer.agency_code, officer.area_code = "LEARN", "4007"
        f.officer(s, agency="LEARN", area="4007", line=officer)
        volunteers = sorted(f.line_user(s, role="volunteer").line_user_id for _ in range(3))
        user_id = officer.line_user_id
    sentence = "ขอเชิญผู้ปกครองพาน้องมาลงทะเบียนเรียนที่ศูนย์ส่งเสริมการเรียนรู้อำเภอน้ำพอง "
    body = (sentence * 100)[:announcements.TEXT_LIMIT - 1] + "ค"
    link = "https://www.kkpao.go.th/เอกสาร/"
    link += "a" * (announcements.LINK_LIMIT - len(link))
    assert (len(body), len(link)) == (announcements.TEXT_LIMIT, announcements.LINK_LIMIT)
    chat = Chat(emulator, worker, user_id)

    chat.say("ประกาศ")
    chat.tap(chat.labels()[0])  # the whole district
    chat.tap("อสม.")
    chat.tap("เสร็จ")  # one audience (several may be chosen)
    chat.say(body)
    preview = chat.say(link)
    all_accepted(emulator, session)
    card, _question = preview
    assert card["contents"]["body"]["contents"][0]["text"] == body  # all of it, as written
    assert footer(card["contents"])[0]["uri"] == link
    size = check_largest(card)
    assert size > 3 * len(body) + 2 * len(link)  # the text at 3 bytes a letter, the link twice
    chat.tap("ส่งประกาศ")
    worker.burst()
    [item] = emulator.sent(endpoint="multicast")
    assert sorted(item["to"]) == volunteers
    assert item["messages"] == [card]  # exactly as previewed, and accepted
    all_accepted(emulator, session)


# -- the emulator's checks themselves ---------------------------------------------------------


def test_the_limits_check_would_catch_an_oversized_card():
    card = fx.bubble("ใหญ่เกิน", [("ข้อ", "ก" * 12_000)])
    errors = check_send_request("push", {"to": "U" + "0" * 32,
                                         "messages": [fx.flex("ใหญ่เกิน", card)]})
    assert errors and errors[0]["message"] == f"Must be {MAX_BUBBLE_BYTES} bytes or less"


def test_buttons_keep_labels_and_display_text_within_limits():
    button = fx.postback_button("ป" * 40, "a=x", display="ข" * 400, primary=True)
    assert len(button["action"]["label"]) == 20
    assert len(button["action"]["displayText"]) == 300
    assert fx.uri_button("ป" * 40, "tel:043000000")["action"]["label"] == "ป" * 20


# -- the guard: every place that makes a Flex message is built above ----------------------------


class _FlexFinder(ast.NodeVisitor):
    """Calls of bot.flex.flex (however imported) and literal {"type": "flex"} dicts, each
    named by its enclosing function as Python names it (co_qualname)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.found: set[tuple[str, str]] = set()
        self.scope: list[tuple[str, str]] = []  # (kind, name)
        self.functions: set[str] = set()  # names bound to bot.flex.flex
        self.modules: set[str] = set()  # names bound to the bot.flex module

    def qualname(self) -> str:
        parts = []
        for index, (kind, name) in enumerate(self.scope):
            parts.append(name)
            if kind == "function" and index < len(self.scope) - 1:
                parts.append("<locals>")
        return ".".join(parts) or "<module>"

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if node.module == "bot.flex" and alias.name == "flex":
                self.functions.add(alias.asname or alias.name)
            if node.module == "bot" and alias.name == "flex":
                self.modules.add(alias.asname or alias.name)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == "bot.flex":
                self.modules.add(alias.asname or "bot.flex")

    def _scoped(self, kind: str, node) -> None:
        self.scope.append((kind, getattr(node, "name", "<lambda>")))
        self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node) -> None:
        self._scoped("function", node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node) -> None:
        self._scoped("function", node)

    def visit_ClassDef(self, node) -> None:
        self._scoped("class", node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in self.functions:
            self.found.add((self.path, self.qualname()))
        elif isinstance(func, ast.Attribute) and func.attr == "flex" \
                and ast.unparse(func.value) in self.modules | {"bot.flex"}:
            self.found.add((self.path, self.qualname()))
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "type" \
                    and isinstance(value, ast.Constant) and value.value == "flex":
                self.found.add((self.path, self.qualname()))
        self.generic_visit(node)


def flex_sites_in(source: str, path: str) -> set[tuple[str, str]]:
    finder = _FlexFinder(path)
    finder.visit(ast.parse(source))
    return finder.found


def flex_sites_in_code() -> set[tuple[str, str]]:
    """Every place in handlers/ and bot/ (bot/flex.py, the helpers themselves, aside) that
    makes a Flex message."""
    found: set[tuple[str, str]] = set()
    for folder in ("handlers", "bot"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative != "bot/flex.py":
                found |= flex_sites_in(path.read_text(encoding="utf-8"), relative)
    return found


def test_the_guard_finds_flex_messages_however_they_are_made():
    source = '''
from bot.flex import flex as make_flex
from bot import flex as fx
import bot.flex

def top():
    return make_flex("alt", {})

class Step:
    def prompt(self):
        return [fx.flex("alt", {})]

def register(engine):
    def show(ctx):
        ctx.reply({"type": "flex", "altText": "alt", "contents": {}})
    engine.on(lambda: bot.flex.flex("alt", {}))

def unrelated(flex):
    return {"type": "text", "text": "flex"}
'''
    assert flex_sites_in(source, "x.py") == {
        ("x.py", "top"), ("x.py", "Step.prompt"), ("x.py", "register.<locals>.show"),
        ("x.py", "register.<locals>.<lambda>")}


def test_every_place_that_makes_a_flex_message_is_sent_at_its_largest_here():
    in_code = flex_sites_in_code()
    assert in_code, "no Flex message found in handlers/ or bot/: is the scan still right?"
    untested = sorted(in_code - set(SITES))
    assert not untested, (
        f"these make Flex messages that no test in {Path(__file__).name} builds at its "
        f"largest and sends through the emulator: {untested}")
    gone = sorted(set(SITES) - in_code)
    assert not gone, f"tests here claim call sites that no longer make Flex messages: {gone}"


def test_the_pages_and_cards_stay_within_what_line_allows():
    assert officer_work.SHOWN <= MAX_CAROUSEL_BUBBLES
    assert my_cases.PER_PAGE <= MAX_CAROUSEL_BUBBLES
    assert fx.NOTICE_TEXT_MAX >= announcements.TEXT_LIMIT  # an announcement is never cut
    assert len(fx.flex("ก" * 2000, fx.carousel([]))["altText"]) == MAX_ALT_TEXT
