"""POST /api/events: signed delivery, events completed like LINE does, redelivery, forgeries."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
import requests
from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, ReplyMessageRequest
from linebot.v3.messaging import TextMessage as OutgoingText
from linebot.v3.webhooks import (
    FollowEvent,
    ImageMessageContent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
)
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from emulator import create_emulator_app
from emulator.ids import BOT_USER_ID
from emulator.webhook import sign
from tests.emulator.conftest import Served
from tests.emulator.helpers import ACCESS_TOKEN, CHANNEL_SECRET, OTHER, USER, WebhookReceiver

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def test_a_text_shorthand_is_delivered_signed_and_complete(emulator, webhook):
    before = int(time.time() * 1000)
    answer = emulator.events(user=USER, text="สวัสดีครับ")
    assert (answer["status"], answer["body"]) == (200, "OK")
    received = webhook.last
    assert received.signature_valid and received.parse_error is None
    assert received.headers["Content-Type"].startswith("application/json")
    assert json.loads(received.body) == {"destination": BOT_USER_ID, "events": answer["events"]}

    [event] = answer["events"]
    assert ULID.match(event["webhookEventId"])
    assert before <= event["timestamp"] <= int(time.time() * 1000)
    assert event["source"] == {"type": "user", "userId": USER}
    assert (event["type"], event["mode"]) == ("message", "active")
    assert event["deliveryContext"] == {"isRedelivery": False}
    assert re.match(r"^[0-9a-f]{32}$", event["replyToken"])
    message = event["message"]
    assert (message["type"], message["text"]) == ("text", "สวัสดีครับ")
    assert message["id"].isdigit() and message["quoteToken"]

    [parsed] = received.events
    assert isinstance(parsed, MessageEvent) and isinstance(parsed.message, TextMessageContent)
    assert parsed.reply_token == event["replyToken"]


def test_the_webhook_answer_is_reported(emulator, webhook):
    webhook.status, webhook.answer = 500, "พัง" + "x" * 3000
    answer = emulator.events(user=USER, text="hi")
    assert answer["status"] == 500
    assert answer["body"].startswith("พัง") and len(answer["body"]) == 2000


def test_several_events_of_several_users_in_one_request(emulator, webhook):
    answer = emulator.events(
        user=USER,
        events=[
            {"text": "หนึ่ง"},
            {"type": "postback", "postback": {"data": "action=report", "params": {}}},
            {"type": "follow", "user": OTHER},
        ],
    )
    events = answer["events"]
    assert [e["type"] for e in events] == ["message", "postback", "follow"]
    assert [e["source"]["userId"] for e in events] == [USER, USER, OTHER]
    assert len({e["replyToken"] for e in events}) == 3
    assert len({e["webhookEventId"] for e in events}) == 3
    assert len(webhook.received) == 1
    parsed = webhook.last.events
    assert [type(e) for e in parsed] == [MessageEvent, PostbackEvent, FollowEvent]
    assert parsed[1].postback.data == "action=report"


@pytest.mark.parametrize(
    ("kind", "has_token"),
    [
        ("follow", True),
        ("unfollow", False),
        ("postback", True),
        ("join", True),
        ("leave", False),
        ("beacon", True),
        ("accountLink", True),
        ("videoPlayComplete", True),
        ("things", True),
        ("unsend", False),
    ],
)
def test_reply_tokens_go_with_the_event_types_line_gives_them_to(
    emulator, webhook, kind, has_token
):
    [event] = emulator.events(user=USER, type=kind)["events"]
    assert ("replyToken" in event) is has_token
    assert webhook.last.parse_error is None


def test_extra_keys_are_copied_into_the_event(emulator):
    [event] = emulator.events(
        user=USER, type="message", message={"type": "text", "text": "x", "emojis": []}, foo=1
    )["events"]
    assert event["foo"] == 1 and event["message"]["emojis"] == []


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"type": "image"}, {"contentProvider": {"type": "line"}, "quoteToken": True}),
        ({"type": "video"}, {"contentProvider": {"type": "line"}, "quoteToken": True}),
        ({"type": "audio"}, {"contentProvider": {"type": "line"}, "quoteToken": False}),
        ({"type": "file"}, {"fileName": "file.bin", "fileSize": 0, "quoteToken": False}),
        ({"type": "sticker"}, {"stickerResourceType": "STATIC", "quoteToken": True}),
        ({"type": "location"}, {"latitude": 16.4419, "quoteToken": False}),
    ],
)
def test_message_fields_are_filled_like_line(emulator, webhook, message, expected):
    [event] = emulator.events(user=USER, message=message)["events"]
    filled = event["message"]
    assert filled["id"].isdigit()
    assert ("quoteToken" in filled) is expected.pop("quoteToken")
    for key, value in expected.items():
        assert filled[key] == value
    assert webhook.last.parse_error is None
    assert type(webhook.last.events[0]) is MessageEvent


def test_an_image_with_content(emulator, webhook):
    answer = emulator.events(
        user=USER,
        message={"type": "image"},
        content_base64=base64.b64encode(b"png bytes").decode(),
        content_type="image/png",
    )
    message_id = answer["events"][0]["message"]["id"]
    assert isinstance(webhook.last.events[0].message, ImageMessageContent)
    fetched = emulator.api("GET", f"/v2/bot/message/{message_id}/content")
    assert (fetched.content, fetched.headers["Content-Type"]) == (b"png bytes", "image/png")


def test_timestamps_can_be_given_or_aged(emulator):
    [given] = emulator.events(user=USER, text="x", timestamp=1_700_000_000_000)["events"]
    assert given["timestamp"] == 1_700_000_000_000
    [aged] = emulator.events(user=USER, text="x", age_seconds=30)["events"]
    assert abs(aged["timestamp"] - (time.time() - 30) * 1000) < 5_000


def test_follow_after_unfollow_is_an_unblock_and_updates_the_user(emulator):
    [first] = emulator.events(user=USER, type="follow")["events"]
    assert first["follow"] == {"isUnblocked": False}
    emulator.events(user=USER, type="unfollow")
    users = emulator.control("GET", "/users").json()["items"]
    assert [(u["userId"], u["followed"]) for u in users] == [(USER, False)]
    [again] = emulator.events(user=USER, type="follow")["events"]
    assert again["follow"] == {"isUnblocked": True}
    assert emulator.control("GET", "/users").json()["items"][0]["followed"] is True


def test_redelivery_has_the_same_id_and_token_and_says_so(emulator, webhook):
    [first] = emulator.events(user=USER, text="ช่วยด้วย")["events"]
    answer = emulator.events(redeliver=[first["webhookEventId"]])
    [again] = answer["events"]
    assert again["webhookEventId"] == first["webhookEventId"]
    assert again["replyToken"] == first["replyToken"]
    assert again["deliveryContext"] == {"isRedelivery": True}
    assert {k: v for k, v in again.items() if k != "deliveryContext"} == {
        k: v for k, v in first.items() if k != "deliveryContext"
    }
    assert webhook.last.signature_valid
    assert emulator.reply(first["replyToken"]).status_code == 200
    assert emulator.reply(again["replyToken"]).status_code == 400


def test_resend_duplicates_an_event_unchanged(emulator, webhook):
    [first] = emulator.events(user=USER, text="ซ้ำ")["events"]
    [duplicate] = emulator.events(resend=[first["webhookEventId"]])["events"]
    assert duplicate == first


def test_redelivering_an_unknown_event_is_404(emulator):
    answer = emulator.control("POST", "/events", json={"redeliver": ["01ARZ3NDEKTSV4RRFFQ69G5FAV"]})
    assert answer.status_code == 404


def test_a_forged_signature_is_sent_as_given(emulator, webhook):
    webhook.status = 400
    answer = emulator.events(user=USER, text="x", signature="Zm9yZ2Vk")
    assert answer["status"] == 400
    assert webhook.last.headers["X-Line-Signature"] == "Zm9yZ2Vk"
    assert not webhook.last.signature_valid


def test_a_raw_body_is_sent_verbatim_and_signed(emulator, webhook):
    raw = '{"destination":"Uxxx","events":[{"type":"unfollow","mode":"active"}]} '
    answer = emulator.events(raw_body=raw)
    assert webhook.last.body == raw
    assert webhook.last.headers["X-Line-Signature"] == sign(CHANNEL_SECRET, raw.encode())
    assert answer["events"] == [{"type": "unfollow", "mode": "active"}]
    emulator.events(raw_body="not json", signature="abc")
    assert (webhook.last.body, webhook.last.headers["X-Line-Signature"]) == ("not json", "abc")


def test_destination_and_an_empty_verification_request(emulator, webhook):
    answer = emulator.events(events=[], destination="U" + "f" * 32)
    assert answer["events"] == []
    assert webhook.last_json() == {"destination": "U" + "f" * 32, "events": []}
    assert webhook.last.signature_valid


def test_the_webhook_can_reply_while_it_is_being_called(emulator, webhook):
    """Delivery holds no database lock: a webhook that replies at once is served."""
    replies = []

    def reply_now(received):
        token = json.loads(received.body)["events"][0]["replyToken"]
        replies.append(emulator.reply(token, "ตอบทันที").status_code)

    webhook.on_request = reply_now
    emulator.events(user=USER, text="x")
    assert replies == [200]


def test_an_unreachable_webhook_is_502(emulator_config):
    app = create_emulator_app({**emulator_config, "webhook_url": "http://127.0.0.1:9/callback"})
    answer = app.test_client().post("/api/events", json={"user": USER, "text": "x"})
    assert answer.status_code == 502
    assert answer.json["status"] is None and answer.json["error"]
    assert answer.json["events"][0]["message"]["text"] == "x"
    app.extensions["line_emulator"].engine.dispose()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"text": "no user"}, 400),
        ({"user": USER}, 400),
        ({"user": USER, "events": "x"}, 400),
        ({"user": USER, "events": ["x"]}, 400),
        ({"user": USER, "events": [{"foo": 1}]}, 400),
        ({"user": USER, "message": {"type": "text"}}, 400),
        ({"user": USER, "message": {"type": "image"}, "content_base64": "%%%"}, 400),
        ({"user": USER, "text": "x", "age_seconds": "old"}, 400),
        ({"user": USER, "text": "x", "webhookEventId": "DUPLICATE"}, 409),
        ({"raw_body": 5}, 400),
        ([], 400),
    ],
)
def test_bad_event_requests_are_refused(emulator, body, status):
    if status == 409:
        emulator.events(**body)
    answer = emulator.control("POST", "/events", json=body)
    assert answer.status_code == status
    assert answer.json()["message"]


def test_mounted_at_emulator_with_the_default_webhook_url(emulator_config):
    """Mounted under /emulator, events go to /callback of the same host; the SDK works too."""
    receiver = WebhookReceiver(CHANNEL_SECRET)
    app = create_emulator_app({**emulator_config, "webhook_url": None})
    served = Served(DispatcherMiddleware(receiver, {"/emulator": app}))
    try:
        with requests.Session() as http:
            answer = http.post(
                served.url + "/emulator/api/events", json={"user": USER, "text": "x"}, timeout=10
            ).json()
        receiver_events = receiver.last.events
        assert answer["status"] == 200 and receiver.last.signature_valid
        assert receiver_events[0].message.text == "x"
        config = Configuration(host=served.url + "/emulator", access_token=ACCESS_TOKEN)
        with ApiClient(config) as client:
            MessagingApi(client).reply_message(
                ReplyMessageRequest(
                    reply_token=receiver_events[0].reply_token,
                    messages=[OutgoingText(text="ok")],
                )
            )
    finally:
        served.stop()
        app.extensions["line_emulator"].engine.dispose()
