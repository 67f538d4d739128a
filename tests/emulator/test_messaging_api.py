"""The LINE API through the real SDK: sending, profile, content, quota, auth and request ids."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    BroadcastRequest,
    Configuration,
    MessagingApi,
    MulticastRequest,
    NarrowcastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
    TextMessage,
)

from emulator import create_emulator_app
from tests.emulator.helpers import OTHER, USER, text_messages

THIRD = "U" + "3" * 32


def test_reply_through_the_sdk(emulator, line_api):
    token = emulator.reply_token()
    response = line_api.reply_message(
        ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="สวัสดีค่ะ")])
    )
    [sent_message] = response.sent_messages
    [item] = emulator.sent(user=USER)
    assert item["sent_messages"][0]["id"] == sent_message.id
    assert item["messages"][0]["text"] == "สวัสดีค่ะ"


def test_push_through_the_sdk_returns_sent_messages_and_request_id(emulator, line_api):
    key = str(uuid.uuid4())
    answer = line_api.push_message_with_http_info(
        PushMessageRequest(to=USER, messages=[TextMessage(text="นัดหมาย")]), x_line_retry_key=key
    )
    assert answer.status_code == 200
    assert answer.data.sent_messages[0].quote_token
    request_id = answer.headers["X-Line-Request-Id"]
    [item] = emulator.sent(user=USER, endpoint="push")
    assert (item["to"], item["retry_key"], item["request_id"]) == ([USER], key, request_id)


def test_multicast_reaches_each_listed_user(emulator, line_api):
    line_api.multicast(MulticastRequest(to=[USER, OTHER], messages=[TextMessage(text="m")]))
    assert [i["to"] for i in emulator.sent(user=OTHER)] == [[USER, OTHER]]
    assert emulator.sent(user=THIRD) == []


def test_broadcast_and_narrowcast_reach_followed_users_only(emulator, line_api):
    emulator.events(user=USER, type="follow")
    emulator.events(user=OTHER, type="follow")
    emulator.events(user=OTHER, type="unfollow")
    line_api.broadcast(BroadcastRequest(messages=[TextMessage(text="ประกาศ")]))
    answer = line_api.narrowcast_with_http_info(
        NarrowcastRequest(messages=[TextMessage(text="เฉพาะกลุ่ม")])
    )
    assert answer.status_code == 202
    assert [i["endpoint"] for i in emulator.sent(user=USER)] == ["broadcast", "narrowcast"]
    assert emulator.sent(user=OTHER) == []


def test_loading_animation_is_accepted(line_api):
    answer = line_api.show_loading_animation_with_http_info(
        ShowLoadingAnimationRequest(chat_id=USER, loading_seconds=20)
    )
    assert answer.status_code == 202


def test_profile_of_a_known_user(emulator, line_api):
    emulator.control(
        "POST",
        "/users",
        json={
            "userId": USER,
            "displayName": "สมศรี",
            "language": "th",
            "pictureUrl": "https://example.com/p.png",
        },
    )
    profile = line_api.get_profile(USER)
    assert (profile.user_id, profile.display_name, profile.language) == (USER, "สมศรี", "th")
    assert profile.picture_url == "https://example.com/p.png"


def test_a_user_seen_in_an_event_has_a_default_profile(emulator, line_api):
    emulator.text(OTHER)
    profile = line_api.get_profile(OTHER)
    assert profile.display_name and profile.language == "th"
    assert profile.picture_url is None


@pytest.mark.parametrize("followed", [None, False])
def test_profile_of_an_unknown_or_blocking_user_is_404(emulator, line_api, followed):
    if followed is False:
        emulator.events(user=USER, type="unfollow")
    with pytest.raises(ApiException) as raised:
        line_api.get_profile(USER)
    assert raised.value.status == 404
    assert json.loads(raised.value.body) == {"message": "Not found"}


def test_content_uploaded_with_an_event_is_served(emulator, line_blob):
    picture = b"\xff\xd8\xff\xe0 a jpeg"
    event = emulator.events(
        user=USER,
        message={"type": "image"},
        content_base64=base64.b64encode(picture).decode(),
        content_type="image/jpeg",
    )["events"][0]
    message_id = event["message"]["id"]
    assert line_blob.get_message_content(message_id) == picture
    answer = emulator.api("GET", f"/v2/bot/message/{message_id}/content")
    assert answer.headers["Content-Type"] == "image/jpeg"


def test_unknown_content_is_404(emulator):
    answer = emulator.api("GET", "/v2/bot/message/123456789/content")
    assert (answer.status_code, answer.json()) == (404, {"message": "Not found"})


def test_bot_info(line_api):
    info = line_api.get_bot_info()
    assert (info.display_name, info.chat_mode, info.mark_as_read_mode) == ("เสมอ", "bot", "auto")
    assert info.user_id.startswith("U") and info.basic_id.startswith("@")


def test_quota_and_consumption_count_recipients(emulator, line_api):
    assert line_api.get_message_quota().type == "none"
    emulator.quota(type="limited", value=4)
    quota = line_api.get_message_quota()
    assert (quota.type, quota.value) == ("limited", 4)
    line_api.push_message(PushMessageRequest(to=USER, messages=[TextMessage(text="1")]))
    line_api.multicast(MulticastRequest(to=[USER, OTHER], messages=[TextMessage(text="2")]))
    emulator.reply(emulator.reply_token())  # replies are free
    assert line_api.get_message_quota_consumption().total_usage == 3
    with pytest.raises(ApiException) as raised:
        line_api.multicast(MulticastRequest(to=[USER, OTHER], messages=[TextMessage(text="3")]))
    assert raised.value.status == 429
    assert json.loads(raised.value.body) == {"message": "You have reached your monthly limit."}
    assert line_api.get_message_quota_consumption().total_usage == 3
    line_api.push_message(PushMessageRequest(to=USER, messages=[TextMessage(text="4")]))
    assert line_api.get_message_quota_consumption().total_usage == 4
    assert len(emulator.sent(endpoint="multicast")) == 1


def test_broadcast_counts_followed_users_against_the_quota(emulator):
    for user in (USER, OTHER, THIRD):
        emulator.events(user=user, type="follow")
    emulator.quota(type="limited", value=2)
    answer = emulator.api("POST", "/v2/bot/message/broadcast", {"messages": text_messages("x")})
    assert answer.status_code == 429
    assert emulator.sent() == []


def test_setting_usage_through_the_control_api(emulator, line_api):
    assert emulator.control("POST", "/quota/consumption", json={"totalUsage": 99}).ok
    assert line_api.get_message_quota_consumption().total_usage == 99


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Authorization": "Bearer wrong-token"}, "Authentication failed."),
        ({}, "Authorization header required."),
        ({"Authorization": "Basic abc"}, "Authorization header required."),
        ({"Authorization": "Bearer "}, "Authorization header required."),
    ],
)
def test_a_bad_access_token_is_401(emulator, headers, message):
    answer = emulator.api("GET", "/v2/bot/info", token=None, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["message"].startswith(message)
    assert answer.headers["X-Line-Request-Id"]
    [logged] = emulator.requests("info")
    assert logged["status"] == 401


def test_the_sdk_with_a_wrong_token_gets_401(emulator):
    with ApiClient(Configuration(host=emulator.url, access_token="nope")) as client:
        with pytest.raises(ApiException) as raised:
            MessagingApi(client).get_bot_info()
    assert raised.value.status == 401
    assert json.loads(raised.value.body) == {
        "message": "Authentication failed. Confirm that the access token in the authorization "
        "header is valid."
    }


def test_without_a_configured_token_any_bearer_token_is_accepted(emulator_config):
    app = create_emulator_app({**emulator_config, "channel_access_token": None})
    client = app.test_client()
    assert (
        client.get("/v2/bot/info", headers={"Authorization": "Bearer anything"}).status_code == 200
    )
    assert client.get("/v2/bot/info").status_code == 401
    app.extensions["line_emulator"].engine.dispose()


def test_every_response_has_a_new_request_id(emulator):
    token = emulator.reply_token()
    answers = [
        emulator.reply(token),
        emulator.reply(token),
        emulator.api("GET", "/v2/bot/info", token=None),
        emulator.api("GET", "/v2/bot/nothing-here"),
        emulator.push({"to": USER, "messages": text_messages("x")}),
        emulator.control("GET", "/health"),
    ]
    ids = [answer.headers["X-Line-Request-Id"] for answer in answers]
    assert [a.status_code for a in answers] == [200, 400, 401, 404, 200, 200]
    assert all(uuid.UUID(i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_the_request_log_has_every_call_with_its_answer(emulator):
    key = str(uuid.uuid4())
    emulator.push({"to": USER, "messages": text_messages("x")}, retry_key=key)
    emulator.push({"to": USER, "messages": text_messages("x")}, retry_key=key)
    emulator.push({"to": USER, "messages": []})
    emulator.api("GET", "/v2/bot/info")
    log = emulator.requests("push")
    assert [(r["status"], r["retry_key"]) for r in log] == [(200, key), (409, key), (400, None)]
    assert log[1]["error"] == "The retry key is already accepted"
    assert [r["endpoint"] for r in emulator.requests()] == ["push", "push", "push", "info"]
    assert emulator.requests(after=log[-1]["seq"])[0]["endpoint"] == "info"
