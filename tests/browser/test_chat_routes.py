"""The chat page's routes over HTTP (no browser): the page, its font, its history and content
endpoints, mounted in Samoe at /emulator and in the emulator running alone."""

from __future__ import annotations

import base64
import re

import pytest
import requests

from emulator import create_emulator_app
from emulator.chat import FONT_NAME

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
