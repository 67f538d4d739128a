"""The rich menu on the chat page, as LINE shows it: a registered volunteer taps the menu's
"แจ้งเด็ก" area (by its button, and by its place on the picture) and gets the report's first
question; the chat bar hides and shows the menu; the language tile switches to the English menu
and the bot answers in English.

With SAMOE_SCREENSHOTS set, docs/chat-richmenu.png is refreshed (the menu pictures themselves,
docs/richmenu-<role>.png, come from `flask --app wsgi richmenu images docs`)."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from playwright.sync_api import expect

from bot import richmenu
from bot.extensions import db
from bot.worker import make_client
from models import LineUser, utcnow
from tests.browser.test_chat_page import bot_text, open_chat, screenshot

VOLUNTEER = "U" + "7e" * 16


@pytest.fixture
def menus(app):
    """The rich menus synced to the emulator; their LINE ids by role-language."""
    with app.app_context():
        client = make_client(app)
        try:
            richmenu.sync(client, db.session)
            ids = richmenu.load_state(db.session)["menus"]
            db.session.rollback()
        finally:
            client.close()
            db.session.remove()
    return ids


@pytest.fixture
def volunteer(app, session, emulator, menus):
    """A registered volunteer whose role got them the volunteer menu (queued and sent)."""
    session.add(LineUser(line_user_id=VOLUNTEER, role=None, full_name="สมศรี ใจดี",
                         village="บ้านโนนสะอาด", village_no=5, subdistrict_code="400701",
                         followed=True))
    session.commit()
    user = session.query(LineUser).filter_by(line_user_id=VOLUNTEER).one()
    user.role, user.registered_at = "volunteer", utcnow()
    session.commit()  # a role change: the link is queued for the sender
    emulator.http.post(emulator.base + "/api/users", timeout=10, json={
        "userId": VOLUNTEER, "displayName": "สมศรี (อสม.)"}).raise_for_status()
    return VOLUNTEER


def test_a_volunteer_taps_report_on_the_rich_menu_and_gets_the_first_question(
        page, run_worker, volunteer, menus, tmp_path):
    run_worker()
    open_chat(page, volunteer)
    menu = page.locator("#rich-menu")
    expect(menu).to_have_attribute("data-rich-menu-id", menus["volunteer-th"])
    expect(menu).to_be_visible()
    expect(page.locator("#rich-menu-image")).to_have_js_property("naturalWidth", 2500)
    bar = page.locator("#rich-menu-bar")
    expect(bar).to_contain_text("เมนู")

    bar.click()
    expect(menu).to_be_hidden()
    expect(bar).to_have_attribute("aria-expanded", "false")
    bar.click()
    expect(menu).to_be_visible()

    menu.get_by_role("button", name="แจ้งเด็ก").click()
    expect(page.locator(".row.user .msg-user-text", has_text="แจ้งเด็ก")).to_be_visible()
    expect(bot_text(page, "น้องอยู่กลุ่มไหนคะ")).to_be_visible()
    screenshot(page, tmp_path, "chat-richmenu.png")


def test_tapping_the_report_tile_where_the_picture_draws_it_starts_a_report(
        app, page, run_worker, volunteer, menus):
    """A tap at the middle of the picture's "แจ้งเด็ก" tile (its place in the menu's
    definition, scaled to the picture on a 390-px phone) sends that area's postback: the
    tappable areas lie where the picture shows them."""
    with app.app_context():
        body = richmenu.build("volunteer", "th").body
    area = next(a for a in body["areas"] if parse_qs(a["action"]["data"]) == {
        "a": ["menu"], "v": ["report"]})
    run_worker()
    open_chat(page, volunteer)
    # the link is sent by the worker: until then the page shows the default (guest) menu
    expect(page.locator("#rich-menu")).to_have_attribute("data-rich-menu-id",
                                                         menus["volunteer-th"])
    picture = page.locator("#rich-menu-image")
    expect(picture).to_have_js_property("complete", True)
    box = picture.bounding_box()
    assert box and 380 <= box["width"] <= 390  # the phone's width, less the page's border
    scale = box["width"] / body["size"]["width"]
    bounds = area["bounds"]
    x = box["x"] + (bounds["x"] + bounds["width"] / 2) * scale
    y = box["y"] + (bounds["y"] + bounds["height"] / 2) * scale
    page.mouse.click(x, y)
    expect(page.locator(".row.user .msg-user-text", has_text="แจ้งเด็ก")).to_be_visible()
    expect(bot_text(page, "น้องอยู่กลุ่มไหนคะ")).to_be_visible()


def test_the_language_tile_switches_the_menu_and_the_bots_language(
        page, run_worker, volunteer, menus):
    run_worker()
    open_chat(page, volunteer)
    menu = page.locator("#rich-menu")
    expect(menu).to_have_attribute("data-rich-menu-id", menus["volunteer-th"])
    menu.get_by_role("button", name="English").click()
    expect(menu).to_have_attribute("data-rich-menu-id", menus["volunteer-en"])
    expect(bot_text(page, "Samoe will now speak English with you.")).to_be_visible()
    expect(page.locator("#rich-menu-bar")).to_contain_text("Menu")
    menu.get_by_role("button", name="Report a child").click()
    expect(bot_text(page, "Which group is the child in?")).to_be_visible()


def test_a_user_with_no_menu_linked_sees_the_default_and_none_before_a_sync(
        app, page, run_worker, emulator):
    run_worker()
    guest = "U" + "5a" * 16
    open_chat(page, guest)
    expect(page.locator("#rich-menu")).to_be_hidden()
    expect(page.locator("#rich-menu-bar")).to_be_hidden()
    with app.app_context():
        client = make_client(app)
        richmenu.sync(client, db.session)
        client.close()
        ids = richmenu.load_state(db.session)["menus"]
        db.session.remove()
    page.reload()
    menu = page.locator("#rich-menu")
    expect(menu).to_have_attribute("data-rich-menu-id", ids["guest-th"])
    expect(menu.get_by_role("button", name="ผู้ปกครอง")).to_be_visible()
