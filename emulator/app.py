"""The emulator's application factory."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from emulator import api, chat, control
from emulator.config import EmulatorConfig
from emulator.database import make_engine
from emulator.errors import LineApiError, default_message
from emulator.ids import new_request_id
from emulator.state import EXTENSION_KEY, LineEmulator
from emulator.store import Store

REQUEST_ID_HEADER = "X-Line-Request-Id"


def create_emulator_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the LINE emulator app; with no config, settings come from environment variables."""
    settings = EmulatorConfig.from_mapping(config)
    app = Flask(__name__)
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    store = Store(make_engine(settings.database_url))
    store.create_schema()
    channel_secret = settings.channel_secret
    if channel_secret is None:
        channel_secret = store.channel_secret()
        print(f"LINE emulator development channel secret: {channel_secret}", file=sys.stderr)
    app.extensions[EXTENSION_KEY] = LineEmulator(settings, store, channel_secret)

    app.before_request(_assign_request_id)
    app.after_request(_add_request_id_header)
    app.register_error_handler(LineApiError, LineApiError.to_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_blueprint(api.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(chat.bp)
    return app


def register_users(app: Flask, users: Iterable[dict[str, Any]]) -> None:
    """Create or update users of an emulator app: userId, displayName, language, pictureUrl."""
    store = app.extensions[EXTENSION_KEY].store
    for user in users:
        store.save_user(
            user["userId"],
            display_name=user.get("displayName"),
            language=user.get("language"),
            picture_url=user.get("pictureUrl"),
        )


def _assign_request_id() -> None:
    g.request_id = new_request_id()


def _add_request_id_header(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id") or new_request_id()
    return response


def _http_error(exc: HTTPException) -> Response:
    """Answer HTTP errors (404, 405, ...) in LINE's JSON shape."""
    status = exc.code or 500
    return LineApiError(status, default_message(status)).to_response()
