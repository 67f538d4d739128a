"""POST /callback over real HTTP: signatures, bad bodies, every event kind, duplicates."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests
import sqlalchemy as sa
from linebot.v3.webhook import WebhookParser

from models import InboxEvent
from tests.conftest import CHANNEL_SECRET
from tests.support import sign

USER = "U" + "a" * 32


def event(kind: str = "message", **extra) -> dict:
    """A webhook event of `kind` as LINE sends it."""
    base = {
        "type": kind,
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": USER},
        "webhookEventId": "01" + uuid.uuid4().hex[:24].upper(),
        "deliveryContext": {"isRedelivery": False},
    }
    base.update(extra)
    return base


def post(base_url: str, body: str | bytes, signature: str | None = "sign", **headers):
    if signature == "sign":
        signature = sign(body, CHANNEL_SECRET)
    if signature is not None:
        headers["X-Line-Signature"] = signature
    headers.setdefault("Content-Type", "application/json")
    return requests.post(base_url + "/callback", data=body, headers=headers, timeout=10)


def stored(session) -> list[InboxEvent]:
    session.expire_all()
    return list(session.scalars(sa.select(InboxEvent).order_by(InboxEvent.id)))


def test_verification_request_with_no_events_is_acknowledged(base_url, session):
    body = json.dumps({"destination": "Uxxx", "events": []})
    assert post(base_url, body).status_code == 200
    assert stored(session) == []


@pytest.mark.parametrize(
    "signature",
    [None, "", "not-base64!", sign("another body", CHANNEL_SECRET), sign("{}", "wrong-secret")],
    ids=["missing", "empty", "garbage", "other-body", "other-secret"],
)
def test_forged_or_missing_signature_is_refused_and_nothing_stored(base_url, session, signature):
    body = json.dumps({"destination": "U", "events": [event()]})
    response = post(base_url, body, signature=signature)
    assert response.status_code == 400
    assert stored(session) == []


def test_signature_header_name_is_case_insensitive(base_url, session):
    body = json.dumps({"destination": "U", "events": [event()]})
    response = requests.post(
        base_url + "/callback", data=body, timeout=10,
        headers={"x-line-signature": sign(body, CHANNEL_SECRET)},
    )
    assert response.status_code == 200
    assert len(stored(session)) == 1


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        '{"events": {}}',
        '{"destination": "U"}',
        '{"events": [1]}',
        '{"events": [{"type": "message", "timestamp": 1}]}',
        '{"events": [{"webhookEventId": "X", "timestamp": 1}]}',
        '{"events": [{"webhookEventId": "X", "type": "message", "timestamp": "soon"}]}',
        '{"events": [{"webhookEventId": "X", "type": "message", "timestamp": '
        + str(2**70) + "}]}",
    ],
    ids=["not-json", "array", "events-object", "no-events", "event-not-object",
         "no-event-id", "no-type", "bad-timestamp", "timestamp-beyond-bigint"],
)
def test_malformed_body_is_refused_and_nothing_stored(base_url, session, body):
    response = post(base_url, body)
    assert response.status_code == 400
    assert stored(session) == []


def test_body_over_one_megabyte_is_refused(base_url, session):
    filler = "ก" * (400 * 1024)  # 3 bytes each in UTF-8: about 1.2 MB
    body = json.dumps({"events": [event(message={"type": "text", "id": "1", "text": filler})]},
                      ensure_ascii=False)
    response = post(base_url, body.encode("utf-8"))
    assert response.status_code == 413
    assert stored(session) == []


def test_one_request_with_events_of_several_users_stores_each_once(base_url, session):
    events = [event(), event(source={"type": "user", "userId": "U" + "b" * 32}),
              event(source={"type": "group", "groupId": "C" + "c" * 32, "userId": USER})]
    body = json.dumps({"destination": "U", "events": events})
    assert post(base_url, body).status_code == 200
    rows = stored(session)
    assert [r.webhook_event_id for r in rows] == [e["webhookEventId"] for e in events]
    assert {r.user_key for r in rows} == {USER, "U" + "b" * 32}
    assert all(r.status == InboxEvent.PENDING for r in rows)


def test_duplicate_and_redelivered_events_are_acknowledged_and_stored_once(base_url, session):
    first = event()
    body = json.dumps({"destination": "U", "events": [first, first]})
    assert post(base_url, body).status_code == 200
    redelivery = dict(first, deliveryContext={"isRedelivery": True})
    body = json.dumps({"destination": "U", "events": [redelivery]})
    assert post(base_url, body).status_code == 200
    rows = stored(session)
    assert len(rows) == 1
    assert rows[0].is_redelivery is False


EVERY_KIND = [
    event("message", replyToken="r", message={"type": "text", "id": "1", "text": "สวัสดี 😀",
                                              "quoteToken": "q"}),
    event("message", replyToken="r", message={"type": "image", "id": "2", "quoteToken": "q",
                                              "contentProvider": {"type": "line"}}),
    event("message", replyToken="r", message={"type": "sticker", "id": "3", "packageId": "1",
                                              "stickerId": "1", "stickerResourceType": "STATIC",
                                              "quoteToken": "q"}),
    event("message", replyToken="r", message={"type": "location", "id": "4", "latitude": 16.4,
                                              "longitude": 102.8, "address": "ขอนแก่น"}),
    event("follow", replyToken="r", follow={"isUnblocked": False}),
    event("unfollow"),
    event("postback", replyToken="r", postback={"data": "a=1", "params": {"date": "2019-08-13"}}),
    event("join", replyToken="r", source={"type": "group", "groupId": "C1"}),
    event("leave", source={"type": "group", "groupId": "C1"}),
    event("memberJoined", replyToken="r", source={"type": "group", "groupId": "C1"},
          joined={"members": [{"type": "user", "userId": USER}]}),
    event("memberLeft", source={"type": "group", "groupId": "C1"},
          left={"members": [{"type": "user", "userId": USER}]}),
    event("unsend", unsend={"messageId": "1"}),
    event("videoPlayComplete", replyToken="r", videoPlayComplete={"trackingId": "t"}),
    event("beacon", replyToken="r", beacon={"hwid": "d41d8cd98f", "type": "enter"}),
    event("accountLink", replyToken="r", link={"result": "ok", "nonce": "n"}),
    event("things", replyToken="r", things={"deviceId": "t1", "type": "link"}),
    event("membership", replyToken="r", membership={"type": "joined", "membershipId": 1}),
    event("activated", chatControl={"expireAt": 1}),
    event("deactivated"),
    event("botSuspended"),
    event("botResumed"),
    event("module", module={"type": "attached", "botId": "U1", "scopes": ["message:send"]}),
    event("message", mode="standby", message={"type": "text", "id": "5", "text": "hi",
                                              "quoteToken": "q"}),
    event("aNewKindLineMayAdd", somethingNew={"x": 1}),
]


def test_every_event_kind_is_acknowledged_stored_and_handled(base_url, session, worker, emulator):
    body = json.dumps({"destination": "U", "events": EVERY_KIND}, ensure_ascii=False)
    # the SDK's own parser reads this body (unknown kinds become UnknownEvent, never an error)
    assert len(WebhookParser(CHANNEL_SECRET).parse(body, sign(body, CHANNEL_SECRET))) == len(
        EVERY_KIND)
    assert post(base_url, body.encode("utf-8")).status_code == 200
    assert len(stored(session)) == len(EVERY_KIND)
    worker.burst()
    rows = stored(session)
    assert {r.status for r in rows} <= {InboxEvent.DONE, InboxEvent.SKIPPED}
    standby = [r for r in rows if r.mode == "standby"]
    assert [r.status for r in standby] == [InboxEvent.SKIPPED]
    assert all(r.last_error is None for r in rows)


def test_odd_text_is_stored_exactly_nul_emoji_quotes_and_5000_characters(base_url, session):
    """Text PostgreSQL's text type cannot hold raw (a NUL), emoji, quotes and backslashes, and
    LINE's longest message: acknowledged, and the payload read back is the event sent."""
    odd = event(replyToken="r" * 32, message={
        "type": "text", "id": "1", "text": "ก\x00ข \"อ้าง\" \\ 🙂👨‍👩‍👧"})
    long = event(replyToken="s" * 32, message={"type": "text", "id": "2", "text": "ๆ" * 5000})
    body = json.dumps({"destination": "U", "events": [odd, long]}, ensure_ascii=False)
    assert post(base_url, body.encode("utf-8")).status_code == 200
    rows = {r.webhook_event_id: r for r in stored(session)}
    assert json.loads(rows[odd["webhookEventId"]].payload) == odd
    assert json.loads(rows[long["webhookEventId"]].payload) == long
