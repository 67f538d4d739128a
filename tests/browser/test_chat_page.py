"""The emulator's chat page in a real browser: a person picks a user, types Thai, taps quick
replies, picks dates, files and places, opens links, follows and blocks, and sees the bot's
answers (replies, pushes, multicasts) arrive without a reload, each once.

Every step goes through real signed webhook requests to the live app; the assertions look at
the page and at what the app or the bot received. Screenshots go to the test's tmp folder, and
to `$SAMOE_SCREENSHOTS` too when it is set (`SAMOE_SCREENSHOTS=docs python -m pytest
tests/browser -k screenshots` refreshes docs/chat-page*.png).
"""

from __future__ import annotations

import json
import os
import re
import struct
import uuid
import zlib
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from bot.extensions import db
from bot.messages import text
from bot.outbox import queue_multicast, queue_push
from models import InboxEvent, LineUser
from tests.browser.showcase import CARDS, SHOWCASE, Showcase
from tests.support import ROOT, texts, wait_until

THAI = re.compile(r"[\u0E00-\u0E7F]")
CHAT = "/emulator/chat"
STORAGE_KEY = "samoe.emulator.chat.user"
DEMO_USERS = [
    {"userId": "Ud0000000000000000000000000000001", "displayName": "สมศรี ใจดี (อสม.)"},
    {"userId": "Ud0000000000000000000000000000002", "displayName": "ยายบัวผัน (ผู้ปกครอง)"},
    {"userId": "Ud0000000000000000000000000000003", "displayName": "คุณวิชัย (เจ้าหน้าที่ สกร.)"},
]


def new_user_id() -> str:
    return "U" + uuid.uuid4().hex


def open_chat(page: Page, user: str) -> None:
    """Open the chat as `user` and wait until the page has loaded that user's history."""
    page.goto(f"{CHAT}?user={user}")
    expect(page.locator("#log")).to_have_attribute("data-user", user)


def say(page: Page, words: str) -> None:
    box = page.get_by_label("ข้อความ", exact=True)
    box.fill(words)
    box.press("Enter")


def bot_text(page: Page, words: str):
    return page.locator(".row.bot .msg-text", has_text=words)


def quick_reply(page: Page, label: str):
    return page.locator("#quick-replies").get_by_text(label, exact=True)


def screenshot(page: Page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name))
    folder = os.environ.get("SAMOE_SCREENSHOTS")
    if folder:
        target = Path(folder) if Path(folder).is_absolute() else ROOT / folder
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / name))


def tiny_png() -> bytes:
    """An 8×8 orange PNG, made here (no image library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + bytes([230, 120, 30]) * 8 for _ in range(8))
    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def shows_what_was_sent(page: Page, emulator, user: str) -> list[str] | None:
    """The texts sent to the user when the page shows exactly those (else None, to wait)."""
    sent = texts(emulator.sent(user))
    shown = page.locator(".row.bot .msg-text").all_inner_texts()
    return sent if sent and shown == sent else None


def inbox_payloads(session, user: str) -> list[dict]:
    rows = session.scalars(
        sa.select(InboxEvent.payload).where(InboxEvent.user_key == user).order_by(InboxEvent.id)
    ).all()
    return [json.loads(row) for row in rows]


@pytest.fixture
def showcase(base_url, run_worker) -> Showcase:
    """The test-only bot (quick replies of every kind, Flex, templates) on a running worker."""
    bot = Showcase(link=base_url + "/healthz")
    run_worker(bot.dispatcher)
    return bot


# -- with Samoe's own bot -------------------------------------------------------------------------


def test_a_new_user_types_thai_and_sees_the_bots_answer(page, emulator, run_worker, session):
    run_worker()
    page.goto(CHAT)
    expect(page.locator("#status")).to_contain_text("เลือกผู้ใช้")

    page.get_by_label("ผู้ใช้", exact=True).select_option("__new")
    page.get_by_label("ชื่อที่แสดงของผู้ใช้ใหม่").fill("ครูสมหญิง ทดสอบ")
    page.get_by_role("button", name="สร้าง").click()

    expect(page).to_have_url(re.compile(r"\?user=U[0-9a-f]{32}$"))
    user = page.url.rsplit("user=", 1)[1]
    expect(page.locator("#log")).to_have_attribute("data-user", user)
    expect(page.get_by_label("ผู้ใช้", exact=True)).to_have_value(user)
    listed = emulator.http.get(emulator.base + "/api/users", timeout=10).json()["items"]
    registered = {u["userId"]: u for u in listed}
    assert registered[user]["displayName"] == "ครูสมหญิง ทดสอบ"
    assert page.evaluate(f"localStorage.getItem('{STORAGE_KEY}')") == user

    say(page, "ฝนตกหนักที่บ้านค่ะ น้ำท่วมถนน")
    expect(page.locator(".row.user .msg-user-text")).to_have_text(["ฝนตกหนักที่บ้านค่ะ น้ำท่วมถนน"])
    expect(page.get_by_label("ข้อความ", exact=True)).to_have_value("")
    expect(page.locator(".row.bot .msg-text").first).to_be_visible()

    # What the page shows is exactly what Samoe sent, in Thai, through a signed webhook.
    sent = wait_until(lambda: shows_what_was_sent(page, emulator, user))
    assert all(THAI.search(t) for t in sent)
    received = inbox_payloads(session, user)
    assert [e["message"]["text"] for e in received if e["type"] == "message"] == [
        "ฝนตกหนักที่บ้านค่ะ น้ำท่วมถนน"
    ]


def test_a_demo_user_follows_and_sees_the_greeting_then_blocks(
    page, emulator, run_worker, session
):
    for user in DEMO_USERS:  # as `flask --app wsgi seed-demo` registers them
        saved = emulator.http.post(emulator.base + "/api/users", json={**user, "followed": False},
                                   timeout=10)
        saved.raise_for_status()
    run_worker()
    volunteer = DEMO_USERS[0]["userId"]
    page.goto(CHAT)
    picker = page.get_by_label("ผู้ใช้", exact=True)
    for user in DEMO_USERS:
        expect(picker.locator("option", has_text=user["displayName"])).to_have_count(1)
    picker.select_option(label="สมศรี ใจดี (อสม.) (บล็อก)")
    expect(page).to_have_url(re.compile(f"user={volunteer}$"))

    page.get_by_role("button", name="เพิ่มเพื่อน (follow)").click()
    expect(page.locator(".row.note", has_text="เป็นเพื่อนแล้ว")).to_be_visible()
    expect(page.locator(".row.bot .msg-text").first).to_be_visible()
    greeting = wait_until(lambda: shows_what_was_sent(page, emulator, volunteer))
    assert THAI.search(greeting[0])
    expect(page.locator("#follow-state")).to_have_text("เป็นเพื่อนแล้ว")
    is_followed = sa.select(LineUser.followed).where(LineUser.line_user_id == volunteer)
    assert session.scalar(is_followed) is True

    page.get_by_role("button", name="บล็อก (unfollow)").click()
    expect(page.locator(".row.note", has_text="บล็อก เสมอ แล้ว")).to_be_visible()
    expect(page.locator("#follow-state")).to_contain_text("บล็อก")
    wait_until(lambda: session.scalar(is_followed) is False)
    types = [e["type"] for e in inbox_payloads(session, volunteer)]
    assert types == ["follow", "unfollow"]


# -- with the test-only showcase bot -------------------------------------------------------------


def test_screenshots_quick_replies_of_every_kind_and_a_flex_bubble(page, showcase, tmp_path):
    user = new_user_id()
    open_chat(page, user)
    say(page, SHOWCASE)

    bubble = page.locator(".msg-flex .flex-bubble")
    expect(bubble).to_contain_text("น้องสมชาย")
    expect(bubble.locator(".flex-header")).to_have_text("เลขที่เรื่อง KK-2569-00042")
    expect(bubble.locator(".flex-hero .flex-image")).to_have_attribute("role", "img")
    expect(bubble.locator(".flex-baseline")).to_have_count(2)
    expect(bubble.locator(".flex-horizontal")).to_contain_text("2 ธ.ค. 2569")
    expect(bubble.locator(".flex-separator")).to_have_count(1)
    expect(bubble.get_by_role("button", name="ดูรายละเอียด")).to_be_visible()
    expect(bubble.get_by_role("link", name="เปิดหน้าเว็บ")).to_be_visible()
    expect(bot_text(page, "เลือกได้เลยค่ะ")).to_be_visible()

    labels = ["แจ้งเด็ก", "ผู้ปกครอง", "เลือกวันเกิด", "เลือกเวลา", "นัดเยี่ยมบ้าน", "ถ่ายรูป",
              "เลือกรูป", "ส่งตำแหน่ง", "เปิดลิงก์"]
    expect(page.locator("#quick-replies > *")).to_have_text(labels)
    font_ready = "document.fonts.check('16px \"Noto Sans Thai\"', 'ก')"
    assert page.evaluate(font_ready) is True
    screenshot(page, tmp_path, "chat-page.png")

    # A phone 360 px wide: nothing sticks out sideways.
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    # A message quick reply, reached with the keyboard: sends its text as the user's message.
    quick_reply(page, "แจ้งเด็ก").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".row.user .msg-user-text").last).to_have_text("แจ้งเด็ก")
    expect(page.locator("#quick-replies")).to_be_hidden()
    expect(bot_text(page, "ได้รับข้อความ: แจ้งเด็ก")).to_be_visible()

    # A postback quick reply: its displayText is the user's bubble, the bot gets the data.
    say(page, SHOWCASE)
    quick_reply(page, "ผู้ปกครอง").click()
    expect(page.locator(".row.user .msg-user-text").last).to_have_text("ผู้ปกครอง")
    expect(bot_text(page, "postback role=parent")).to_be_visible()
    postback = showcase.of_type("postback")[-1]
    assert postback["postback"] == {"data": "role=parent"}
    assert postback["source"]["userId"] == user

    # A Flex button with a postback action.
    page.locator(".msg-flex").last.get_by_role("button", name="ดูรายละเอียด").click()
    expect(page.locator(".row.user .msg-user-text").last).to_have_text("ดูรายละเอียดเรื่อง")
    expect(bot_text(page, "postback case=42")).to_be_visible()
    assert [m["text"] for m in showcase.messages("text")] == [SHOWCASE, "แจ้งเด็ก", SHOWCASE]


def test_screenshots_carousel_templates_sticker_and_image(page, showcase, tmp_path):
    open_chat(page, new_user_id())
    say(page, CARDS)

    carousel = page.locator(".msg-flex .flex-carousel")
    expect(carousel.locator(".flex-bubble")).to_have_count(2)
    expect(carousel).to_contain_text("ตำบลน้ำพอง")
    expect(carousel).to_contain_text("ตำบลกุดน้ำใส")
    buttons = page.locator(".msg-template").first
    expect(buttons.locator(".template-title")).to_have_text("เมนู")
    expect(buttons.get_by_role("link", name="คู่มือ")).to_have_attribute("target", "_blank")
    confirm = page.locator(".msg-template .confirm")
    expect(confirm).to_contain_text("ส่งเรื่องเลยไหมคะ")
    expect(page.locator(".msg-sticker")).to_contain_text("สติกเกอร์")
    expect(page.locator(".msg-image")).to_contain_text("รูปภาพ")
    page.set_viewport_size({"width": 390, "height": 1280})  # the whole answer in one picture
    expect(page.locator(".row.user .msg-user-text")).to_be_in_viewport()
    screenshot(page, tmp_path, "chat-page-cards.png")

    confirm.get_by_role("button", name="ส่ง", exact=True).click()
    expect(page.locator(".row.user .msg-user-text").last).to_have_text("ส่ง")
    expect(bot_text(page, "postback confirm=yes")).to_be_visible()

    carousel.get_by_role("button", name="ดูเคส").first.click()
    expect(bot_text(page, "ได้รับข้อความ: เคสน้ำพอง")).to_be_visible()
    buttons.get_by_role("button", name="เคสของฉัน").click()
    expect(bot_text(page, "ได้รับข้อความ: เคสของฉัน")).to_be_visible()


def test_datetimepicker_quick_replies_send_the_date_time_and_datetime(page, showcase):
    open_chat(page, new_user_id())

    say(page, SHOWCASE)
    quick_reply(page, "เลือกวันเกิด").click()
    picked = page.get_by_label("เลือกวันเกิด")
    expect(picked).to_have_attribute("type", "date")
    expect(picked).to_have_value("2020-01-01")
    expect(picked).to_have_attribute("min", "2000-01-01")
    picked.fill("2019-08-13")
    page.locator("#picker").get_by_role("button", name="ส่ง", exact=True).click()
    expect(page.locator(".row.note", has_text="2019-08-13")).to_be_visible()
    expect(bot_text(page, "postback ask=birth date=2019-08-13")).to_be_visible()
    expect(page.locator("#picker")).to_be_hidden()

    say(page, SHOWCASE)
    quick_reply(page, "เลือกเวลา").click()
    expect(page.get_by_label("เลือกเวลา")).to_have_attribute("type", "time")
    page.get_by_label("เลือกเวลา").fill("08:30")
    page.get_by_label("เลือกเวลา").press("Enter")
    expect(bot_text(page, "postback ask=time time=08:30")).to_be_visible()

    say(page, SHOWCASE)
    quick_reply(page, "นัดเยี่ยมบ้าน").click()
    expect(page.get_by_label("นัดเยี่ยมบ้าน")).to_have_attribute("type", "datetime-local")
    page.get_by_label("นัดเยี่ยมบ้าน").fill("2026-12-02T10:15")
    page.locator("#picker").get_by_role("button", name="ส่ง", exact=True).click()
    expect(bot_text(page, "postback ask=visit datetime=2026-12-02T10:15")).to_be_visible()

    assert [e["postback"] for e in showcase.of_type("postback")] == [
        {"data": "ask=birth", "params": {"date": "2019-08-13"}},
        {"data": "ask=time", "params": {"time": "08:30"}},
        {"data": "ask=visit", "params": {"datetime": "2026-12-02T10:15"}},
    ]


def test_camera_camera_roll_and_location_send_messages(app, page, showcase, base_url):
    user = new_user_id()
    open_chat(page, user)
    image = tiny_png()

    say(page, SHOWCASE)
    with page.expect_file_chooser() as chooser:
        quick_reply(page, "ถ่ายรูป").click()
    assert page.locator("#file-input").get_attribute("capture") == "environment"
    chooser.value.set_files({"name": "visit.png", "mimeType": "image/png", "buffer": image})
    expect(page.locator(".row.user img.thumb")).to_have_count(1)
    expect(bot_text(page, "ได้รับรูปภาพแล้วค่ะ")).to_have_count(1)

    say(page, SHOWCASE)
    with page.expect_file_chooser() as chooser:
        quick_reply(page, "เลือกรูป").click()
    assert page.locator("#file-input").get_attribute("capture") is None
    chooser.value.set_files({"name": "house.png", "mimeType": "image/png", "buffer": image})
    expect(bot_text(page, "ได้รับรูปภาพแล้วค่ะ")).to_have_count(2)
    expect(page.locator(".row.user img.thumb").last).to_have_js_property("complete", True)
    assert page.locator(".row.user img.thumb").last.evaluate("img => img.naturalWidth") == 8

    images = showcase.messages("image")
    assert len(images) == 2 and all(m["contentProvider"] == {"type": "line"} for m in images)
    token = app.config["LINE_CHANNEL_ACCESS_TOKEN"]
    for message in images:  # the bot can fetch what the person picked, as from LINE
        content = requests.get(f"{base_url}/emulator/v2/bot/message/{message['id']}/content",
                               headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert content.status_code == 200
        assert content.headers["Content-Type"] == "image/png"
        assert content.content == image

    say(page, SHOWCASE)
    quick_reply(page, "ส่งตำแหน่ง").click()
    page.get_by_label("ที่อยู่").fill("บ้านโนนสะอาด อ.น้ำพอง")
    page.get_by_label("ละติจูด").fill("16.7056")
    page.get_by_label("ลองจิจูด").fill("102.8519")
    page.locator("#location").get_by_role("button", name="ส่งตำแหน่ง").click()
    expect(page.locator(".row.user .location-card")).to_contain_text("บ้านโนนสะอาด อ.น้ำพอง")
    expect(bot_text(page, "ได้รับตำแหน่งแล้วค่ะ 16.7056, 102.8519")).to_be_visible()
    location = showcase.messages("location")[-1]
    assert location["address"] == "บ้านโนนสะอาด อ.น้ำพอง"
    assert (location["latitude"], location["longitude"]) == (16.7056, 102.8519)


def test_uri_actions_open_a_new_tab(page, context, showcase, base_url):
    open_chat(page, new_user_id())
    say(page, SHOWCASE)
    with context.expect_page() as opened:
        quick_reply(page, "เปิดลิงก์").click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == base_url + "/healthz"
    tab.close()
    with context.expect_page() as opened:
        page.locator(".msg-flex").get_by_role("link", name="เปิดหน้าเว็บ").click()
    opened.value.wait_for_load_state()
    assert opened.value.url == base_url + "/healthz"
    # Opening a link sends nothing to the bot.
    assert [e["type"] for e in showcase.received] == ["message"]


def test_pushes_and_multicasts_arrive_without_a_reload_each_once(app, page, showcase):
    user = new_user_id()
    open_chat(page, user)
    page.get_by_role("button", name="เพิ่มเพื่อน (follow)").click()
    expect(bot_text(page, "สวัสดีค่ะ (showcase)")).to_be_visible()
    page.evaluate("window.notReloaded = true")

    with app.app_context():
        queue_push(db.session, user, [text("มีเรื่องใหม่ในตำบลของคุณค่ะ")])
        db.session.commit()
    expect(bot_text(page, "มีเรื่องใหม่ในตำบลของคุณค่ะ")).to_have_count(1)

    with app.app_context():
        queue_multicast(db.session, [user, new_user_id()], [text("ประกาศ: ประชุม อสม. พรุ่งนี้ค่ะ")])
        db.session.commit()
    expect(bot_text(page, "ประกาศ: ประชุม อสม. พรุ่งนี้ค่ะ")).to_have_count(1)

    with app.app_context():
        queue_push(db.session, user, [text("ข้อความที่สาม 🙂")])
        db.session.commit()
    expect(bot_text(page, "ข้อความที่สาม")).to_have_count(1)
    # The later ones came in order after the earlier ones, which still show once.
    expect(page.locator(".row.bot")).to_have_count(4)
    endpoints = page.locator(".row.bot").evaluate_all("rows => rows.map(r => r.dataset.endpoint)")
    assert endpoints == ["reply", "push", "multicast", "push"]
    assert page.evaluate("window.notReloaded") is True


def test_a_reload_shows_the_conversation_once_and_the_user_is_remembered(page, showcase):
    user = new_user_id()
    open_chat(page, user)
    say(page, "สวัสดีค่ะ")
    expect(bot_text(page, "ได้รับข้อความ: สวัสดีค่ะ")).to_be_visible()
    say(page, SHOWCASE)
    quick_reply(page, "ผู้ปกครอง").click()
    expect(bot_text(page, "postback role=parent")).to_be_visible()

    page.reload()
    expect(page.locator("#log")).to_have_attribute("data-user", user)
    expect(page.locator(".row.user .msg-user-text")).to_have_text(
        ["สวัสดีค่ะ", SHOWCASE, "ผู้ปกครอง"]
    )
    expect(page.locator(".row.bot .msg-text")).to_have_text(
        ["ได้รับข้อความ: สวัสดีค่ะ", "เลือกได้เลยค่ะ กดปุ่มด้านล่างนะคะ", "postback role=parent"]
    )
    expect(page.locator(".msg-flex")).to_have_count(1)
    expect(page.locator("#quick-replies")).to_be_hidden()  # its message is no longer the last

    page.goto(CHAT)  # no user in the address: the last one chosen
    expect(page).to_have_url(re.compile(f"\\?user={user}$"))
    expect(page.locator("#log")).to_have_attribute("data-user", user)
    expect(page.locator(".row.bot .msg-text")).to_have_count(3)


def test_content_the_sdk_would_refuse_still_renders_safely(app, page):
    """Newer or odd content, put straight into the emulator's record of what was sent: unknown
    components and message types show their alternative text, a javascript: link is never a
    link, colours that are not LINE hex colours are ignored (nothing is fetched)."""
    user = new_user_id()
    open_chat(page, user)
    store = app.extensions["samoe.emulator"].extensions["line_emulator"].store
    with_emoji = "บรรทัดแรก\nบรรทัดสอง $"
    odd = [
        {"type": "text", "text": with_emoji, "emojis": [
            {"index": with_emoji.index("$"), "productId": "5ac1bfd5040ab15980c9b435",
             "emojiId": "001"}]},
        {"type": "flex", "altText": "ข้อความสำรองของการ์ด", "contents": {
            "type": "bubble",
            "body": {"type": "box", "layout": "vertical",
                     "backgroundColor": "red; background-image: url(https://evil.example/x.png)",
                     "contents": [
                         {"type": "hologram", "text": "?"},
                         {"type": "button", "action": {"type": "uri", "label": "อันตราย",
                                                       "uri": "javascript:alert(1)"}},
                     ]},
        }},
        {"type": "futureType", "altText": "ข้อความแบบใหม่"},
    ]
    store.send("push", [user], odd, None, None, "test-request-id")

    first = page.locator(".row.bot .msg-text")
    expect(first).to_have_text("บรรทัดแรก บรรทัดสอง ☺")
    assert first.inner_text() == "บรรทัดแรก\nบรรทัดสอง ☺"
    expect(page.locator(".flex-unknown")).to_have_text("ข้อความสำรองของการ์ด")
    danger = page.locator(".msg-flex").get_by_role("button", name="อันตราย")
    expect(danger).to_be_disabled()
    expect(page.locator(".msg-flex a")).to_have_count(0)
    box_style = page.locator(".msg-flex .flex-box").first.get_attribute("style") or ""
    assert "evil" not in box_style
    expect(page.locator(".msg-unknown")).to_have_text("[ข้อความแบบใหม่]")


# -- switching users, scrolling, failed sends ----------------------------------------------------


def push_texts(app, user: str, words: list[str]) -> None:
    """Push text messages to `user` through the emulator's LINE API, as the bot would."""
    api = app.config["TEST_BASE_URL"] + "/emulator/v2/bot/message/push"
    auth = {"Authorization": f"Bearer {app.config['LINE_CHANNEL_ACCESS_TOKEN']}"}
    for word in words:
        body = {"to": user, "messages": [{"type": "text", "text": word}]}
        requests.post(api, json=body, headers=auth, timeout=10).raise_for_status()


class HeldHistory:
    """Holds the page's history requests until released: a slow server, without blocking
    Playwright (its polls and other requests go on meanwhile)."""

    def __init__(self, page: Page):
        self.page = page
        self.held = []
        page.route("**/emulator/chat/history?*", lambda route: self.held.append(route))

    def release(self, after_ms: int) -> None:
        self.page.wait_for_timeout(after_ms)  # the page keeps running (and polling) meanwhile
        while self.held:
            self.held.pop(0).continue_()


def test_switching_users_while_the_history_is_slow_shows_each_message_once(app, page):
    first, second = new_user_id(), new_user_id()
    for user, name in ((first, "คนแรก"), (second, "คนที่สอง")):
        requests.post(app.config["TEST_BASE_URL"] + "/emulator/api/users", timeout=10,
                      json={"userId": user, "displayName": name}).raise_for_status()
    push_texts(app, first, ["ข้อความที่ 1 ของคนแรก", "ข้อความที่ 2 ของคนแรก",
                            "ข้อความที่ 3 ของคนแรก"])
    push_texts(app, second, ["ข้อความที่ 1 ของคนที่สอง", "ข้อความที่ 2 ของคนที่สอง",
                             "ข้อความที่ 3 ของคนที่สอง"])
    open_chat(page, first)
    rows = page.locator(".row.bot")
    expect(rows).to_have_count(3)
    slow = HeldHistory(page)
    picker = page.get_by_label("ผู้ใช้", exact=True)

    # To the second user: the first user's poll keeps its timer while the history is slow.
    picker.select_option(second)
    page.wait_for_timeout(100)
    expect(rows).to_have_count(0)  # nothing of the first user, nothing polled early
    slow.release(after_ms=1500)
    expect(page.locator("#log")).to_have_attribute("data-user", second)
    expect(rows.locator(".msg-text")).to_have_text(
        ["ข้อความที่ 1 ของคนที่สอง", "ข้อความที่ 2 ของคนที่สอง", "ข้อความที่ 3 ของคนที่สอง"])

    # Back and forth before either history answers: only the last choice is shown, once.
    picker.select_option(first)
    page.wait_for_timeout(300)
    picker.select_option(second)
    page.wait_for_timeout(300)
    picker.select_option(first)
    slow.release(after_ms=1500)
    expect(page.locator("#log")).to_have_attribute("data-user", first)
    expect(rows.locator(".msg-text")).to_have_text(
        ["ข้อความที่ 1 ของคนแรก", "ข้อความที่ 2 ของคนแรก", "ข้อความที่ 3 ของคนแรก"])
    page.wait_for_timeout(1500)  # a few more polls change nothing
    expect(rows).to_have_count(3)
    seqs = rows.evaluate_all("rows => rows.map(r => r.dataset.seq)")
    assert len(set(seqs)) == 3

    # A push that comes later still arrives, once.
    push_texts(app, first, ["ข้อความที่ 4 ของคนแรก"])
    expect(bot_text(page, "ข้อความที่ 4 ของคนแรก")).to_have_count(1)
    expect(rows).to_have_count(4)


def last_row_in_view(page: Page) -> None:
    """Wait until the log's last message (its bubble, and the row's end with the time) is
    wholly inside the log's visible box, not under the quick replies or the rich menu."""
    page.wait_for_function("""() => {
        const log = document.getElementById("log");
        const row = log.lastElementChild;
        const bubbles = row ? row.querySelectorAll(".stack > :not(.time), .row.note > p") : [];
        if (!bubbles.length) return false;
        const box = log.getBoundingClientRect();
        const last = bubbles[bubbles.length - 1].getBoundingClientRect();
        return last.top >= box.top - 1 && row.getBoundingClientRect().bottom <= box.bottom + 1;
    }""")


@pytest.fixture
def parent_menu(app) -> str:
    """The rich menus synced to the emulator; the parents' Thai menu's id."""
    from bot import richmenu
    from bot.worker import make_client

    with app.app_context():
        client = make_client(app)
        try:
            richmenu.sync(client, db.session)
            menu = richmenu.load_state(db.session)["menus"]["parent-th"]
            db.session.rollback()
        finally:
            client.close()
            db.session.remove()
    return menu


def test_on_a_small_phone_the_last_message_stays_in_view_and_typing_folds_the_menu(
        app, page, showcase, parent_menu):
    user = new_user_id()
    api = app.config["TEST_BASE_URL"] + "/emulator/v2/bot/user"
    auth = {"Authorization": f"Bearer {app.config['LINE_CHANNEL_ACCESS_TOKEN']}"}
    requests.post(f"{api}/{user}/richmenu/{parent_menu}", headers=auth,
                  timeout=10).raise_for_status()
    page.set_viewport_size({"width": 360, "height": 640})
    push_texts(app, user, [f"ข้อความเก่าที่ {n} ค่ะ" for n in range(1, 9)])
    open_chat(page, user)
    menu, bar = page.locator("#rich-menu"), page.locator("#rich-menu-bar")
    expect(menu).to_have_attribute("data-rich-menu-id", parent_menu)
    expect(menu).to_be_visible()  # the parent's menu, open as LINE first shows it
    expect(page.locator("#rich-menu-image")).to_have_js_property("complete", True)
    last_row_in_view(page)

    # As in LINE, the keyboard and the menu take turns: the text box folds the menu away.
    page.get_by_label("ข้อความ", exact=True).click()
    expect(menu).to_be_hidden()
    expect(bar).to_have_attribute("aria-expanded", "false")

    # An answer with quick replies: its last bubble is above the quick-reply bar.
    say(page, SHOWCASE)
    expect(page.locator("#quick-replies")).to_be_visible()
    expect(bot_text(page, "เลือกได้เลยค่ะ")).to_have_count(1)
    last_row_in_view(page)

    # The menu opened again: it takes most of the screen, the last bubble is still in view.
    bar.click()
    expect(menu).to_be_visible()
    last_row_in_view(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_a_failed_send_keeps_the_text_offers_to_send_again_and_shows_after_a_reload(
        page, showcase, session):
    user = new_user_id()
    open_chat(page, user)
    say(page, SHOWCASE)
    expect(quick_reply(page, "แจ้งเด็ก")).to_be_visible()
    labels = page.locator("#quick-replies > *").all_inner_texts()

    def unsigned(route):
        """The next event is delivered with a signature Samoe refuses (a real failed
        delivery: the webhook answers 400)."""
        body = json.loads(route.request.post_data)
        route.fulfill(response=route.fetch(post_data=json.dumps({**body, "signature": "bad"})))

    page.route("**/emulator/api/events", unsigned, times=1)
    say(page, "ขอข้อมูลทุนเสมอภาคค่ะ")
    row = page.locator(".row.user", has_text="ขอข้อมูลทุนเสมอภาคค่ะ")
    expect(row.locator(".failed")).to_contain_text("ส่งไม่สำเร็จ (webhook 400)")
    expect(page.locator("#status")).to_contain_text("ส่งไม่สำเร็จ")
    expect(page.locator("#quick-replies > *")).to_have_text(labels)  # the choices came back
    assert [m["text"] for m in showcase.messages("text")] == [SHOWCASE]

    page.reload()  # the emulator knows the delivery failed: so does the page, in any browser
    expect(page.locator("#log")).to_have_attribute("data-user", user)
    row = page.locator(".row.user", has_text="ขอข้อมูลทุนเสมอภาคค่ะ")
    expect(row.locator(".failed")).to_contain_text("ส่งไม่สำเร็จ (webhook 400)")
    expect(page.locator("#quick-replies > *")).to_have_text(labels)

    row.get_by_role("button", name="ส่งอีกครั้ง").click()
    expect(bot_text(page, "ได้รับข้อความ: ขอข้อมูลทุนเสมอภาคค่ะ")).to_have_count(1)
    expect(row.locator(".failed")).to_have_count(0)
    expect(page.locator("#quick-replies")).to_be_hidden()
    texts_received = [e for e in showcase.of_type("message")
                      if e["message"].get("text") == "ขอข้อมูลทุนเสมอภาคค่ะ"]
    assert len(texts_received) == 1  # LINE's redelivery: the same event, once
    assert texts_received[0]["deliveryContext"]["isRedelivery"] is True

    page.reload()
    expect(page.locator("#log")).to_have_attribute("data-user", user)
    expect(page.locator(".row .failed")).to_have_count(0)
    expect(page.locator(".row.user .msg-user-text")).to_have_text(
        [SHOWCASE, "ขอข้อมูลทุนเสมอภาคค่ะ"])


def test_a_postbacks_display_text_shows_in_another_browser(page, showcase, browser, base_url):
    user = new_user_id()
    open_chat(page, user)
    say(page, SHOWCASE)
    quick_reply(page, "ผู้ปกครอง").click()
    expect(bot_text(page, "postback role=parent")).to_be_visible()

    other = browser.new_context(viewport={"width": 390, "height": 800}, base_url=base_url)
    try:
        elsewhere = other.new_page()
        open_chat(elsewhere, user)
        expect(elsewhere.locator(".row.user .msg-user-text")).to_have_text(
            [SHOWCASE, "ผู้ปกครอง"])
        expect(elsewhere.locator(".row.note.postback")).to_have_count(0)
    finally:
        other.close()


def test_emoji_typed_by_the_user_arrive_whole_and_an_empty_box_sends_nothing(
        page, showcase, base_url):
    user = new_user_id()
    open_chat(page, user)
    box = page.get_by_label("ข้อความ", exact=True)
    send = page.locator("#send")
    expect(send).to_be_disabled()
    box.press("Enter")
    box.fill("   \n  ")
    box.press("Enter")
    expect(send).to_be_disabled()
    page.wait_for_timeout(300)
    expect(page.locator(".row.user")).to_have_count(0)
    history = requests.get(base_url + "/emulator/chat/history", params={"user": user},
                           timeout=10).json()
    assert history["items"] == []  # nothing reached the emulator, nor the bot

    words = "ขอบคุณค่ะ 🙏🏽 ครอบครัว 👨‍👩‍👧 ดีใจ 😀"
    box.fill("")
    box.press_sequentially(words)
    expect(send).to_be_enabled()
    box.press("Enter")
    expect(page.locator(".row.user .msg-user-text")).to_have_text([words])
    expect(bot_text(page, f"ได้รับข้อความ: {words}")).to_have_count(1)
    assert [m["text"] for m in showcase.messages("text")] == [words]


def test_text_over_lines_limit_is_cut_and_the_page_says_so(page, emulator, session):
    user = new_user_id()
    open_chat(page, user)
    box = page.get_by_label("ข้อความ", exact=True)
    long_text = "ก" * 4_990 + "😀" * 20  # 5,010 characters; the emoji are two UTF-16 units
    box.fill(long_text)
    expect(page.locator("#status")).to_have_text(
        "LINE รับข้อความได้ไม่เกิน 5,000 ตัวอักษร จึงตัดส่วนที่เกินออกแล้วค่ะ")
    kept = box.evaluate("el => Array.from(el.value).length")
    assert kept == 5_000
    box.press("Enter")
    expect(page.locator(".row.user .msg-user-text")).to_have_count(1)
    sent = wait_until(lambda: inbox_payloads(session, user))
    assert sent[0]["message"]["text"] == long_text[:5_000]  # Python counts code points too
