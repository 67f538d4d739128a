"""The rich menu API through the real SDK: create, image on the data host, aliases, default,
per-user and bulk links, batch, and LINE's 400s for what LINE refuses."""

from __future__ import annotations

import io
import json

import pytest
from linebot.v3.messaging import (
    ApiException,
    CreateRichMenuAliasRequest,
    RichMenuBatchLinkOperation,
    RichMenuBatchRequest,
    RichMenuBulkLinkRequest,
    RichMenuRequest,
    UpdateRichMenuAliasRequest,
)
from PIL import Image

from emulator import richmenus
from tests.emulator.helpers import BACKENDS, OTHER, USER


def menu(width=2500, height=843, areas=None, **extra) -> dict:
    """A rich menu object with one postback area per half."""
    if areas is None:
        half = width // 2
        areas = [
            {"bounds": {"x": 0, "y": 0, "width": half, "height": height},
             "action": {"type": "postback", "label": "แจ้งเด็ก", "data": "a=menu&v=report",
                        "displayText": "แจ้งเด็ก"}},
            {"bounds": {"x": half, "y": 0, "width": width - half, "height": height},
             "action": {"type": "richmenuswitch", "richMenuAliasId": "tab-b",
                        "data": "a=tab&v=b"}},
        ]
    return {"size": {"width": width, "height": height}, "selected": True, "name": "test menu",
            "chatBarText": "เมนู", "areas": areas, **extra}


def image(width=2500, height=843, fmt="PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "#06C755").save(out, fmt)
    return out.getvalue()


def create(line_api, line_blob, body=None, content=None, content_type="image/png") -> str:
    richmenu_id = line_api.create_rich_menu(RichMenuRequest.from_dict(body or menu())).rich_menu_id
    line_blob.set_rich_menu_image(richmenu_id, content or image(),
                                  _headers={"Content-Type": content_type})
    return richmenu_id


def error_of(call) -> tuple[int, dict]:
    with pytest.raises(ApiException) as info:
        call()
    return info.value.status, json.loads(info.value.body)


@pytest.mark.parametrize("emu_database", BACKENDS, indirect=True)
def test_a_menu_is_created_listed_read_with_its_image_and_deleted(line_api, line_blob):
    richmenu_id = create(line_api, line_blob)
    assert richmenu_id.startswith("richmenu-")
    got = line_api.get_rich_menu(richmenu_id)
    assert (got.size.width, got.size.height, got.chat_bar_text) == (2500, 843, "เมนู")
    assert got.areas[1].action.rich_menu_alias_id == "tab-b"
    assert [m.rich_menu_id for m in line_api.get_rich_menu_list().richmenus] == [richmenu_id]
    assert bytes(line_blob.get_rich_menu_image(richmenu_id)) == image()
    line_api.delete_rich_menu(richmenu_id)
    assert line_api.get_rich_menu_list().richmenus == []
    assert error_of(lambda: line_api.get_rich_menu(richmenu_id))[0] == 404


def test_jpeg_of_the_full_size_is_accepted(line_api, line_blob):
    richmenu_id = create(line_api, line_blob, menu(2500, 1686), image(2500, 1686, "JPEG"),
                         "image/jpeg")
    assert len(bytes(line_blob.get_rich_menu_image(richmenu_id))) > 0


@pytest.mark.parametrize(("body", "prop"), [
    (menu(width=2600), "size.width"),
    (menu(width=799, height=250, areas=[]), "size.width"),
    (menu(height=249), "size.height"),
    (menu(width=2500, height=2000), "size"),
    (menu(chatBarText="ข้อความยาวเกินสิบสี่ตัว"), "chatBarText"),
    (menu(name=""), "name"),
    (menu(areas=[{"bounds": {"x": 0, "y": 0, "width": 10, "height": 10},
                  "action": {"type": "postback", "data": "a=x"}}] * 21), "areas"),
    (menu(areas=[{"bounds": {"x": 2000, "y": 0, "width": 600, "height": 843},
                  "action": {"type": "postback", "data": "a=x"}}]), "areas[0].bounds"),
    (menu(areas=[{"bounds": {"x": 0, "y": 0, "width": 100, "height": 100},
                  "action": {"type": "postback", "data": "a=x", "label": "ป" * 21}}]),
     "areas[0].action.label"),
    (menu(areas=[{"bounds": {"x": 0, "y": 0, "width": 100, "height": 100},
                  "action": {"type": "postback", "data": "x" * 301}}]), "areas[0].action.data"),
    (menu(areas=[{"bounds": {"x": 0, "y": 0, "width": 100, "height": 100},
                  "action": {"type": "richmenuswitch", "data": "a=x"}}]),
     "areas[0].action.richMenuAliasId"),
])
def test_menus_line_refuses_get_its_400_with_the_property(emulator, body, prop):
    for path in ("/v2/bot/richmenu", "/v2/bot/richmenu/validate"):
        response = emulator.api("POST", path, body)
        assert response.status_code == 400
        assert response.json()["message"].startswith("The request body has")
        assert prop in [d["property"] for d in response.json()["details"]]
    assert emulator.api("GET", "/v2/bot/richmenu/list").json() == {"richmenus": []}

def one_area(action: dict) -> dict:
    """A menu whose one area does ``action``."""
    return menu(areas=[{"bounds": {"x": 0, "y": 0, "width": 2500, "height": 843},
                        "action": action}])


@pytest.mark.parametrize(("action", "prop", "words"), [
    ({"type": "postback", "label": "แจ้งเด็ก"}, "areas[0].action.data", "must be specified"),
    ({"type": "postback", "data": ""}, "areas[0].action.data", "must be specified"),
    ({"type": "message", "label": "เมนู"}, "areas[0].action.text", "must be specified"),
    ({"type": "uri", "label": "เว็บ"}, "areas[0].action.uri", "must be specified"),
    ({"type": "uri", "uri": "https://example.com/" + "a" * 981}, "areas[0].action.uri",
     "between 1 and 1000"),
    ({"type": "uri", "uri": "javascript:alert(1)"}, "areas[0].action.uri", "invalid uri scheme"),
    ({"type": "uri", "uri": "https://example.com/",
      "altUri": {"desktop": "ftp://example.com/"}}, "areas[0].action.altUri.desktop",
     "invalid uri scheme"),
    ({"type": "datetimepicker", "data": "a=date"}, "areas[0].action.mode", "date, time"),
    ({"type": "datetimepicker", "data": "a=date", "mode": "week"}, "areas[0].action.mode",
     "date, time"),
    ({"type": "datetimepicker", "mode": "date"}, "areas[0].action.data", "must be specified"),
    ({"type": "richmenuswitch", "richMenuAliasId": "a" * 33, "data": "a=tab"},
     "areas[0].action.richMenuAliasId", "between 1 and 32"),
    ({"type": "richmenuswitch", "richMenuAliasId": "tab-b"}, "areas[0].action.data",
     "must be specified"),
    ({"type": "clipboard", "clipboardText": "ก" * 1001}, "areas[0].action.clipboardText",
     "between 1 and 1000"),
])
def test_an_action_missing_what_its_type_needs_is_refused_naming_it(emulator, action, prop,
                                                                    words):
    for path in ("/v2/bot/richmenu", "/v2/bot/richmenu/validate"):
        response = emulator.api("POST", path, one_area(action))
        assert response.status_code == 400, response.json()
        body = response.json()
        assert body["message"] == "The request body has 1 error(s)"
        [detail] = body["details"]
        assert detail["property"] == prop
        assert words in detail["message"]
    assert emulator.api("GET", "/v2/bot/richmenu/list").json() == {"richmenus": []}


@pytest.mark.parametrize("action", [
    {"type": "uri", "label": "เว็บ", "uri": "https://example.com/" + "a" * 980},
    {"type": "uri", "uri": "tel:043000000"},
    {"type": "uri", "uri": "line://nv/location"},
    {"type": "message", "label": "เมนู", "text": "เมนู"},
    {"type": "datetimepicker", "data": "a=date", "mode": "date", "initial": "2026-11-28"},
    {"type": "richmenuswitch", "richMenuAliasId": "a" * 32, "data": "a=tab"},
    {"type": "postback", "data": "a=menu&v=report", "displayText": "แจ้งเด็ก"},
])
def test_actions_carrying_what_they_need_are_accepted(line_api, action):
    line_api.validate_rich_menu_object(RichMenuRequest.from_dict(one_area(action)))
    assert line_api.create_rich_menu(RichMenuRequest.from_dict(one_area(action))).rich_menu_id


def test_validate_accepts_a_good_menu_and_creates_nothing(emulator, line_api):
    line_api.validate_rich_menu_object(RichMenuRequest.from_dict(menu()))
    assert line_api.get_rich_menu_list().richmenus == []


@pytest.mark.parametrize(("content", "content_type", "words"), [
    (image(2500, 1686), "image/png", "must match the rich menu size"),
    (image(), "image/gif", "content type"),
    (image(fmt="JPEG"), "image/png", "does not match its content type"),
    (b"not an image", "image/png", "could not be read"),
    (b"\x89PNG" + b"0" * (1024 * 1024), "image/png", "1048576 bytes or less"),
])
def test_images_line_refuses_get_a_400(emulator, line_api, content, content_type, words):
    richmenu_id = line_api.create_rich_menu(RichMenuRequest.from_dict(menu())).rich_menu_id
    response = emulator.api("POST", f"/v2/bot/richmenu/{richmenu_id}/content",
                            headers={"Content-Type": content_type}, data=content)
    assert response.status_code == 400
    assert words in response.json()["message"]
    assert emulator.api("GET", f"/v2/bot/richmenu/{richmenu_id}/content").status_code == 404


def test_an_image_is_uploaded_once_and_only_to_a_known_menu(emulator, line_api, line_blob):
    richmenu_id = create(line_api, line_blob)
    status, body = error_of(lambda: line_blob.set_rich_menu_image(
        richmenu_id, image(), _headers={"Content-Type": "image/png"}))
    assert (status, body["message"]) == (400, richmenus.MSG_IMAGE_EXISTS)
    status, _ = error_of(lambda: line_blob.set_rich_menu_image(
        "richmenu-" + "0" * 32, image(), _headers={"Content-Type": "image/png"}))
    assert status == 404


@pytest.mark.parametrize("emu_database", BACKENDS, indirect=True)
def test_default_and_user_links(emulator, line_api, line_blob):
    first = create(line_api, line_blob)
    second = create(line_api, line_blob)
    assert error_of(lambda: line_api.get_default_rich_menu_id())[0] == 404
    line_api.set_default_rich_menu(first)
    assert line_api.get_default_rich_menu_id().rich_menu_id == first
    assert error_of(lambda: line_api.get_rich_menu_id_of_user(USER))[0] == 404
    line_api.link_rich_menu_id_to_user(USER, second)
    assert line_api.get_rich_menu_id_of_user(USER).rich_menu_id == second
    with emulator.app.app_context():
        assert richmenus.shown_menu(USER)["richMenuId"] == second
        assert richmenus.shown_menu(OTHER)["richMenuId"] == first
    line_api.unlink_rich_menu_id_from_user(USER)
    assert error_of(lambda: line_api.get_rich_menu_id_of_user(USER))[0] == 404
    line_api.cancel_default_rich_menu()
    assert error_of(lambda: line_api.get_default_rich_menu_id())[0] == 404


def test_a_menu_without_its_image_cannot_be_used(line_api):
    bare = line_api.create_rich_menu(RichMenuRequest.from_dict(menu())).rich_menu_id
    for call in (lambda: line_api.link_rich_menu_id_to_user(USER, bare),
                 lambda: line_api.set_default_rich_menu(bare),
                 lambda: line_api.create_rich_menu_alias(CreateRichMenuAliasRequest(
                     rich_menu_alias_id="tab-a", rich_menu_id=bare))):
        assert error_of(call) == (400, {"message": richmenus.MSG_IMAGE_MISSING})
    unknown = "richmenu-" + "f" * 32
    assert error_of(lambda: line_api.link_rich_menu_id_to_user(USER, unknown)) == (
        400, {"message": richmenus.MSG_MENU_NOT_FOUND})


@pytest.mark.parametrize("emu_database", BACKENDS, indirect=True)
def test_aliases_are_created_updated_listed_and_deleted(line_api, line_blob):
    first = create(line_api, line_blob)
    second = create(line_api, line_blob)
    line_api.create_rich_menu_alias(CreateRichMenuAliasRequest(rich_menu_alias_id="tab-a",
                                                               rich_menu_id=first))
    assert error_of(lambda: line_api.create_rich_menu_alias(CreateRichMenuAliasRequest(
        rich_menu_alias_id="tab-a", rich_menu_id=second))) == (
        400, {"message": richmenus.MSG_ALIAS_EXISTS})
    line_api.update_rich_menu_alias("tab-a", UpdateRichMenuAliasRequest(rich_menu_id=second))
    assert line_api.get_rich_menu_alias("tab-a").rich_menu_id == second
    assert [(a.rich_menu_alias_id, a.rich_menu_id)
            for a in line_api.get_rich_menu_alias_list().aliases] == [("tab-a", second)]
    line_api.delete_rich_menu_alias("tab-a")
    assert line_api.get_rich_menu_alias_list().aliases == []


def test_an_unknown_or_malformed_alias_gets_line_errors(emulator, line_api, line_blob):
    richmenu_id = create(line_api, line_blob)
    assert error_of(lambda: line_api.update_rich_menu_alias(
        "nope", UpdateRichMenuAliasRequest(rich_menu_id=richmenu_id))) == (
        400, {"message": richmenus.MSG_ALIAS_NOT_FOUND})
    assert error_of(lambda: line_api.delete_rich_menu_alias("nope"))[0] == 400
    assert error_of(lambda: line_api.get_rich_menu_alias("nope"))[0] == 404
    # the spec's CreateRichMenuAliasRequest: ^[a-z0-9_-]{1,32}$
    for bad in ("มีภาษาไทย", "Tab-A", "a" * 33, ""):
        response = emulator.api("POST", "/v2/bot/richmenu/alias",
                                {"richMenuAliasId": bad, "richMenuId": richmenu_id})
        assert response.status_code == 400, bad
        assert response.json()["details"] == [
            {"message": "Must be 1 to 32 lowercase letters, digits, - or _",
             "property": "richMenuAliasId"}]
    assert line_api.get_rich_menu_alias_list().aliases == []
    line_api.create_rich_menu_alias(CreateRichMenuAliasRequest(
        rich_menu_alias_id="samoe-volunteer_th-" + "0" * 13, rich_menu_id=richmenu_id))


def test_deleting_a_menu_lets_go_of_its_links_default_and_aliases(line_api, line_blob):
    richmenu_id = create(line_api, line_blob)
    line_api.set_default_rich_menu(richmenu_id)
    line_api.link_rich_menu_id_to_user(USER, richmenu_id)
    line_api.create_rich_menu_alias(CreateRichMenuAliasRequest(rich_menu_alias_id="tab-a",
                                                               rich_menu_id=richmenu_id))
    line_api.delete_rich_menu(richmenu_id)
    assert error_of(lambda: line_api.get_rich_menu_id_of_user(USER))[0] == 404
    assert error_of(lambda: line_api.get_default_rich_menu_id())[0] == 404
    assert line_api.get_rich_menu_alias_list().aliases == []


def test_bulk_link_and_batch_replace(emulator, line_api, line_blob):
    old = create(line_api, line_blob)
    new = create(line_api, line_blob)
    line_api.link_rich_menu_id_to_users(RichMenuBulkLinkRequest(rich_menu_id=old,
                                                                user_ids=[USER, OTHER]))
    assert line_api.get_rich_menu_id_of_user(OTHER).rich_menu_id == old
    response = line_api.rich_menu_batch_with_http_info(RichMenuBatchRequest(operations=[
        RichMenuBatchLinkOperation(var_from=old, to=new)]))
    assert response.status_code == 202
    assert {line_api.get_rich_menu_id_of_user(u).rich_menu_id for u in (USER, OTHER)} == {new}
    progress = line_api.get_rich_menu_batch_progress(response.headers["X-Line-Request-Id"])
    assert progress.phase == "succeeded"
    bad = emulator.api("POST", "/v2/bot/richmenu/bulk/link",
                       {"richMenuId": new, "userIds": [f"U{i:032x}" for i in range(501)]})
    assert bad.status_code == 400
    bad = emulator.api("POST", "/v2/bot/richmenu/batch",
                       {"operations": [{"type": "link", "from": "richmenu-x", "to": new}]})
    assert bad.status_code == 400


def test_create_and_delete_are_limited_to_100_an_hour(emulator, line_api, monkeypatch):
    monkeypatch.setattr(richmenus, "RATE_PER_HOUR", 3)
    ids = [line_api.create_rich_menu(RichMenuRequest.from_dict(menu())).rich_menu_id
           for _ in range(2)]
    line_api.delete_rich_menu(ids[0])
    assert error_of(lambda: line_api.create_rich_menu(RichMenuRequest.from_dict(menu())))[0] \
        == 429
    assert len(line_api.get_rich_menu_list().richmenus) == 1
