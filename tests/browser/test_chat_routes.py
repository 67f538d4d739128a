"""The chat page's routes over HTTP (no browser): the page, its font, its history and content
endpoints, the emulator's index, mounted in Samoe at /emulator and in the emulator running
alone; what the emulator keeps with each event for the page (the displayText a postback showed,
how its last delivery went)."""

from __future__ import annotations

import base64
import json
import re
import threading

import pytest
import requests
import sqlalchemy as sa

from emulator import create_emulator_app
from emulator.chat import FONT_NAME
from models import InboxEvent

TTF_MAGIC = b"\x00\x01\x00\x00"
ALONE_TOKEN = "alone-token"


def test_the_page_links_only_to_the_app_itself(base_url):
    page = requests.get(base_url + "/emulator/chat", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert '<html lang="th">' in html
    for address in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert address.startswith(("/emulator/", "data:")), address
    assert "/emulator/static/chat.js" in html
    assert f"/emulator/chat/fonts/{FONT_NAME}" in html
    assert '"events": "/emulator/api/events"' in html
    assert 'id="rich-menu"' in html  # the marked place for the user's rich menu, empty for now
    script = requests.get(base_url + "/emulator/static/chat.js", timeout=10)
    assert script.status_code == 200
    assert "config.urls.events" in script.text  # the addresses come from the page


def test_the_thai_font_comes_from_the_installed_package_with_a_long_cache(base_url):
    page = requests.get(base_url + "/emulator/chat", timeout=10).text
    font_url = re.search(r'src: url\("([^"]+)"\)', page).group(1)
    font = requests.get(base_url + font_url, timeout=10)
    assert font.status_code == 200
    assert font.headers["Content-Type"] == "font/ttf"
    assert font.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert font.content[:4] == TTF_MAGIC and len(font.content) > 100_000
    missing = requests.get(base_url + "/emulator/chat/fonts/other.ttf", timeout=10)
    assert missing.status_code == 404


def test_history_merges_the_users_events_and_what_was_sent_in_order(base_url, emulator):
    user = "U" + "ab" * 16
    token = emulator.events(user=user, text="สวัสดีค่ะ")["events"][0]["replyToken"]
    api = base_url + "/emulator/v2/bot/message"
    auth = {"Authorization": "Bearer test-access-token"}
    reply = {"replyToken": token, "messages": [{"type": "text", "text": "ตอบค่ะ"}]}
    requests.post(api + "/reply", json=reply, headers=auth, timeout=10).raise_for_status()
    push = {"to": user, "messages": [{"type": "text", "text": "แจ้งเตือนค่ะ"}]}
    requests.post(api + "/push", json=push, headers=auth, timeout=10).raise_for_status()
    other = {"to": "U" + "cd" * 16, "messages": [{"type": "text", "text": "คนอื่น"}]}
    requests.post(api + "/push", json=other, headers=auth, timeout=10).raise_for_status()

    history = requests.get(base_url + "/emulator/chat/history", params={"user": user}, timeout=10)
    assert history.status_code == 200
    body = history.json()
    kinds = [(item["kind"], item.get("endpoint")) for item in body["items"]]
    assert kinds == [("event", None), ("sent", "reply"), ("sent", "push")]
    assert body["items"][0]["event"]["message"]["text"] == "สวัสดีค่ะ"
    assert [item["messages"][0]["text"] for item in body["items"][1:]] == ["ตอบค่ะ", "แจ้งเตือนค่ะ"]
    assert body["last"] == body["items"][-1]["seq"]
    assert emulator.sent(user, after=body["last"]) == []

    bad = requests.get(base_url + "/emulator/chat/history", params={"user": "x y"}, timeout=10)
    assert bad.status_code == 400


def test_content_serves_what_the_user_uploaded(base_url, emulator):
    data = b"\x89PNG fake bytes"
    answer = emulator.events(
        user="U" + "ef" * 16, message={"type": "image"},
        content_base64=base64.b64encode(data).decode(), content_type="image/png",
    )
    message_id = answer["events"][0]["message"]["id"]
    content = requests.get(f"{base_url}/emulator/chat/content/{message_id}", timeout=10)
    assert content.status_code == 200
    assert content.headers["Content-Type"] == "image/png" and content.content == data
    assert requests.get(base_url + "/emulator/chat/content/1", timeout=10).status_code == 404


@pytest.fixture
def alone(tmp_path):
    """The emulator on its own (as `python -m emulator` runs it), through Flask's test client."""
    app = create_emulator_app(
        {
            "database_url": f"sqlite:///{tmp_path / 'alone.db'}",
            "channel_secret": "alone-secret",
            "channel_access_token": ALONE_TOKEN,
            "webhook_url": "http://127.0.0.1:9/callback",  # nothing listens: delivery fails
            "webhook_timeout": 2,
        }
    )
    yield app.test_client()
    app.extensions["line_emulator"].engine.dispose()


def test_the_page_works_with_the_emulator_alone(alone):
    page = alone.get("/chat")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'src="/static/chat.js"' in html and '"events": "/api/events"' in html
    assert "/emulator/" not in html
    font_url = re.search(r'src: url\("([^"]+)"\)', html).group(1)
    font = alone.get(font_url)
    assert font.status_code == 200 and font.data[:4] == TTF_MAGIC
    with alone.get("/static/chat.css") as css:
        assert css.status_code == 200

    user = "U" + "12" * 16
    failed = alone.post("/api/events", json={"user": user, "text": "ทดสอบ"})
    assert failed.status_code == 502  # no bot behind it; the page says so, the event is kept
    auth = {"Authorization": f"Bearer {ALONE_TOKEN}"}
    push = {"to": user, "messages": [{"type": "text", "text": "สวัสดีค่ะ"}]}
    assert alone.post("/v2/bot/message/push", json=push, headers=auth).status_code == 200
    history = alone.get("/chat/history", query_string={"user": user}).get_json()
    assert [item["kind"] for item in history["items"]] == ["event", "sent"]
    assert history["last"] == history["items"][-1]["seq"]


# -- the index, and what the emulator keeps about each event for the chat page -----------------


def test_the_emulators_index_says_where_the_chat_page_and_the_apis_are(base_url, emulator):
    emulator.http.post(emulator.base + "/api/users", timeout=10,
                       json={"userId": "U" + "9a" * 16, "displayName": "สมศรี (อสม.)"})
    for address in ("/emulator/", "/emulator"):
        index = requests.get(base_url + address, timeout=10)
        assert index.status_code == 200, address
        assert index.headers["Content-Type"].startswith("text/html")
    html = index.text
    assert '<html lang="th">' in html
    assert 'href="/emulator/chat"' in html
    assert f"LINE_API_BASE_URL={base_url}/emulator" in html
    for path in ("api/events", "api/sent", "api/requests", "api/faults", "api/users"):
        assert f"/emulator/{path}" in html
    assert f'href="/emulator/chat?user={"U" + "9a" * 16}"' in html and "สมศรี (อสม.)" in html
    for address in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert address.startswith(("/emulator/", "data:")), address


def test_a_postbacks_display_text_is_kept_for_the_history_and_never_sent_to_the_bot(
        base_url, emulator, session):
    user = "U" + "3c" * 16
    answer = emulator.events(user=user, type="postback", postback={"data": "role=parent"},
                             display_text="ผู้ปกครอง")
    assert answer["status"] == 200
    [event] = answer["events"]
    assert "display_text" not in event and "displayText" not in event
    [stored] = session.scalars(sa.select(InboxEvent.payload).where(InboxEvent.user_key == user))
    assert json.loads(stored) == event  # what Samoe received is LINE's event, nothing more
    emulator.text(user, "สวัสดีค่ะ")

    items = requests.get(base_url + "/emulator/chat/history", params={"user": user},
                         timeout=10).json()["items"]
    assert [(i["event"]["type"], i["displayText"]) for i in items] == [
        ("postback", "ผู้ปกครอง"), ("message", None)]
    assert all(i["delivery"] == {"status": 200, "error": None} for i in items)

    for bad in (3, "", "ก" * 301):
        refused = emulator.http.post(emulator.base + "/api/events", timeout=10, json={
            "user": user, "type": "postback", "postback": {"data": "x"}, "display_text": bad})
        assert refused.status_code == 400
        assert "display_text" in refused.json()["message"]


def test_a_refused_delivery_is_kept_with_the_event_until_a_redelivery_is_taken(
        base_url, emulator, session):
    user = "U" + "4d" * 16
    refused = emulator.events(user=user, text="ส่งไม่ถึง", signature="not-the-signature")
    assert refused["status"] == 400  # Samoe refuses a request LINE did not sign
    event_id = refused["events"][0]["webhookEventId"]

    def history():
        return requests.get(base_url + "/emulator/chat/history", params={"user": user},
                            timeout=10).json()["items"]

    [item] = history()
    assert item["delivery"] == {"status": 400, "error": None}
    again = emulator.events(redeliver=[event_id])
    assert again["status"] == 200 and again["events"][0]["deliveryContext"]["isRedelivery"]
    [item] = history()
    assert item["delivery"] == {"status": 200, "error": None}
    assert item["event"]["webhookEventId"] == event_id
    stored = session.scalars(sa.select(InboxEvent.payload).where(InboxEvent.user_key == user))
    assert len(stored.all()) == 1


@pytest.fixture
def webhook():
    """A webhook on a port of its own that answers each request with the next status of
    `answers` (then 200), and counts the requests."""
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Response

    class Hook:
        answers: list[int] = []
        received = 0

    def app(environ, start_response):
        Hook.received += 1
        status = Hook.answers.pop(0) if Hook.answers else 200
        return Response('{"message":"x"}', status=status)(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Hook.url = f"http://127.0.0.1:{server.server_port}/callback"
    yield Hook
    server.shutdown()


def test_the_history_says_when_the_webhook_failed_or_could_not_be_reached(tmp_path, webhook):
    def emulator_app(url):
        return create_emulator_app({
            "database_url": f"sqlite:///{tmp_path / 'hooks.db'}", "channel_secret": "s",
            "channel_access_token": ALONE_TOKEN, "webhook_url": url, "webhook_timeout": 2})

    user = "U" + "5e" * 16
    failing = emulator_app(webhook.url)
    webhook.answers = [500]
    answer = failing.test_client().post("/api/events", json={"user": user, "text": "หนึ่ง"})
    assert answer.status_code == 200 and answer.get_json()["status"] == 500
    unreachable = emulator_app("http://127.0.0.1:9/callback")  # nothing listens there
    answer = unreachable.test_client().post("/api/events", json={"user": user, "text": "สอง"})
    assert answer.status_code == 502

    items = failing.test_client().get("/chat/history", query_string={"user": user}).get_json()
    assert [i["delivery"]["status"] for i in items["items"]] == [500, None]
    assert items["items"][1]["delivery"]["error"].startswith("ConnectionError")
    ids = [i["event"]["webhookEventId"] for i in items["items"]]
    assert failing.test_client().post("/api/events", json={"redeliver": ids}).get_json()[
        "status"] == 200
    items = failing.test_client().get("/chat/history", query_string={"user": user}).get_json()
    assert [i["delivery"]["status"] for i in items["items"]] == [200, 200]
    assert webhook.received == 2
    for app in (failing, unreachable):
        app.extensions["line_emulator"].engine.dispose()
