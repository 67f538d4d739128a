"""Reply tokens and retry keys: the core semantics, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.emulator.helpers import BACKENDS, OTHER, USER, text_messages

pytestmark = pytest.mark.parametrize("emu_database", BACKENDS, indirect=True)

INVALID_REPLY_TOKEN = {"message": "Invalid reply token"}


def test_a_reply_token_works_once(emulator):
    token = emulator.reply_token()
    first = emulator.reply(token, "หนึ่ง")
    assert first.status_code == 200
    [sent_message] = first.json()["sentMessages"]
    assert sent_message["id"].isdigit() and sent_message["quoteToken"]
    again = emulator.reply(token, "สอง")
    assert (again.status_code, again.json()) == (400, INVALID_REPLY_TOKEN)
    [item] = emulator.sent(user=USER)
    assert (item["endpoint"], item["reply_token"], item["to"]) == ("reply", token, [USER])
    assert item["messages"] == text_messages("หนึ่ง")


def test_an_unknown_reply_token_is_refused(emulator):
    response = emulator.reply("0" * 32)
    assert (response.status_code, response.json()) == (400, INVALID_REPLY_TOKEN)
    assert emulator.sent() == []


def test_a_token_older_than_60_seconds_is_expired(emulator):
    token = emulator.reply_token(age_seconds=70)
    response = emulator.reply(token)
    assert (response.status_code, response.json()) == (400, INVALID_REPLY_TOKEN)


def test_a_token_younger_than_60_seconds_still_works(emulator):
    assert emulator.reply(emulator.reply_token(age_seconds=50)).status_code == 200


def test_standby_events_carry_no_reply_token(emulator):
    event = emulator.text(mode="standby")
    assert event["mode"] == "standby"
    assert "replyToken" not in event


def test_concurrent_replies_with_one_token_send_once(emulator):
    token = emulator.reply_token()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda i: emulator.reply(token, f"{i}").status_code, range(16)))
    assert sorted(statuses) == [200] + [400] * 15
    assert len(emulator.sent()) == 1


def test_a_repeated_retry_key_answers_409_and_sends_nothing_again(emulator):
    key = str(uuid.uuid4())
    body = {"to": USER, "messages": text_messages("แจ้งเตือน")}
    first = emulator.push(body, retry_key=key)
    assert first.status_code == 200
    again = emulator.push(body, retry_key=key)
    assert again.status_code == 409
    assert again.json() == {
        "message": "The retry key is already accepted",
        "sentMessages": first.json()["sentMessages"],
    }
    assert again.headers["X-Line-Accepted-Request-Id"] == first.headers["X-Line-Request-Id"]
    assert again.headers["X-Line-Request-Id"] != first.headers["X-Line-Request-Id"]
    [item] = emulator.sent()
    assert item["retry_key"] == key


def test_a_retry_key_is_accepted_only_when_the_request_succeeds(emulator):
    key = str(uuid.uuid4())
    body = {"to": USER, "messages": text_messages("x")}
    emulator.quota(type="limited", value=0)
    assert emulator.push(body, retry_key=key).status_code == 429
    emulator.fault("push", status=500)
    assert emulator.push(body, retry_key=key).status_code == 500
    assert emulator.push({"to": USER, "messages": []}, retry_key=key).status_code == 400
    emulator.quota(type="none")
    assert emulator.push(body, retry_key=key).status_code == 200
    assert emulator.push(body, retry_key=key).status_code == 409
    assert len(emulator.sent()) == 1
    assert [r["status"] for r in emulator.requests("push")] == [429, 500, 400, 200, 409]


def test_retry_keys_work_on_multicast_broadcast_and_narrowcast(emulator):
    emulator.events(user=USER, type="follow")
    cases = [
        ("multicast", {"to": [USER, OTHER], "messages": text_messages("m")}, 200),
        ("broadcast", {"messages": text_messages("b")}, 200),
        ("narrowcast", {"messages": text_messages("n")}, 202),
    ]
    for endpoint, body, status in cases:
        key = str(uuid.uuid4())
        headers = {"X-Line-Retry-Key": key}
        path = f"/v2/bot/message/{endpoint}"
        assert emulator.api("POST", path, body, headers=headers).status_code == status
        again = emulator.api("POST", path, body, headers=headers)
        assert again.status_code == 409, endpoint
        assert "sentMessages" not in again.json()
    assert [i["endpoint"] for i in emulator.sent()] == ["multicast", "broadcast", "narrowcast"]


@pytest.mark.parametrize(
    "key", ["not-a-uuid", "123e4567e89b12d3a456426614174000", "{123e4567-e89b-12d3-a456-4266}"]
)
def test_a_retry_key_that_is_not_a_uuid_is_refused(emulator, key):
    response = emulator.push({"to": USER, "messages": text_messages("x")}, retry_key=key)
    assert response.status_code == 400
    assert response.json() == {"message": "The value for the 'X-Line-Retry-Key' header is invalid"}
    assert emulator.sent() == []


def test_a_retry_key_on_reply_is_refused(emulator):
    token = emulator.reply_token()
    response = emulator.api(
        "POST",
        "/v2/bot/message/reply",
        {"replyToken": token, "messages": text_messages("x")},
        headers={"X-Line-Retry-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 400
    assert emulator.reply(token).status_code == 200  # the token was not used


def test_concurrent_pushes_with_one_retry_key_send_once(emulator):
    key = str(uuid.uuid4())
    body = {"to": USER, "messages": text_messages("once")}
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: emulator.push(body, key).status_code, range(16)))
    assert sorted(statuses) == [200] + [409] * 15
    assert len(emulator.sent()) == 1
