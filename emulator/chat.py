"""The chat page (``/chat``): a LINE-like page where a person talks to the bot as a user.

``GET /`` (``/emulator/`` when mounted) is the emulator's index: where the chat page, the LINE
API and the control API are, and the users it knows.

The page is a Jinja template with a small script (``static/chat.js``). It drives the emulator
through the control API like a test would: every message, tap and follow is a signed webhook
request from ``POST /api/events``, and the bot's answers, pushes included, come from
``GET /api/sent?user=U&after=N``, polled while the tab is visible. Besides the page, this
blueprint serves:

- ``GET /chat/history?user=U``: the user's recent events and what was sent to them, merged in
  time order, with ``last`` (the seq to poll ``/api/sent`` after), so a reload keeps the chat.
  Each event comes with what the user's bubble showed (``displayText``, a postback's) and how
  its last delivery to the webhook went (``delivery``: ``status`` and ``error``, or null), so
  a failed send still shows as failed, in any browser.
- ``GET /chat/richmenu?user=U`` and ``GET /chat/richmenu/<id>/image``: the rich menu LINE shows
  the user and its picture; the page lays tappable areas over it.
- ``GET /chat/content/<message_id>``: what a user uploaded with an image message (thumbnails).
- ``GET /chat/fonts/<name>``: Noto Sans Thai from the ``fontpkg-noto-sans-thai`` package, so
  Thai renders with nothing fetched from outside the app.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, abort, jsonify, render_template, request, url_for

from emulator import richmenus
from emulator import tables as t
from emulator.errors import LineApiError
from emulator.ids import BOT_USER_ID, iso_from_ms
from emulator.state import current_emulator

#: The package carrying the page's Thai font, and the one name its file is served under.
FONT_PACKAGE = "fontpkg_noto_sans_thai"
FONT_NAME = "noto-sans-thai.ttf"
#: Fonts never change under a name (the URL carries the package version): cache for a year.
FONT_CACHE_CONTROL = "public, max-age=31536000, immutable"
#: How much of a user's past the page shows on opening.
HISTORY_LIMIT = 100
#: LINE user ids are "U" and 32 hex digits; the emulator also knows made-up ids from tests.
USER_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")

# The template and script live in the emulator app's own templates/ and static/ folders.
bp = Blueprint("chat", __name__)

@bp.get("/")
def index() -> str:
    """Where everything is: the chat page, the LINE API's base address, the control API."""
    root = url_for("chat.index")
    return render_template(
        "index.html",
        chat_url=url_for("chat.page"),
        api_base=request.host_url.rstrip("/") + root.rstrip("/"),
        root=root,
        users=current_emulator().store.list_users(),
        font_url=url_for("chat.font", name=FONT_NAME, v=font_file()["version"]),
    )


@bp.get("/chat")
def page() -> str:
    """The chat page; the script reads its addresses from the page, so it works mounted or not."""
    font = font_file()
    urls = {
        "events": url_for("line_control.post_events"),
        "sent": url_for("line_control.get_sent"),
        "users": url_for("line_control.list_users"),
        "history": url_for("chat.history"),
        "content": url_for("chat.content", message_id="MESSAGE_ID"),
        "richMenu": url_for("chat.rich_menu"),
    }
    return render_template(
        "chat.html",
        urls=urls,
        font_url=url_for("chat.font", name=FONT_NAME, v=font["version"]),
        bot_user_id=BOT_USER_ID,
    )


@bp.get("/chat/history")
def history() -> Response:
    """The user's last events and the messages sent to them, oldest first, and the last seq."""
    user = request.args.get("user", "")
    if not USER_ID.match(user):
        raise LineApiError(400, "user must be a user id (letters, digits, _ and -)")
    engine = current_emulator().engine
    deliveries = t.event_deliveries
    with engine.begin() as conn:
        events = conn.execute(
            sa.select(t.events.c.event, deliveries)
            .select_from(t.events.outerjoin(
                deliveries, deliveries.c.webhook_event_id == t.events.c.webhook_event_id))
            .where(t.events.c.user_id == user)
            .order_by(t.events.c.created_at.desc())
            .limit(HISTORY_LIMIT)
        ).all()
        sent = conn.execute(
            sa.select(t.sent)
            .where(
                t.sent.c.seq.in_(
                    sa.select(t.sent_recipients.c.seq).where(t.sent_recipients.c.user_id == user)
                )
            )
            .order_by(t.sent.c.seq.desc())
            .limit(HISTORY_LIMIT)
        ).all()
    timeline: list[tuple[int, int, dict[str, Any]]] = []
    for row in events:
        event = row.event
        if isinstance(event, str):  # JSON columns read back as text on some drivers
            event = json.loads(event)
        delivered = row.delivered_at is not None
        item = {
            "kind": "event",
            "event": event,
            "displayText": row.display_text,
            "delivery": {"status": row.status, "error": row.error} if delivered else None,
        }
        timeline.append((int(event.get("timestamp") or 0), 0, item))
    for row in sent:
        item = {
            "kind": "sent",
            "seq": row.seq,
            "endpoint": row.endpoint,
            "messages": row.messages,
            "at": iso_from_ms(row.at),
        }
        timeline.append((row.at, 1, item))
    timeline.sort(key=lambda entry: (entry[0], entry[1]))
    last = max((row.seq for row in sent), default=0)
    return jsonify(items=[item for _at, _order, item in timeline], last=last)


@bp.get("/chat/richmenu")
def rich_menu() -> Response:
    """The rich menu LINE shows the user (theirs, else the default) with its image's address,
    or ``{"menu": null}``."""
    user = request.args.get("user", "")
    if not USER_ID.match(user):
        raise LineApiError(400, "user must be a user id (letters, digits, _ and -)")
    menu = richmenus.shown_menu(user)
    if menu is not None:
        menu["imageUrl"] = url_for("chat.rich_menu_image", richmenu_id=menu["richMenuId"])
    return jsonify(menu=menu)


@bp.get("/chat/richmenu/<richmenu_id>/image")
def rich_menu_image(richmenu_id: str) -> Response:
    """A rich menu's picture (menus never change: a new look is a new menu and id)."""
    found = richmenus.menu_image(richmenu_id)
    if found is None:
        raise LineApiError(404, "Not found")
    content_type, data = found
    return Response(data, mimetype=content_type,
                    headers={"Cache-Control": "private, max-age=86400"})


@bp.get("/chat/content/<message_id>")
def content(message_id: str) -> Response:
    """The bytes a user sent with an image (or other content) message."""
    found = current_emulator().store.get_content(message_id)
    if found is None:
        raise LineApiError(404, "Not found")
    content_type, data = found
    return Response(data, mimetype=content_type, headers={"Cache-Control": "private, max-age=3600"})


@bp.get("/chat/fonts/<name>")
def font(name: str) -> Response:
    """Noto Sans Thai (OFL), read from the installed font package, cached for a year."""
    if name != FONT_NAME:
        abort(404)
    found = font_file()
    response = Response(found["data"], mimetype="font/ttf")
    response.headers["Cache-Control"] = FONT_CACHE_CONTROL
    return response


@cache
def font_file() -> dict[str, Any]:
    """The package's variable TTF (every weight, Thai and Latin) and the package's version."""
    root = resources.files(FONT_PACKAGE)
    metadata = json.loads((root / "metadata.json").read_text(encoding="utf-8"))
    files = [f for f in metadata["files"] if f.get("style", "normal") == "normal"]
    if not files:
        raise LookupError(f"{FONT_PACKAGE} lists no normal-style font file")
    path = root.joinpath(*files[0]["path"].split("/"))
    return {"data": path.read_bytes(), "version": metadata.get("version", "")}
