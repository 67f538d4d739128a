"""Each documented limit is refused with 400 and a detail naming the property; boundaries pass."""

from __future__ import annotations

import json

import pytest

from tests.emulator.helpers import OTHER, USER, text_messages

PATHS = {
    "push": "/v2/bot/message/push",
    "multicast": "/v2/bot/message/multicast",
    "broadcast": "/v2/bot/message/broadcast",
    "narrowcast": "/v2/bot/message/narrowcast",
}


def compact_size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def bubble(size: int | None = None, action: dict | None = None) -> dict:
    """A bubble; with ``size``, padded to exactly that many bytes of compact JSON."""
    text = {"type": "text", "text": ""}
    if action:
        text = {"type": "button", "action": action}
    value = {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": [text]}}
    if size is not None:
        text["text"] = "x" * (size - compact_size(value))
        assert compact_size(value) == size
    return value


def carousel(count: int, size: int | None = None) -> dict:
    """A carousel of ``count`` bubbles; with ``size``, padded to exactly that many bytes."""
    value = {"type": "carousel", "contents": [bubble() for _ in range(count)]}
    if size is not None:
        padding = size - compact_size(value)
        for index, item in enumerate(value["contents"]):
            share = padding // count + (1 if index < padding % count else 0)
            item["body"]["contents"][0]["text"] = "x" * share
        assert compact_size(value) == size
    return value


def flex(contents: dict, alt: str = "ประกาศ") -> dict:
    return {"type": "flex", "altText": alt, "contents": contents}


def postback(label: str = "ตกลง", data: str = "a=1", **extra) -> dict:
    return {"type": "postback", "label": label, "data": data, **extra}


def uri_action(uri: str, label: str = "เปิด", **extra) -> dict:
    return {"type": "uri", "label": label, "uri": uri, **extra}


def quick_reply(*actions: dict, text: str = "เลือก") -> dict:
    items = [{"type": "action", "action": action} for action in actions]
    return {"type": "text", "text": text, "quickReply": {"items": items}}


def buttons(action: dict, alt: str = "เมนู") -> dict:
    template = {"type": "buttons", "text": "เลือก", "actions": [action]}
    return {"type": "template", "altText": alt, "template": template}


def push_body(*messages: dict) -> dict:
    return {"to": USER, "messages": list(messages)}


REFUSED = [
    pytest.param("push", push_body(), "messages", id="no-messages"),
    pytest.param("push", push_body(*text_messages(*"123456")), "messages", id="six-messages"),
    pytest.param("push", push_body(*text_messages("ก" * 5001)), "messages[0].text", id="text-5001"),
    pytest.param("push", push_body(*text_messages("")), "messages[0].text", id="text-empty"),
    pytest.param(
        "push",
        push_body(*text_messages("ok", "x" * 5001)),
        "messages[1].text",
        id="second-text-5001",
    ),
    pytest.param(
        "push",
        push_body(quick_reply(*[postback() for _ in range(14)])),
        "messages[0].quickReply.items",
        id="quick-reply-14",
    ),
    pytest.param(
        "push",
        push_body({"type": "text", "text": "x", "quickReply": {"items": []}}),
        "messages[0].quickReply.items",
        id="quick-reply-empty",
    ),
    pytest.param(
        "push",
        push_body(quick_reply(postback(label="ก" * 21))),
        "messages[0].quickReply.items[0].action.label",
        id="quick-reply-label-21",
    ),
    pytest.param(
        "push",
        push_body(quick_reply(postback(data="d" * 301))),
        "messages[0].quickReply.items[0].action.data",
        id="postback-data-301",
    ),
    pytest.param(
        "push",
        push_body(quick_reply(postback(displayText="ก" * 301))),
        "messages[0].quickReply.items[0].action.displayText",
        id="postback-display-text-301",
    ),
    pytest.param(
        "push",
        push_body(quick_reply({"type": "message", "label": "ส่ง", "text": "t" * 301})),
        "messages[0].quickReply.items[0].action.text",
        id="message-action-text-301",
    ),
    pytest.param(
        "push",
        push_body(buttons(postback(label="x" * 21))),
        "messages[0].template.actions[0].label",
        id="template-label-21",
    ),
    pytest.param(
        "push",
        push_body(quick_reply(uri_action("https://example.org/" + "a" * 981))),
        "messages[0].quickReply.items[0].action.uri",
        id="quick-reply-uri-1001",
    ),
    pytest.param(
        "push",
        push_body(flex(bubble(action=uri_action("javascript:alert(1)")))),
        "messages[0].contents.body.contents[0].action.uri",
        id="flex-uri-scheme",
    ),
    pytest.param(
        "push",
        push_body(buttons(uri_action("https://example.org/ไม่มี ช่องว่าง"))),
        "messages[0].template.actions[0].uri",
        id="template-uri-space",
    ),
    pytest.param(
        "push",
        push_body(flex(bubble(action=uri_action(
            "https://example.org/", altUri={"desktop": "https://example.org/" + "d" * 981})))),
        "messages[0].contents.body.contents[0].action.altUri.desktop",
        id="flex-alt-uri-1001",
    ),
    pytest.param(
        "push",
        push_body(buttons(postback(), alt="x" * 1501)),
        "messages[0].altText",
        id="template-alt-text-1501",
    ),
    pytest.param(
        "push",
        push_body(flex(bubble(action=postback(label="x" * 21)))),
        "messages[0].contents.body.contents[0].action.label",
        id="flex-button-label-21",
    ),
    pytest.param(
        "push",
        push_body(flex(bubble(), alt="ก" * 1501)),
        "messages[0].altText",
        id="flex-alt-text-1501",
    ),
    pytest.param("push", push_body(flex(bubble(), alt="")), "messages[0].altText", id="alt-empty"),
    pytest.param(
        "push",
        push_body(flex(bubble(size=30_001))),
        "messages[0].contents",
        id="bubble-30001-bytes",
    ),
    pytest.param(
        "push",
        push_body(flex(carousel(13))),
        "messages[0].contents.contents",
        id="carousel-13-bubbles",
    ),
    pytest.param(
        "push",
        push_body(flex(carousel(2, size=50_001))),
        "messages[0].contents",
        id="carousel-50001-bytes",
    ),
    pytest.param(
        "push",
        push_body(flex({"type": "carousel", "contents": [bubble(), bubble(size=30_001)]})),
        "messages[0].contents.contents[1]",
        id="carousel-bubble-30001-bytes",
    ),
    pytest.param("push", {"to": "", "messages": text_messages("x")}, "to", id="push-to-empty"),
    pytest.param("push", {"messages": text_messages("x")}, "to", id="push-to-missing"),
    pytest.param(
        "multicast",
        {"to": [f"U{i:032x}" for i in range(501)], "messages": text_messages("x")},
        "to",
        id="multicast-501",
    ),
    pytest.param("multicast", {"to": [], "messages": text_messages("x")}, "to", id="multicast-0"),
    pytest.param(
        "broadcast", {"messages": text_messages("x" * 5001)}, "messages[0].text", id="broadcast"
    ),
    pytest.param("narrowcast", {"messages": text_messages(*"123456")}, "messages", id="narrowcast"),
]


@pytest.mark.parametrize(("endpoint", "body", "prop"), REFUSED)
def test_a_body_over_a_limit_is_refused(emulator, endpoint, body, prop):
    response = emulator.api("POST", PATHS[endpoint], body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["message"] == f"The request body has {len(answer['details'])} error(s)"
    assert prop in [detail["property"] for detail in answer["details"]]
    assert emulator.sent() == []


def test_an_over_long_reply_leaves_the_token_unused(emulator):
    token = emulator.reply_token()
    refused = emulator.reply(token, "x" * 5001)
    assert refused.status_code == 400
    assert refused.json()["details"] == [
        {"message": "Length must be between 1 and 5000", "property": "messages[0].text"}
    ]
    assert emulator.reply(token, "x" * 5000).status_code == 200


ACCEPTED = [
    pytest.param("push", push_body(*text_messages(*"12345")), id="five-messages"),
    pytest.param("push", push_body(*text_messages("ก" * 5000)), id="text-5000-thai"),
    pytest.param("push", push_body(quick_reply(*[postback() for _ in range(13)])), id="qr-13"),
    pytest.param(
        "push",
        push_body(quick_reply(postback(label="ก" * 20, data="d" * 300, displayText="ข" * 300))),
        id="postback-at-limits",
    ),
    pytest.param("push", push_body(buttons(postback(), alt="x" * 1500)), id="alt-text-1500"),
    pytest.param(
        "push",
        push_body(quick_reply(uri_action("https://example.org/" + "a" * 980),
                              uri_action("tel:0812345678"), uri_action("line://nv/location"))),
        id="uri-1000-tel-line",
    ),
    pytest.param("push", push_body(flex(bubble(size=30_000))), id="bubble-30000-bytes"),
    pytest.param("push", push_body(flex(carousel(12))), id="carousel-12"),
    pytest.param("push", push_body(flex(carousel(2, size=50_000))), id="carousel-50000-bytes"),
    pytest.param(
        "multicast",
        {"to": [f"U{i:032x}" for i in range(500)], "messages": text_messages("x")},
        id="multicast-500",
    ),
]


@pytest.mark.parametrize(("endpoint", "body"), ACCEPTED)
def test_a_body_at_the_limits_is_accepted(emulator, endpoint, body):
    response = emulator.api("POST", PATHS[endpoint], body)
    assert response.status_code == 200, response.text
    [item] = emulator.sent()
    assert item["messages"] == body["messages"]


SDK_REFUSED = [
    pytest.param("/v2/bot/message/push", push_body({"type": "bogus"}), id="unknown-type"),
    pytest.param("/v2/bot/message/push", push_body({"type": "text"}), id="text-missing"),
    pytest.param("/v2/bot/message/push", {"to": USER, "messages": "hi"}, id="messages-not-list"),
    pytest.param("/v2/bot/message/push", {"to": USER}, id="messages-missing"),
    pytest.param(
        "/v2/bot/message/reply", {"messages": text_messages("x")}, id="reply-token-missing"
    ),
    pytest.param(
        "/v2/bot/message/multicast", {"to": OTHER, "messages": text_messages("x")}, id="to-str"
    ),
    pytest.param(
        "/v2/bot/message/push",
        push_body({"type": "image", "originalContentUrl": "https://example.com/a.jpg"}),
        id="image-preview-missing",
    ),
]


@pytest.mark.parametrize(("path", "body"), SDK_REFUSED)
def test_a_body_the_sdk_models_refuse_is_refused(emulator, path, body):
    response = emulator.api("POST", path, body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("The request body has ")
    assert response.json()["details"]


@pytest.mark.parametrize("data", ["{not json", "", '{"to": "U1", "messages": [}'])
def test_malformed_json_is_refused(emulator, data):
    response = emulator.api("POST", "/v2/bot/message/push", data=data)
    assert response.status_code == 400
    assert response.json() == {"message": "The request body could not be parsed as JSON"}


@pytest.mark.parametrize("data", ["[]", '"text"', "null", "5"])
def test_a_body_that_is_not_an_object_is_refused(emulator, data):
    response = emulator.api("POST", "/v2/bot/message/broadcast", data=data)
    assert response.status_code == 400
    assert response.json()["details"][0]["message"] == "Must be a JSON object"


@pytest.mark.parametrize("seconds", [0, 3, 7, 65, 120, -5, "5", True, 5.0])
def test_loading_seconds_out_of_range_are_refused(emulator, seconds):
    body = {"chatId": USER, "loadingSeconds": seconds}
    response = emulator.api("POST", "/v2/bot/chat/loading/start", body)
    assert response.status_code == 400
    assert response.json()["details"][0]["property"] == "loadingSeconds"


@pytest.mark.parametrize("body", [{"loadingSeconds": 5}, {"chatId": "", "loadingSeconds": 5}])
def test_loading_without_a_chat_id_is_refused(emulator, body):
    response = emulator.api("POST", "/v2/bot/chat/loading/start", body)
    assert response.status_code == 400
    assert response.json()["details"][0]["property"] == "chatId"
