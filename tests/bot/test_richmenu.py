"""Rich menus: the definitions and their pictures, `richmenu sync` against the emulator (twice:
the second run changes nothing), and each user linked to their role's and language's menu."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa
from PIL import Image

from bot import richmenu, richmenu_image
from bot.extensions import db
from bot.worker import make_client
from emulator.richmenus import check_richmenu, image_problem
from models import LineUser, OutboxMessage, ServiceState
from services import demo
from tests import factories as f
from tests.support import Chat, flask_command, flask_env

USER = "U" + "c3" * 16


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def client(ctx):
    line = make_client(ctx)
    yield line
    line.close()


def api_json(emulator, path: str) -> dict:
    response = emulator.http.get(emulator.base + path,
                                 headers={"Authorization": "Bearer test-access-token"}, timeout=10)
    return {"status": response.status_code, **response.json()}


def linked(emulator, user_id: str) -> str | None:
    found = api_json(emulator, f"/v2/bot/user/{user_id}/richmenu")
    return found.get("richMenuId") if found["status"] == 200 else None


def state(ctx) -> dict:
    db.session.expire_all()
    value = richmenu.load_state(db.session)
    db.session.rollback()
    return value


# -- definitions and pictures -------------------------------------------------------------------


def test_eight_menus_with_pictures_line_accepts(ctx):
    menus = richmenu.build_all()
    assert sorted(m.key for m in menus) == sorted(
        f"{r}-{lang}" for r in ("guest", "volunteer", "parent", "officer") for lang in ("th", "en"))
    for menu in menus:
        assert check_richmenu(menu.body) == [], menu.key
        size = menu.body["size"]
        assert (size["width"], size["height"]) in ((2500, 1686), (2500, 843))
        assert len(menu.image) < 1024 * 1024
        with Image.open(io.BytesIO(menu.image)) as picture:
            assert (picture.format, picture.size) == ("PNG", (size["width"], size["height"]))
        assert image_problem(menu.image, "image/png", size) is None
        assert len(menu.body["chatBarText"]) <= 14
        covered = sum(a["bounds"]["width"] * a["bounds"]["height"] for a in menu.body["areas"])
        assert covered == size["width"] * size["height"]  # every pixel taps something


def test_thai_menus_speak_thai_and_the_language_tile_switches_to_the_other_menu(ctx):
    volunteer = richmenu.build("volunteer", "th")
    labels = [a["action"]["label"] for a in volunteer.body["areas"]]
    assert labels[:3] == ["แจ้งเด็ก", "เคสของฉัน", "เยี่ยมบ้าน"]
    assert volunteer.body["chatBarText"] == "เมนู"
    switch = next(a["action"] for a in volunteer.body["areas"]
                  if a["action"]["type"] == "richmenuswitch")
    assert switch["richMenuAliasId"] == "samoe-volunteer-en"
    assert parse_qs(switch["data"]) == {"a": ["menu"], "v": ["language"], "arg": ["en"]}
    english = richmenu.build("volunteer", "en")
    assert [a["action"]["label"] for a in english.body["areas"]][0] == "Report a child"
    assert next(a["action"]["label"] for a in english.body["areas"]
                if a["action"]["type"] == "richmenuswitch") == "ภาษาไทย"


def test_every_area_sends_a_postback_the_engine_understands(ctx):
    engine = ctx.extensions["samoe.engine"]
    for menu in richmenu.build_all():
        for area in menu.body["areas"]:
            data = {k: v[0] for k, v in parse_qs(area["action"]["data"]).items()}
            assert data["a"] in engine.postbacks, (menu.key, data)
            if data["a"] == "menu":  # every menu intent has its handler, home_visit included
                assert data["v"] in engine.intents, (menu.key, data)
            assert len(area["action"]["label"]) <= 20


def test_every_tile_reads_on_a_phone_and_nothing_overlaps(ctx):
    """On a 390-px-wide phone the labels are large (Thai 16 px and more), the second lines
    at least 10.5 px; the icon's disc, the label and the second line never overlap and stay
    inside their tile."""
    for menu in richmenu.build_all():
        phone = richmenu_image.PHONE_WIDTH / menu.body["size"]["width"]
        assert len(menu.tiles) == len(menu.body["areas"])
        for tile in menu.tiles:
            layout = richmenu_image.tile_layout(tile)
            where = (menu.key, tile["label"])
            assert layout.label.size * phone >= (16 if menu.language == "th" else 12), where
            parts = [layout.disc, layout.label.box]
            if tile["sublabel"]:
                assert layout.sublabel.size * phone >= 10.5, where
                parts.append(layout.sublabel.box)
            left, top, right, bottom = layout.inner
            for x0, y0, x1, y1 in parts:
                assert left < x0 and x1 < right and top < y0 and y1 < bottom, where
            for above, below in zip(parts, parts[1:], strict=False):
                assert above[3] + 10 <= below[1], where  # a clear gap between them


@pytest.mark.parametrize(("role", "icon"), [("guest", "volunteer"), ("volunteer", "report")])
def test_a_badge_on_an_icon_stays_inside_its_disc(ctx, role, icon):
    """The volunteer's heart and the report's plus sit on the person with a halo of the disc's
    colour: no halo may stick out of the disc (the guest menu's heart used to)."""
    menu = richmenu.build(role, "th")
    tile = next(t for t in menu.tiles if t["icon"] == icon)
    layout = richmenu_image.tile_layout(tile)
    (cx, cy), (x0, y0, x1, y1) = layout.centre, layout.disc
    reach = (x1 - x0) / 2
    with Image.open(io.BytesIO(menu.image)) as picture:
        pixels = picture.convert("RGB")
        disc_colour = pixels.getpixel((cx, y0 + 3))  # the disc's own colour, at its top
        tile_colour = pixels.getpixel((layout.inner[0] + 3, layout.inner[1] + 3))
        assert disc_colour != tile_colour
        outside = [(x, y) for x in range(x0 - 40, x1 + 40, 2) for y in range(y0 - 40, y1 + 40, 2)
                   if math.hypot(x - cx, y - cy) > reach + 3]
        assert outside
        assert [p for p in outside if pixels.getpixel(p) == disc_colour] == []


def test_the_same_definition_draws_the_same_bytes(ctx):
    assert richmenu.build("parent", "th").digest == richmenu.build("parent", "th").digest
    assert richmenu.build("parent", "th").digest != richmenu.build("parent", "en").digest


# -- sync -------------------------------------------------------------------------------------


def test_sync_twice_the_second_run_changes_nothing(ctx, client, emulator):
    first = richmenu.sync(client, db.session)
    assert len(first.created) == 8 and first.default and len(first.aliases) == 8
    menus = api_json(emulator, "/v2/bot/richmenu/list")["richmenus"]
    assert len(menus) == 8
    ids = state(ctx)["menus"]
    assert api_json(emulator, "/v2/bot/user/all/richmenu")["richMenuId"] == ids["guest-th"]
    aliases = api_json(emulator, "/v2/bot/richmenu/alias/list")["aliases"]
    assert {a["richMenuAliasId"]: a["richMenuId"] for a in aliases} == {
        f"samoe-{key}": richmenu_id for key, richmenu_id in ids.items()}
    writes = [r for r in emulator.requests() if r["method"] in ("POST", "DELETE")]

    second = richmenu.sync(client, db.session)
    assert second.changes == 0
    assert [r for r in emulator.requests() if r["method"] in ("POST", "DELETE")] == writes
    assert api_json(emulator, "/v2/bot/richmenu/list")["richmenus"] == menus


def test_a_changed_menu_is_replaced_its_users_moved_and_menus_not_defined_deleted(
        ctx, client, emulator):
    menus = richmenu.build_all()
    older = [dataclasses.replace(m, body={**m.body, "name": m.name + "-old"})
             if m.key == "volunteer-th" else m for m in menus]
    richmenu.sync(client, db.session, older)
    old_id = state(ctx)["menus"]["volunteer-th"]
    client.api.link_rich_menu_id_to_user(USER, old_id)
    extra = client.api.create_rich_menu(
        richmenu.RichMenuRequest.from_dict({**menus[0].body, "name": "samoe/retired-th/x"}))
    foreign = client.api.create_rich_menu(
        richmenu.RichMenuRequest.from_dict({**menus[0].body, "name": "someone else's"}))

    report = richmenu.sync(client, db.session)
    new_id = state(ctx)["menus"]["volunteer-th"]
    assert new_id != old_id and report.created == [new_id]
    assert set(report.deleted) == {old_id, extra.rich_menu_id}
    assert linked(emulator, USER) == new_id
    names = {m["name"] for m in api_json(emulator, "/v2/bot/richmenu/list")["richmenus"]}
    assert names == {m.name for m in menus} | {"someone else's"}
    assert foreign.rich_menu_id in {m["richMenuId"] for m in api_json(
        emulator, "/v2/bot/richmenu/list")["richmenus"]}
    assert richmenu.sync(client, db.session).changes == 0


def test_a_menu_left_without_its_picture_is_made_again(ctx, client, emulator):
    menu = richmenu.build("officer", "th")
    bare = client.api.create_rich_menu(richmenu.RichMenuRequest.from_dict(menu.body))
    report = richmenu.sync(client, db.session)
    assert bare.rich_menu_id in report.deleted
    assert state(ctx)["menus"]["officer-th"] != bare.rich_menu_id


def test_the_sync_command_prints_the_number_of_changes(app, emulator):
    env = flask_env(app)
    outputs = []
    for _run in range(2):
        process = flask_command(["richmenu", "sync"], env)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        outputs.append(out.strip().splitlines()[-1])
    assert outputs == ["17", "0"]  # 8 menus, 8 aliases and the default; then nothing


# -- linking users --------------------------------------------------------------------------------


def link_rows(session) -> list[OutboxMessage]:
    return list(session.scalars(sa.select(OutboxMessage)
                                .where(OutboxMessage.kind == richmenu.LINK_KIND)))


def test_before_any_sync_a_role_change_queues_nothing(ctx, session):
    user = f.line_user(session, role=None)
    user.role = "volunteer"
    session.commit()
    assert link_rows(session) == []


def test_a_role_or_language_change_links_the_matching_menu(ctx, client, emulator, worker,
                                                         session):
    richmenu.sync(client, db.session)
    ids = state(ctx)["menus"]
    user = f.line_user(session, role=None)
    assert link_rows(session) == []  # a new user sees the default menu
    user.role = "volunteer"
    session.commit()
    [row] = link_rows(session)
    assert (row.recipient, row.status) == (user.line_user_id, OutboxMessage.PENDING)
    worker.burst()
    assert linked(emulator, user.line_user_id) == ids["volunteer-th"]
    user.language = "en"
    session.commit()
    worker.burst()
    assert linked(emulator, user.line_user_id) == ids["volunteer-en"]
    user.full_name = "ชื่อใหม่"
    session.commit()
    assert len(link_rows(session)) == 2  # only role and language changes link
    session.expire_all()
    assert {r.status for r in link_rows(session)} == {OutboxMessage.SENT}
    assert {r.via for r in link_rows(session)} == {"richmenu"}


def test_users_created_with_a_role_or_a_language_of_their_own_get_their_menu(
        ctx, client, emulator, worker, session):
    richmenu.sync(client, db.session)
    ids = state(ctx)["menus"]
    volunteer = f.line_user(session, role="volunteer")
    english_guest = f.line_user(session, role=None, language="en")
    guest = f.line_user(session, role=None)
    assert sorted(r.recipient for r in link_rows(session)) == sorted(
        [volunteer.line_user_id, english_guest.line_user_id])  # queued with the new row
    created = demo.seed(db.session)  # the demo users: registered, each with a role
    db.session.commit()
    assert created and len(link_rows(session)) == 2 + created
    worker.burst()
    assert linked(emulator, volunteer.line_user_id) == ids["volunteer-th"]
    assert linked(emulator, english_guest.line_user_id) == ids["guest-en"]
    assert linked(emulator, guest.line_user_id) is None  # the default menu serves them
    for user in session.scalars(sa.select(LineUser).where(LineUser.role.is_not(None))):
        assert linked(emulator, user.line_user_id) == richmenu.menu_id_for(
            {"menus": ids}, user.role, user.language), user.display_name
    session.expire_all()
    assert {r.status for r in link_rows(session)} == {OutboxMessage.SENT}


def test_a_link_row_whose_menus_are_gone_is_skipped_quietly(ctx, client, worker, session):
    richmenu.sync(client, db.session)
    f.line_user(session, role="parent", language="en")  # a new parent: their menu is queued
    session.execute(sa.delete(ServiceState).where(ServiceState.key == richmenu.STATE_KEY))
    session.commit()
    worker.burst()
    session.expire_all()
    [row] = link_rows(session)
    assert (row.status, row.last_error) == (OutboxMessage.SKIPPED, "no rich menus synced")


def test_registering_and_switching_language_in_the_chat_relink(app, ctx, client, emulator,
                                                              worker, session):
    richmenu.sync(client, db.session)
    ids = state(ctx)["menus"]
    chat = Chat(emulator, worker, USER)
    chat.follow()
    assert linked(emulator, USER) is None  # not registered: the default (guest, Thai)
    chat.tap("ผู้ปกครอง")
    assert linked(emulator, USER) == ids["parent-th"]
    # the menu's language tile: LINE switches to the alias's menu and sends the postback
    answer = emulator.events(user=USER, type="postback", postback={
        "data": "a=menu&v=language&arg=en",
        "params": {"newRichMenuAliasId": "samoe-parent-en"}})
    assert answer["events"][0]["postback"]["params"]["status"] == "SUCCESS"
    assert linked(emulator, USER) == ids["parent-en"]
    chat._answer()
    assert "English" in chat.texts()[0]
    assert session.scalar(sa.select(LineUser.language)
                          .where(LineUser.line_user_id == USER)) == "en"
    assert linked(emulator, USER) == ids["parent-en"]
    chat.say("ภาษา")  # typed: back to Thai, and the Thai menu
    assert linked(emulator, USER) == ids["parent-th"]


def test_link_all_links_registered_users_in_bulk(ctx, client, emulator, session):
    volunteer = f.line_user(session, role="volunteer")
    officer = f.line_user(session, role="officer", language="en")
    guest = f.line_user(session, role=None)
    richmenu.sync(client, db.session)
    ids = state(ctx)["menus"]
    assert richmenu.link_all(client, db.session) == 2
    assert linked(emulator, volunteer.line_user_id) == ids["volunteer-th"]
    assert linked(emulator, officer.line_user_id) == ids["officer-en"]
    assert linked(emulator, guest.line_user_id) is None
    assert json.loads(session.get(ServiceState, richmenu.STATE_KEY).value)["menus"] == ids


def test_the_chat_page_reads_the_users_menu_and_its_picture(ctx, client, emulator, session):
    chat = emulator.base + "/chat/richmenu"
    assert emulator.http.get(chat, params={"user": "bad user!"}, timeout=10).status_code == 400
    assert emulator.http.get(chat, params={"user": USER}, timeout=10).json() == {"menu": None}
    richmenu.sync(client, db.session)
    ids = state(ctx)["menus"]
    client.api.link_rich_menu_id_to_user(USER, ids["officer-en"])
    menu = emulator.http.get(chat, params={"user": USER}, timeout=10).json()["menu"]
    assert (menu["richMenuId"], menu["chatBarText"]) == (ids["officer-en"], "Menu")
    picture = emulator.http.get(emulator.base.removesuffix("/emulator") + menu["imageUrl"],
                                timeout=10)
    assert picture.headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(picture.content)) as image:
        assert image.size == (2500, 843)
    other = emulator.http.get(chat, params={"user": "U" + "d4" * 16}, timeout=10).json()["menu"]
    assert other["richMenuId"] == ids["guest-th"]
