"""The emulated rich menu API: menus, their images on the data host, aliases, the default menu
and the menu linked to each user, with LINE's limits and error bodies.

LINE's rules enforced here: width 800–2500 px, height at least 250 px, width/height at least
1.45; 1–20 areas inside the menu; chatBarText 1–14 characters and name 1–300; action labels
≤ 20, data and displayText ≤ 300; each action carries what its type needs (a postback its
data, a message its text, a uri action an http(s), line or tel URI of at most 1,000
characters, a datetimepicker its data and a mode of date, time or datetime, a
``richmenuswitch`` its data and an alias id of at most 32 characters); an alias id is 1–32
lowercase letters, digits, ``-`` or ``_`` (the OpenAPI spec's CreateRichMenuAliasRequest); the
image is one PNG or JPEG of at most 1 MB with exactly the menu's size, uploaded once; a menu
without an image cannot be linked, made the default or aliased; creating and deleting menus
are limited to 100 an hour. Menus are immutable: a change is a new menu. Every refusal is a
400 in LINE's shape, its details naming the property (``areas[0].action.uri``).
"""

from __future__ import annotations

import io
import re
import secrets
from typing import Any

import sqlalchemy as sa
from flask import Response, g, jsonify, request
from linebot.v3.messaging import RichMenuRequest

from emulator import errors
from emulator import tables as t
from emulator.api import _json_object, api_route
from emulator.errors import LineApiError
from emulator.ids import iso_from_ms, now_ms
from emulator.limits import Detail, _check_action, _detail, _length, summary
from emulator.state import current_emulator

MIN_WIDTH, MAX_WIDTH, MIN_HEIGHT = 800, 2500, 250
MIN_ASPECT = 1.45
MAX_AREAS = 20
MAX_CHAT_BAR_TEXT = 14
MAX_NAME = 300
MAX_IMAGE_BYTES = 1024 * 1024
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG"}
MAX_BULK_USERS = 500
MAX_BATCH_OPERATIONS = 1000
#: Create and delete calls allowed per hour (DESIGN.md §5).
RATE_PER_HOUR = 100
RATE_LIMITED_ENDPOINTS = ("richmenu_create", "richmenu_delete")
ALIAS_ID = re.compile(r"^[a-z0-9_-]{1,32}$")
MAX_ALIAS_ID = 32
MAX_CLIPBOARD_TEXT = 1000
DATETIME_MODES = ("date", "time", "datetime")
MSG_REQUIRED = "must be specified"
ACTION_TYPES = frozenset({"postback", "message", "uri", "datetimepicker", "richmenuswitch",
                          "camera", "cameraRoll", "location", "clipboard"})
_DEFAULT_ROW = 1

MSG_MENU_NOT_FOUND = "richmenu not found"
MSG_IMAGE_MISSING = "must upload richmenu image before applying it to user"
MSG_IMAGE_EXISTS = "An image has already been uploaded to the richmenu"
MSG_ALIAS_NOT_FOUND = "richmenu alias not found"
MSG_ALIAS_EXISTS = "conflict richmenu alias id"
MSG_NO_USER_MENU = "the user has no richmenu"
MSG_NO_DEFAULT = "no default richmenu"


# -- checking a rich menu object ----------------------------------------------------------------


def check_richmenu(body: dict[str, Any]) -> list[Detail]:
    """Return LINE's complaints about a rich menu object (an empty list when it is valid)."""
    details: list[Detail] = []
    size = body.get("size")
    width = height = None
    if not isinstance(size, dict):
        details.append(_detail("May not be empty", "size"))
    else:
        width, height = size.get("width"), size.get("height")
        if not _is_int(width) or not MIN_WIDTH <= width <= MAX_WIDTH:
            details.append(_detail(f"Must be between {MIN_WIDTH} and {MAX_WIDTH}", "size.width"))
            width = None
        if not _is_int(height) or height < MIN_HEIGHT:
            details.append(_detail(f"Must be {MIN_HEIGHT} or more", "size.height"))
            height = None
        if width and height and width / height < MIN_ASPECT:
            details.append(_detail(f"Aspect ratio (width / height) must be {MIN_ASPECT} or more",
                                   "size"))
    if not isinstance(body.get("selected"), bool):
        details.append(_detail("Must be true or false", "selected"))
    for key, high in (("name", MAX_NAME), ("chatBarText", MAX_CHAT_BAR_TEXT)):
        if not isinstance(body.get(key), str):
            details.append(_detail("May not be empty", key))
        else:
            details += _length(body[key], 1, high, key)
    areas = body.get("areas")
    if not isinstance(areas, list) or not 1 <= len(areas) <= MAX_AREAS:
        details.append(_detail(f"Size must be between 1 and {MAX_AREAS}", "areas"))
        areas = []
    for index, area in enumerate(areas):
        details += _check_area(area, f"areas[{index}]", width, height)
    if details:
        return details
    try:
        RichMenuRequest.from_dict(body)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        # What the checks above do not know yet, the SDK's models refuse: name what they name.
        errors = getattr(exc, "errors", None)
        if callable(errors):
            return [_detail(e["msg"], ".".join(str(p) for p in e["loc"])) for e in errors()]
        return [_detail(str(exc).splitlines()[0][:300], "areas")]
    return []


def _check_area(area: Any, path: str, width: int | None, height: int | None) -> list[Detail]:
    if not isinstance(area, dict):
        return [_detail("Must be an object", path)]
    details: list[Detail] = []
    bounds = area.get("bounds")
    if not isinstance(bounds, dict):
        details.append(_detail("May not be empty", f"{path}.bounds"))
    else:
        x, y, w, h = (bounds.get(k) for k in ("x", "y", "width", "height"))
        for key, value, low in (("x", x, 0), ("y", y, 0), ("width", w, 1), ("height", h, 1)):
            if not _is_int(value) or value < low:
                details.append(_detail(f"Must be {low} or more", f"{path}.bounds.{key}"))
        if not details and width and height and (x + w > width or y + h > height):
            details.append(_detail("The area must be inside the rich menu", f"{path}.bounds"))
    action = area.get("action")
    if not isinstance(action, dict):
        details.append(_detail("May not be empty", f"{path}.action"))
        return details
    if action.get("type") not in ACTION_TYPES:
        details.append(_detail("Unsupported action type", f"{path}.action.type"))
    details += _check_action(action, f"{path}.action")
    details += _check_action_fields(action, f"{path}.action")
    return details


def _check_action_fields(action: dict[str, Any], path: str) -> list[Detail]:
    """What each action type must carry (LINE's action objects)."""
    kind = action.get("type")
    details: list[Detail] = []

    def required(key: str) -> str | None:
        value = action.get(key)
        if not isinstance(value, str) or not value:
            details.append(_detail(MSG_REQUIRED, f"{path}.{key}"))
            return None
        return value

    if kind in ("postback", "datetimepicker", "richmenuswitch"):
        required("data")
    if kind == "message":
        required("text")
    elif kind == "uri":
        if not isinstance(action.get("uri"), str):
            required("uri")  # a given one's length and scheme: limits._check_action
    elif kind == "datetimepicker":
        if action.get("mode") not in DATETIME_MODES:
            details.append(_detail("Must be one of " + ", ".join(DATETIME_MODES),
                                   f"{path}.mode"))
    elif kind == "richmenuswitch":
        alias = required("richMenuAliasId")
        if alias is not None:
            details += _length(alias, 1, MAX_ALIAS_ID, f"{path}.richMenuAliasId")
    elif kind == "clipboard":
        text = required("clipboardText")
        if text is not None:
            details += _length(text, 1, MAX_CLIPBOARD_TEXT, f"{path}.clipboardText")
    return details


def image_problem(data: bytes, content_type: str, size: dict[str, int]) -> str | None:
    """Why LINE would refuse this image for a menu of ``size`` (None when it is fine)."""
    if content_type not in IMAGE_TYPES:
        return "The content type must be image/jpeg or image/png"
    if not data:
        return "The image is empty"
    if len(data) > MAX_IMAGE_BYTES:
        return f"The image must be {MAX_IMAGE_BYTES} bytes or less"
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            found_format, found_size = image.format, image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return "The image could not be read"
    if found_format != IMAGE_TYPES[content_type]:
        return "The image does not match its content type"
    if found_size != (size["width"], size["height"]):
        return (f"The image size {found_size[0]}x{found_size[1]} must match the rich menu size "
                f"{size['width']}x{size['height']}")
    return None


# -- the menus ------------------------------------------------------------------------------------


@api_route("/v2/bot/richmenu/validate", "richmenu_check")
def validate_richmenu() -> Response:
    """Check a rich menu object without creating it."""
    _valid_body()
    return jsonify({})


@api_route("/v2/bot/richmenu", "richmenu_create")
def create_richmenu() -> Response:
    """Create a rich menu (no image yet); answer its id."""
    body = _valid_body()
    _rate_limit()
    richmenu_id = "richmenu-" + secrets.token_hex(16)
    with _engine().begin() as conn:
        conn.execute(t.richmenus.insert().values(richmenu_id=richmenu_id, body=body,
                                                 created_at=now_ms()))
    return jsonify(richMenuId=richmenu_id)


@api_route("/v2/bot/richmenu/list", "richmenu_list", methods=("GET",))
def list_richmenus() -> Response:
    """Every rich menu of the channel."""
    with _engine().begin() as conn:
        rows = conn.execute(sa.select(t.richmenus.c.richmenu_id, t.richmenus.c.body)
                            .order_by(t.richmenus.c.created_at, t.richmenus.c.richmenu_id)).all()
    return jsonify(richmenus=[_menu_json(row.richmenu_id, row.body) for row in rows])


@api_route("/v2/bot/richmenu/<richmenu_id>", "richmenu_get", methods=("GET",))
def get_richmenu(richmenu_id: str) -> Response:
    """One rich menu."""
    body = menu_body(richmenu_id)
    if body is None:
        raise LineApiError(404, MSG_MENU_NOT_FOUND)
    return jsonify(_menu_json(richmenu_id, body))


@api_route("/v2/bot/richmenu/<richmenu_id>", "richmenu_delete", methods=("DELETE",))
def delete_richmenu(richmenu_id: str) -> Response:
    """Delete a menu; users linked to it, the default and its aliases let go of it."""
    if menu_body(richmenu_id) is None:
        raise LineApiError(404, MSG_MENU_NOT_FOUND)
    _rate_limit()
    with _engine().begin() as conn:
        for table in (t.richmenu_links, t.richmenu_default, t.richmenu_aliases, t.richmenus):
            conn.execute(table.delete().where(table.c.richmenu_id == richmenu_id))
    return jsonify({})


@api_route("/v2/bot/richmenu/<richmenu_id>/content", "richmenu_upload")
def upload_image(richmenu_id: str) -> Response:
    """Upload the menu's image (data host): PNG or JPEG, ≤ 1 MB, the menu's size, once."""
    body = menu_body(richmenu_id)
    if body is None:
        raise LineApiError(404, MSG_MENU_NOT_FOUND)
    content_type = (request.mimetype or "").lower()
    data = request.get_data()
    problem = image_problem(data, content_type, body["size"])
    if problem:
        raise LineApiError(400, problem)
    with _engine().begin() as conn:
        stored = conn.execute(
            t.richmenus.update()
            .where(t.richmenus.c.richmenu_id == richmenu_id, t.richmenus.c.image.is_(None))
            .values(image=data, image_type=content_type)
        ).rowcount
    if stored != 1:
        raise LineApiError(400, MSG_IMAGE_EXISTS)
    return jsonify({})


@api_route("/v2/bot/richmenu/<richmenu_id>/content", "richmenu_image", methods=("GET",))
def download_image(richmenu_id: str) -> Response:
    """The menu's image (data host)."""
    found = menu_image(richmenu_id)
    if found is None:
        raise LineApiError(404, errors.MSG_NOT_FOUND)
    content_type, data = found
    return Response(data, mimetype=content_type)


# -- the default menu -----------------------------------------------------------------------------


@api_route("/v2/bot/user/all/richmenu/<richmenu_id>", "richmenu_default")
def set_default(richmenu_id: str) -> Response:
    """Make a menu (with its image) the one users without their own menu see."""
    _usable(richmenu_id)
    with _engine().begin() as conn:
        conn.execute(t.richmenu_default.delete())
        conn.execute(t.richmenu_default.insert().values(id=_DEFAULT_ROW, richmenu_id=richmenu_id))
    return jsonify({})


@api_route("/v2/bot/user/all/richmenu", "richmenu_default", methods=("GET",))
def get_default() -> Response:
    """The default menu's id."""
    found = default_menu_id()
    if found is None:
        raise LineApiError(404, MSG_NO_DEFAULT)
    return jsonify(richMenuId=found)


@api_route("/v2/bot/user/all/richmenu", "richmenu_default", methods=("DELETE",))
def cancel_default() -> Response:
    """No default menu any more."""
    with _engine().begin() as conn:
        conn.execute(t.richmenu_default.delete())
    return jsonify({})


# -- per user -------------------------------------------------------------------------------------


@api_route("/v2/bot/user/<user_id>/richmenu/<richmenu_id>", "richmenu_link")
def link_user(user_id: str, richmenu_id: str) -> Response:
    """Link a menu to one user (it replaces the default for them)."""
    _usable(richmenu_id)
    with _engine().begin() as conn:
        _link(conn, [user_id], richmenu_id)
    return jsonify({})


@api_route("/v2/bot/user/<user_id>/richmenu", "richmenu_link", methods=("GET",))
def get_user_menu(user_id: str) -> Response:
    """The id of the menu linked to a user (not the default)."""
    found = linked_menu_id(user_id)
    if found is None:
        raise LineApiError(404, MSG_NO_USER_MENU)
    return jsonify(richMenuId=found)


@api_route("/v2/bot/user/<user_id>/richmenu", "richmenu_link", methods=("DELETE",))
def unlink_user(user_id: str) -> Response:
    """Unlink a user's menu (they see the default again)."""
    with _engine().begin() as conn:
        conn.execute(t.richmenu_links.delete().where(t.richmenu_links.c.user_id == user_id))
    return jsonify({})


@api_route("/v2/bot/richmenu/bulk/link", "richmenu_bulk")
def bulk_link() -> tuple[Response, int]:
    """Link a menu to up to 500 users."""
    body = _json_object()
    users = _user_ids(body)
    richmenu_id = body.get("richMenuId")
    if not isinstance(richmenu_id, str) or not richmenu_id:
        raise _bad([_detail("May not be empty", "richMenuId")])
    _usable(richmenu_id)
    with _engine().begin() as conn:
        _link(conn, users, richmenu_id)
    return jsonify({}), 202


@api_route("/v2/bot/richmenu/bulk/unlink", "richmenu_bulk")
def bulk_unlink() -> tuple[Response, int]:
    """Unlink the menus of up to 500 users."""
    users = _user_ids(_json_object())
    with _engine().begin() as conn:
        conn.execute(t.richmenu_links.delete().where(t.richmenu_links.c.user_id.in_(users)))
    return jsonify({}), 202


@api_route("/v2/bot/richmenu/validate/batch", "richmenu_batch")
def validate_batch() -> Response:
    """Check a batch request without carrying it out."""
    _batch_operations(_json_object())
    return jsonify({})


@api_route("/v2/bot/richmenu/batch", "richmenu_batch")
def batch() -> tuple[Response, int]:
    """Replace or unlink the menus of every user linked to a menu (done at once here)."""
    operations = _batch_operations(_json_object())
    links = t.richmenu_links
    now = now_ms()
    with _engine().begin() as conn:
        for op in operations:
            if op["type"] == "link":
                conn.execute(links.update().where(links.c.richmenu_id == op["from"])
                             .values(richmenu_id=op["to"]))
            elif op["type"] == "unlink":
                conn.execute(links.delete().where(links.c.richmenu_id == op["from"]))
            else:
                conn.execute(links.delete())
        conn.execute(t.richmenu_batches.insert().values(request_id=g.request_id,
                                                        accepted_at=now, completed_at=now))
    return jsonify({}), 202


@api_route("/v2/bot/richmenu/progress/batch", "richmenu_batch", methods=("GET",))
def batch_progress() -> Response:
    """Where a batch request is (always done, in the emulator)."""
    request_id = request.args.get("requestId", "")
    with _engine().begin() as conn:
        row = conn.execute(sa.select(t.richmenu_batches)
                           .where(t.richmenu_batches.c.request_id == request_id)).first()
    if row is None:
        raise LineApiError(404, errors.MSG_NOT_FOUND)
    return jsonify(phase="succeeded", acceptedTime=iso_from_ms(row.accepted_at),
                   completedTime=iso_from_ms(row.completed_at))


# -- aliases --------------------------------------------------------------------------------------


@api_route("/v2/bot/richmenu/alias", "richmenu_alias")
def create_alias() -> Response:
    """Give a menu (with its image) an alias id, for richmenuswitch actions."""
    body = _json_object()
    alias_id, richmenu_id = body.get("richMenuAliasId"), body.get("richMenuId")
    details = []
    if not isinstance(alias_id, str) or not ALIAS_ID.match(alias_id):
        details.append(_detail("Must be 1 to 32 lowercase letters, digits, - or _",
                               "richMenuAliasId"))
    if not isinstance(richmenu_id, str) or not richmenu_id:
        details.append(_detail("May not be empty", "richMenuId"))
    if details:
        raise _bad(details)
    _usable(richmenu_id)
    with _engine().begin() as conn:
        if conn.execute(sa.select(t.richmenu_aliases.c.alias_id)
                        .where(t.richmenu_aliases.c.alias_id == alias_id)).first():
            raise LineApiError(400, MSG_ALIAS_EXISTS)
        conn.execute(t.richmenu_aliases.insert().values(alias_id=alias_id,
                                                        richmenu_id=richmenu_id))
    return jsonify({})


@api_route("/v2/bot/richmenu/alias/list", "richmenu_alias", methods=("GET",))
def list_aliases() -> Response:
    """Every alias."""
    with _engine().begin() as conn:
        rows = conn.execute(sa.select(t.richmenu_aliases)
                            .order_by(t.richmenu_aliases.c.alias_id)).all()
    return jsonify(aliases=[{"richMenuAliasId": r.alias_id, "richMenuId": r.richmenu_id}
                            for r in rows])


@api_route("/v2/bot/richmenu/alias/<alias_id>", "richmenu_alias", methods=("GET",))
def get_alias(alias_id: str) -> Response:
    """One alias."""
    found = alias_target(alias_id)
    if found is None:
        raise LineApiError(404, MSG_ALIAS_NOT_FOUND)
    return jsonify(richMenuAliasId=alias_id, richMenuId=found)


@api_route("/v2/bot/richmenu/alias/<alias_id>", "richmenu_alias")
def update_alias(alias_id: str) -> Response:
    """Point an alias at another menu."""
    body = _json_object()
    richmenu_id = body.get("richMenuId")
    if not isinstance(richmenu_id, str) or not richmenu_id:
        raise _bad([_detail("May not be empty", "richMenuId")])
    if alias_target(alias_id) is None:
        raise LineApiError(400, MSG_ALIAS_NOT_FOUND)
    _usable(richmenu_id)
    with _engine().begin() as conn:
        conn.execute(t.richmenu_aliases.update()
                     .where(t.richmenu_aliases.c.alias_id == alias_id)
                     .values(richmenu_id=richmenu_id))
    return jsonify({})


@api_route("/v2/bot/richmenu/alias/<alias_id>", "richmenu_alias", methods=("DELETE",))
def delete_alias(alias_id: str) -> Response:
    """Delete an alias (the menu stays)."""
    with _engine().begin() as conn:
        gone = conn.execute(t.richmenu_aliases.delete()
                            .where(t.richmenu_aliases.c.alias_id == alias_id)).rowcount
    if gone != 1:
        raise LineApiError(400, MSG_ALIAS_NOT_FOUND)
    return jsonify({})


# -- reads shared with the chat page and the control API ---------------------------------------


def menu_body(richmenu_id: str) -> dict[str, Any] | None:
    """The rich menu object as created, or None."""
    with _engine().begin() as conn:
        body = conn.scalar(sa.select(t.richmenus.c.body)
                           .where(t.richmenus.c.richmenu_id == richmenu_id))
    return body


def menu_image(richmenu_id: str) -> tuple[str, bytes] | None:
    """(content type, bytes) of the menu's image, or None."""
    with _engine().begin() as conn:
        row = conn.execute(sa.select(t.richmenus.c.image_type, t.richmenus.c.image)
                           .where(t.richmenus.c.richmenu_id == richmenu_id)).first()
    if row is None or row.image is None:
        return None
    return row.image_type, bytes(row.image)


def linked_menu_id(user_id: str) -> str | None:
    """The menu linked to this user, or None."""
    with _engine().begin() as conn:
        return conn.scalar(sa.select(t.richmenu_links.c.richmenu_id)
                           .where(t.richmenu_links.c.user_id == user_id))


def default_menu_id() -> str | None:
    """The default menu, or None."""
    with _engine().begin() as conn:
        return conn.scalar(sa.select(t.richmenu_default.c.richmenu_id))


def alias_target(alias_id: str) -> str | None:
    """The menu an alias points at, or None."""
    with _engine().begin() as conn:
        return conn.scalar(sa.select(t.richmenu_aliases.c.richmenu_id)
                           .where(t.richmenu_aliases.c.alias_id == alias_id))


def shown_menu(user_id: str) -> dict[str, Any] | None:
    """The menu LINE shows this user: the linked one, else the default; with its id."""
    richmenu_id = linked_menu_id(user_id) or default_menu_id()
    body = menu_body(richmenu_id) if richmenu_id else None
    return _menu_json(richmenu_id, body) if body else None


def switch_to_alias(user_id: str, alias_id: str) -> str | None:
    """What a richmenuswitch tap does on LINE: link the alias's menu to the user."""
    richmenu_id = alias_target(alias_id)
    if richmenu_id is None:
        return None
    with _engine().begin() as conn:
        _link(conn, [user_id], richmenu_id)
    return richmenu_id


# -- helpers --------------------------------------------------------------------------------------


def _engine() -> sa.Engine:
    return current_emulator().engine


def _menu_json(richmenu_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"richMenuId": richmenu_id, **body}


def _valid_body() -> dict[str, Any]:
    body = _json_object()
    details = check_richmenu(body)
    if details:
        raise _bad(details)
    return {k: body[k] for k in ("size", "selected", "name", "chatBarText", "areas")}


def _bad(details: list[Detail]) -> LineApiError:
    return LineApiError(400, summary(details), details)


def _usable(richmenu_id: str) -> None:
    """A menu that exists and has its image (else LINE's 400s)."""
    with _engine().begin() as conn:
        row = conn.execute(sa.select(t.richmenus.c.image_type)
                           .where(t.richmenus.c.richmenu_id == richmenu_id)).first()
    if row is None:
        raise LineApiError(400, MSG_MENU_NOT_FOUND)
    if row.image_type is None:
        raise LineApiError(400, MSG_IMAGE_MISSING)


def _link(conn: sa.Connection, user_ids: list[str], richmenu_id: str) -> None:
    links = t.richmenu_links
    conn.execute(links.delete().where(links.c.user_id.in_(user_ids)))
    if user_ids:
        conn.execute(links.insert(), [{"user_id": u, "richmenu_id": richmenu_id}
                                      for u in dict.fromkeys(user_ids)])


def _user_ids(body: dict[str, Any]) -> list[str]:
    users = body.get("userIds")
    if (not isinstance(users, list) or not 1 <= len(users) <= MAX_BULK_USERS
            or not all(isinstance(u, str) and u for u in users)):
        raise _bad([_detail(f"Size must be between 1 and {MAX_BULK_USERS}", "userIds")])
    return users


def _batch_operations(body: dict[str, Any]) -> list[dict[str, Any]]:
    operations = body.get("operations")
    if not isinstance(operations, list) or not 1 <= len(operations) <= MAX_BATCH_OPERATIONS:
        raise _bad([_detail(f"Size must be between 1 and {MAX_BATCH_OPERATIONS}",
                            "operations")])
    details = []
    for index, op in enumerate(operations):
        path = f"operations[{index}]"
        kind = op.get("type") if isinstance(op, dict) else None
        needs = {"link": ("from", "to"), "unlink": ("from",), "unlinkAll": ()}.get(kind)
        if needs is None:
            details.append(_detail("Must be link, unlink or unlinkAll", f"{path}.type"))
            continue
        for key in needs:
            if not isinstance(op.get(key), str) or menu_body(op[key]) is None:
                details.append(_detail(MSG_MENU_NOT_FOUND, f"{path}.{key}"))
    if details:
        raise _bad(details)
    return operations


def _rate_limit() -> None:
    """100 creates and deletes an hour, counted from the request log."""
    log = t.api_requests
    with _engine().begin() as conn:
        used = conn.scalar(sa.select(sa.func.count()).select_from(log).where(
            log.c.endpoint.in_(RATE_LIMITED_ENDPOINTS), log.c.status == 200,
            log.c.at > now_ms() - 3_600_000))
    if used >= RATE_PER_HOUR:
        raise LineApiError(429, errors.MSG_RATE_LIMIT)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
