"""Injected faults: before or after carrying out the call, counts, delays, bodies, wildcards."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.emulator.helpers import BACKENDS, USER, text_messages

PUSH = {"to": USER, "messages": text_messages("ทดสอบ")}


def test_a_fault_before_answers_count_times_and_sends_nothing(emulator):
    emulator.fault("push", status=500, count=2)
    answers = [emulator.push(PUSH) for _ in range(3)]
    assert [a.status_code for a in answers] == [500, 500, 200]
    assert answers[0].json() == {"message": "Internal server error"}
    assert answers[0].headers["X-Line-Request-Id"]
    assert len(emulator.sent()) == 1
    [fault] = emulator.control("GET", "/faults").json()["items"]
    assert (fault["endpoint"], fault["remaining"], fault["when"]) == ("push", 0, "before")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (429, {"message": "The API rate limit has been exceeded. Try again later."}),
        (503, {"message": "Service Unavailable"}),
        (404, {"message": "Not found"}),
    ],
)
def test_default_fault_bodies_are_line_style(emulator, status, body):
    emulator.fault("push", status=status)
    answer = emulator.push(PUSH)
    assert (answer.status_code, answer.json()) == (status, body)


def test_a_fault_body_is_answered_as_given(emulator):
    body = {"message": "Invalid reply token"}
    emulator.fault("reply", status=400, body=body)
    token = emulator.reply_token()
    answer = emulator.reply(token)
    assert (answer.status_code, answer.json()) == (400, body)
    assert emulator.reply(token).status_code == 200  # nothing was carried out


def test_a_fault_after_a_reply_uses_the_token_and_records_the_message(emulator):
    emulator.fault("reply", status=500, when="after")
    token = emulator.reply_token()
    assert emulator.reply(token, "หนึ่ง").status_code == 500
    assert [i["messages"] for i in emulator.sent()] == [text_messages("หนึ่ง")]
    retried = emulator.reply(token, "หนึ่ง")
    assert (retried.status_code, retried.json()) == (400, {"message": "Invalid reply token"})
    assert [r["status"] for r in emulator.requests("reply")] == [500, 400]


def test_a_fault_after_a_push_accepts_the_retry_key(emulator):
    emulator.fault("push", status=503, when="after")
    key = str(uuid.uuid4())
    lost = emulator.push(PUSH, retry_key=key)
    assert lost.status_code == 503
    retried = emulator.push(PUSH, retry_key=key)
    assert retried.status_code == 409
    assert retried.headers["X-Line-Accepted-Request-Id"] == lost.headers["X-Line-Request-Id"]
    assert retried.json()["sentMessages"] == emulator.sent()[0]["sent_messages"]
    assert len(emulator.sent()) == 1


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        ({"delay": 0.3, "when": "after"}, 200),
        ({"delay": 0.3, "status": 0}, 200),
        ({"delay": 0.3, "status": 200}, 200),
        ({"delay": 0.3, "status": 500}, 500),
    ],
)
def test_a_delay_is_waited_before_answering(emulator, spec, status):
    emulator.fault("push", **spec)
    started = time.monotonic()
    answer = emulator.push(PUSH)
    assert time.monotonic() - started >= 0.3
    assert answer.status_code == status
    assert len(emulator.sent()) == (1 if status == 200 else 0)


def test_a_wildcard_fault_hits_any_endpoint_and_faults_are_taken_oldest_first(emulator):
    emulator.fault("*", status=502)
    emulator.fault("info", status=503)
    assert emulator.api("GET", "/v2/bot/info").status_code == 502
    assert emulator.api("GET", "/v2/bot/info").status_code == 503
    assert emulator.api("GET", "/v2/bot/info").status_code == 200


@pytest.mark.parametrize(
    ("endpoint", "method", "path", "body"),
    [
        ("loading", "POST", "/v2/bot/chat/loading/start", {"chatId": USER, "loadingSeconds": 5}),
        ("profile", "GET", f"/v2/bot/profile/{USER}", None),
        ("content", "GET", "/v2/bot/message/1/content", None),
        ("quota", "GET", "/v2/bot/message/quota", None),
        ("quota", "GET", "/v2/bot/message/quota/consumption", None),
        ("multicast", "POST", "/v2/bot/message/multicast", {"to": [USER], "messages": []}),
        ("broadcast", "POST", "/v2/bot/message/broadcast", {"messages": []}),
        ("narrowcast", "POST", "/v2/bot/message/narrowcast", {"messages": []}),
    ],
)
def test_every_endpoint_can_be_faulted(emulator, endpoint, method, path, body):
    emulator.fault(endpoint, status=500)
    assert emulator.api(method, path, body).status_code == 500
    assert emulator.requests(endpoint)[0]["status"] == 500


def test_faults_are_listed_and_cleared(emulator):
    emulator.fault("push", status=500, count=3, delay=0.5, body={"message": "x"}, when="after")
    [fault] = emulator.control("GET", "/faults").json()["items"]
    assert fault == {
        "id": fault["id"],
        "endpoint": "push",
        "status": 500,
        "remaining": 3,
        "delay": 0.5,
        "body": {"message": "x"},
        "when": "after",
    }
    assert emulator.control("DELETE", "/faults").json() == {"deleted": 1}
    assert emulator.control("GET", "/faults").json() == {"items": []}
    assert emulator.push(PUSH).status_code == 200


@pytest.mark.parametrize(
    "spec",
    [
        {"endpoint": "nowhere", "status": 500},
        {"endpoint": "push", "status": 42},
        {"endpoint": "push", "status": "500"},
        {"endpoint": "push", "count": 0},
        {"endpoint": "push", "delay": -1},
        {"endpoint": "push", "when": "during"},
        {"endpoint": "push", "body": "text"},
    ],
)
def test_a_bad_fault_is_refused(emulator, spec):
    assert emulator.control("POST", "/faults", json=spec).status_code == 400


@pytest.mark.parametrize("emu_database", BACKENDS, indirect=True)
def test_fault_counts_are_taken_atomically(emulator):
    emulator.fault("push", status=500, count=5)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: emulator.push(PUSH).status_code, range(16)))
    assert sorted(statuses) == [200] * 11 + [500] * 5
    assert len(emulator.sent()) == 11
