"""Every Flex message the bot can send, built at its largest (12 cards, the longest names and
notes, Thai everywhere), passes the emulator's checks of LINE's limits; alt texts are Thai."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from flask_babel import force_locale

from bot import flex as fx
from emulator.limits import (
    MAX_BUBBLE_BYTES,
    MAX_CAROUSEL_BYTES,
    check_send_request,
    compact_size,
)
from handlers.flows import my_cases, officer_work, parent

THAI = re.compile(r"[\u0E00-\u0E7F]")
NOW = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)
LONG_NAME = "ด.ญ.ปรียาภรณ์วรรณวิไลลักษณ์ ศรีสุวรรณวงศ์พิทักษ์ไพศาลกุล" * 3
STAGES = ["received", "verifying", "referred", "in_support", "follow_up", "closed"]


@pytest.fixture
def thai(app):
    with app.test_request_context(), force_locale("th"):
        yield


def assert_accepted(message: dict) -> None:
    """What the emulator (LINE's limits) says about pushing this message: nothing."""
    assert check_send_request("push", {"to": "U" + "0" * 32, "messages": [message]}) == []
    assert 1 <= len(message["altText"]) <= 1500
    assert THAI.search(message["altText"])


def fake_case(n: int) -> SimpleNamespace:
    return SimpleNamespace(id=10_000 + n, child_name=LONG_NAME, reference=f"KK-2569-{n:05d}",
                           stage=STAGES[n % len(STAGES)], created_at=NOW,
                           subdistrict_code="400701", due_at=NOW - dt.timedelta(days=3))


def test_the_case_carousel_of_12_cards_fits(thai):
    cards = [my_cases.case_card(fake_case(n)) for n in range(12)]
    message = fx.flex("เคสของคุณ\n" + "\n".join(c["body"]["contents"][0]["text"]
                                                for c in cards), fx.carousel(cards))
    assert_accepted(message)
    assert compact_size(message["contents"]) < MAX_CAROUSEL_BYTES


def test_the_parents_status_cards_fit(thai):
    views = [SimpleNamespace(
        case_id=n, reference=f"KK-2569-{n:05d}", child_name=LONG_NAME, stage=STAGES[n % 6],
        agency_code="LEARN", agency_name_th="ศูนย์ส่งเสริมการเรียนรู้ระดับอำเภอน้ำพอง" * 2,
        agency_name_en=None, agency_phone="043-000-000", last_update=NOW,
        last_event="service", next_appointment=NOW + dt.timedelta(days=3),
        appointment_place="ที่ว่าการอำเภอน้ำพอง ห้องประชุมชั้น 2" * 3) for n in range(12)]
    alt = "\n\n".join(parent.status_alt(v) for v in views)
    message = fx.flex(alt, fx.carousel([parent.status_bubble(v) for v in views]))
    assert_accepted(message)
    single = fx.flex(parent.status_alt(views[0]), parent.status_bubble(views[0]))
    assert_accepted(single)
    assert single["contents"]["footer"]["contents"][0]["action"]["uri"] == "tel:043000000"


def test_the_officers_case_cards_fit(thai):
    referral = SimpleNamespace(id=77, from_agency_code="LOCAL")
    place = SimpleNamespace(name_th="น้ำพอง", name_en="Nam Phong")
    cards = [officer_work.case_card(fake_case(n), place, referral, NOW) for n in range(12)]
    message = fx.flex("เคสล่าสุด", fx.carousel(cards))
    assert_accepted(message)


def test_the_report_summary_fits_with_every_field_at_its_longest(app, thai):
    from bot.extensions import db
    from handlers.flows.report import SITUATIONS, SummaryStep

    draft = {"group": "out_of_school", "child_name": LONG_NAME, "sex": "female",
             "birth_date": "2012-08-13", "birth_precision": "day",
             "id": {"kind": "citizen", "value": "1234567890121"},
             "guardian": {"name": LONG_NAME, "phone": "0812345678"}, "relation": "grandparent",
             "village": "บ้านโนนสะอาดพัฒนาสามัคคี" * 4, "village_no": 12,
             "subdistrict": "400701", "situations": [c.value for c in SITUATIONS],
             "note": "ก" * 1000, "photo_message_id": "1", "consent": "yes",
             "submission_key": "k" * 32}
    ctx = SimpleNamespace(session=db.session)
    [message] = SummaryStep().prompt(ctx, draft)
    db.session.remove()
    assert_accepted(message)
    assert compact_size(message["contents"]) < MAX_BUBBLE_BYTES
    assert len(message["altText"]) == 1500  # the long draft's alt text is cut to LINE's limit


def test_the_announcement_card_keeps_a_5000_character_text_under_30_kb(thai):
    body = "ขอเชิญผู้ปกครองพาน้องมาลงทะเบียนเรียนที่ศูนย์การเรียนรู้ " * 120
    assert len(body) > 5000
    card = fx.notice("ประกาศจาก สกร.อำเภอน้ำพอง", body, "ส่งเมื่อ 28 พ.ย. 2569",
                     [fx.uri_button("เปิดเอกสาร", "https://www.kkpao.go.th/file.pdf")])
    message = fx.flex("ประกาศจาก สกร.อำเภอน้ำพอง\n" + body, card)
    assert_accepted(message)
    assert compact_size(card) < MAX_BUBBLE_BYTES
    assert card["header"]["backgroundColor"] == fx.GREEN


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
