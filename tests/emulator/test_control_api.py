"""The control API (sent, users, quota, reset, health), settings and the command line."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

import emulator.__main__ as cli
from emulator import create_emulator_app, register_users
from emulator.database import normalize_url
from emulator.webhook import sign
from tests.emulator.helpers import OTHER, USER, text_messages

THIRD = "U" + "3" * 32


def test_health(emulator):
    assert emulator.control("GET", "/health").json() == {"ok": True}


def test_sent_is_filtered_by_user_endpoint_and_after(emulator):
    emulator.events(user=USER, type="follow")
    emulator.events(user=OTHER, type="follow")
    emulator.push({"to": USER, "messages": text_messages("1")})
    emulator.api("POST", "/v2/bot/message/multicast", {"to": [OTHER, THIRD], "messages": []})
    emulator.api(
        "POST", "/v2/bot/message/multicast", {"to": [OTHER, THIRD], "messages": text_messages("2")}
    )
    emulator.api("POST", "/v2/bot/message/broadcast", {"messages": text_messages("3")})
    emulator.reply(emulator.reply_token(THIRD), "4")

    everything = emulator.sent()
    assert [i["endpoint"] for i in everything] == ["push", "multicast", "broadcast", "reply"]
    assert [i["seq"] for i in everything] == sorted(i["seq"] for i in everything)
    assert [i["messages"][0]["text"] for i in emulator.sent(user=USER)] == ["1", "3"]
    assert [i["messages"][0]["text"] for i in emulator.sent(user=THIRD)] == ["2", "4"]
    assert [i["to"] for i in emulator.sent(endpoint="broadcast")] == [sorted([USER, OTHER])]
    after = everything[1]["seq"]
    assert [i["endpoint"] for i in emulator.sent(after=after)] == ["broadcast", "reply"]
    assert [i["endpoint"] for i in emulator.sent(user=OTHER, after=after)] == ["broadcast"]
    assert len(emulator.sent(limit=2)) == 2


def test_sent_items_have_the_documented_shape(emulator):
    key = str(uuid.uuid4())
    pushed = emulator.push({"to": USER, "messages": text_messages("x")}, retry_key=key)
    answer = emulator.control("GET", "/sent", params={"user": USER}).json()
    [item] = answer["items"]
    assert answer["last"] == item["seq"]
    assert item == {
        "seq": item["seq"],
        "endpoint": "push",
        "to": [USER],
        "messages": text_messages("x"),
        "sent_messages": pushed.json()["sentMessages"],
        "retry_key": key,
        "reply_token": None,
        "request_id": pushed.headers["X-Line-Request-Id"],
        "at": item["at"],
    }
    assert item["at"].endswith("Z")
    empty = emulator.control("GET", "/sent", params={"after": item["seq"]}).json()
    assert empty == {"items": [], "last": item["seq"]}


def test_bad_query_arguments_are_refused(emulator):
    assert emulator.control("GET", "/sent", params={"after": "x"}).status_code == 400
    assert emulator.control("GET", "/requests", params={"limit": "x"}).status_code == 400


def test_reset_forgets_everything(emulator, line_api):
    key = str(uuid.uuid4())
    token = emulator.reply_token()
    emulator.push({"to": USER, "messages": text_messages("x")}, retry_key=key)
    emulator.fault("push", status=500, count=5)
    emulator.quota(type="limited", value=10)
    assert emulator.control("POST", "/reset").json() == {}

    assert emulator.sent() == [] and emulator.requests() == []
    assert emulator.control("GET", "/faults").json()["items"] == []
    assert emulator.control("GET", "/users").json()["items"] == []
    assert emulator.reply(token).status_code == 400
    assert emulator.push({"to": USER, "messages": text_messages("x")}, key).status_code == 200
    assert line_api.get_message_quota().type == "none"
    assert line_api.get_message_quota_consumption().total_usage == 1


def test_users_are_created_updated_and_listed(emulator):
    created = emulator.control(
        "POST", "/users", json={"userId": USER, "displayName": "ครูแดง", "language": "th"}
    )
    assert created.json() == {
        "userId": USER,
        "displayName": "ครูแดง",
        "language": "th",
        "pictureUrl": None,
        "followed": True,
    }
    emulator.control("POST", "/users", json={"userId": USER, "language": "en", "followed": False})
    [user] = emulator.control("GET", "/users").json()["items"]
    assert (user["displayName"], user["language"], user["followed"]) == ("ครูแดง", "en", False)


@pytest.mark.parametrize(
    "body",
    [{}, {"userId": ""}, {"userId": USER, "displayName": 5}, {"userId": USER, "followed": 1}],
)
def test_bad_users_are_refused(emulator, body):
    assert emulator.control("POST", "/users", json=body).status_code == 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/quota", {"type": "limited"}),
        ("/quota", {"type": "limited", "value": -1}),
        ("/quota", {"type": "sometimes"}),
        ("/quota/consumption", {"totalUsage": "5"}),
        ("/quota/consumption", {}),
    ],
)
def test_bad_quota_settings_are_refused(emulator, path, body):
    assert emulator.control("POST", path, json=body).status_code == 400


def test_register_users(emulator, line_api):
    register_users(emulator.app, [{"userId": OTHER, "displayName": "แม่สมใจ", "language": "th"}])
    assert line_api.get_profile(OTHER).display_name == "แม่สมใจ"


# -- settings ---------------------------------------------------------------------------------


def test_a_development_secret_is_generated_printed_and_kept(emulator_config, webhook, capsys):
    config = {**emulator_config, "channel_secret": None}
    app = create_emulator_app(config)
    secret = app.extensions["line_emulator"].channel_secret
    assert f"LINE emulator development channel secret: {secret}" in capsys.readouterr().err
    assert len(secret) == 32
    again = create_emulator_app(config)
    assert again.extensions["line_emulator"]["channel_secret"] == secret

    app.test_client().post("/api/events", json={"user": USER, "text": "x"})
    assert webhook.last.headers["X-Line-Signature"] == sign(secret, webhook.last.body.encode())
    for each in (app, again):
        each.extensions["line_emulator"]["engine"].dispose()


def test_settings_come_from_the_environment_without_a_config(monkeypatch, tmp_path, webhook):
    monkeypatch.setenv("EMULATOR_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "env-secret")
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", "env-token")
    monkeypatch.setenv("EMULATOR_WEBHOOK_URL", webhook.url)
    app = create_emulator_app()
    ext = app.extensions["line_emulator"]
    assert (ext.channel_secret, ext.config.channel_access_token) == ("env-secret", "env-token")
    assert str(ext.engine.url).endswith("env.db")
    client = app.test_client()
    info = client.get("/v2/bot/info", headers={"Authorization": "Bearer env-token"})
    assert info.status_code == 200
    client.post("/api/events", json={"user": USER, "text": "x"})
    assert webhook.last.headers["X-Line-Signature"] == sign(
        "env-secret", webhook.last.body.encode()
    )
    ext.engine.dispose()


def test_an_unknown_setting_is_an_error():
    with pytest.raises(ValueError, match="webhook_uri"):
        create_emulator_app({"webhook_uri": "http://x"})


def test_sqlite_folder_is_created_and_runs_in_wal_mode(tmp_path):
    app = create_emulator_app({"database_url": f"sqlite:///{tmp_path}/a/b/emu.db"})
    engine = app.extensions["line_emulator"].engine
    assert (tmp_path / "a" / "b" / "emu.db").exists()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
        tables = sa.inspect(conn).get_table_names()
    assert tables and all(name.startswith("emu_") for name in tables)
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_postgresql_urls_use_psycopg(url, expected):
    assert normalize_url(url) == expected


def test_the_command_line_passes_its_options(monkeypatch, tmp_path):
    served = {}
    monkeypatch.delenv("LINE_CHANNEL_SECRET", raising=False)
    monkeypatch.setattr(cli, "run_simple", lambda host, port, app, **kw: served.update(locals()))
    cli.main(
        [
            "--port",
            "8089",
            "--database-url",
            f"sqlite:///{tmp_path}/cli.db",
            "--channel-secret",
            "cli-secret",
            "--webhook-url",
            "http://127.0.0.1:1/callback",
        ]
    )
    ext = served["app"].extensions["line_emulator"]
    assert (served["host"], served["port"], served["kw"]) == ("127.0.0.1", 8089, {"threaded": True})
    assert (ext.channel_secret, ext.config.webhook_url) == (
        "cli-secret",
        "http://127.0.0.1:1/callback",
    )
    ext.engine.dispose()


def test_control_answers_are_json_with_thai_unescaped(emulator):
    emulator.text(USER, "ภาษาไทย")
    raw = emulator.control("GET", "/users").content.decode("utf-8")
    assert "ผู้ใช้ทดสอบ" in raw
    assert json.loads(raw)["items"][0]["userId"] == USER
