"""Rich menus: one per role (not registered, volunteer, parent, officer) and language (th, en),
defined here as tiles whose areas send the postbacks the conversation engine already reads
(``a=menu&v=<intent>``, ``a=role&v=<role>``, ``a=parent&v=code``); the language tile is a
``richmenuswitch`` to the same role's menu in the other language (its alias) that also tells the
bot to switch language. Pictures are drawn from the same tiles (bot.richmenu_image).

- ``sync(client, session)``: makes LINE hold exactly these menus (created with their image,
  aliased, the Thai "not registered" one as the default), moves users from a replaced menu to
  its successor and deletes the menus and aliases it no longer defines. Each menu's name carries
  a hash of its definition and picture, so a second run changes nothing. Which LINE id serves
  which role and language is kept in ``service_state`` for the sender.
- Linking: whenever a LINE user's role or language changes, or a LINE user is created with a
  role or a language other than Thai, the same transaction queues an outbox row of kind
  ``richmenu.link``; the sender links the user's menu with retries. Before the first sync
  nothing is queued and such a row is skipped quietly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from linebot.v3.messaging import (
    ApiException,
    CreateRichMenuAliasRequest,
    RichMenuBatchLinkOperation,
    RichMenuBatchRequest,
    RichMenuBulkLinkRequest,
    RichMenuRequest,
    UpdateRichMenuAliasRequest,
)
from sqlalchemy.orm import Session

from bot.i18n import force_locale
from bot.i18n import gettext as _
from bot.i18n import lazy_gettext as _l
from bot.richmenu_image import draw_menu
from models import LineUser, OutboxMessage, ServiceState

log = logging.getLogger(__name__)

WIDTH = 2500
FULL, HALF = 1686, 843
ROLES = ("guest", "volunteer", "parent", "officer")
LANGUAGES = ("th", "en")
DEFAULT = ("guest", "th")
PREFIX = "samoe"
STATE_KEY = "richmenus"
LINK_KIND = "richmenu.link"
LABEL_MAX = 20
BATCH_WAIT_SECONDS = 60


@dataclass(frozen=True)
class Tile:
    """One tappable tile: its icon, big label, what it sends, and how many columns it spans."""

    icon: str
    label: Any
    data: dict[str, str] = field(default_factory=dict)
    primary: bool = False
    span: int = 1
    switch_language: bool = False


def _menu(intent: str, icon: str, label: Any, primary: bool = False, span: int = 1) -> Tile:
    return Tile(icon, label, {"a": "menu", "v": intent}, primary, span)


HELP = _menu("help", "help", _l("How to use"))
LANGUAGE = Tile("language", "", switch_language=True)

#: Each role's menu: its height and its rows of tiles (a row's tiles share the width).
LAYOUTS: dict[str, tuple[int, list[list[Tile]]]] = {
    "guest": (FULL, [
        [Tile("volunteer", _l("Village volunteer"), {"a": "role", "v": "volunteer"}, True),
         Tile("parent", _l("Parent or guardian"), {"a": "role", "v": "parent"}, True),
         Tile("officer", _l("Officer"), {"a": "role", "v": "officer"}, True)],
        [HELP, LANGUAGE],
    ]),
    "volunteer": (FULL, [
        [_menu("report", "report", _l("Report a child"), primary=True),
         _menu("my_cases", "cases", _l("My cases")),
         _menu("home_visit", "visit", _l("Home visit"))],
        [HELP, LANGUAGE, _menu("menu", "menu", _l("Menu"))],
    ]),
    "parent": (FULL, [
        [_menu("status", "status", _l("Status"), primary=True),
         Tile("code", _l("Enter a link code"), {"a": "parent", "v": "code"}),
         _menu("ask_help", "ask_help", _l("Ask for help"))],
        [HELP, LANGUAGE, _menu("my_data", "data", _l("My data"))],
    ]),
    "officer": (HALF, [
        [_menu("my_work", "work", _l("My work"), primary=True, span=2), HELP, LANGUAGE],
    ]),
}
#: A sentence under some labels, for people who read slowly.
SUBLABELS = {
    "volunteer": _l("Register with a code"),
    "parent": _l("Follow your child"),
    "officer": _l("Register with a code"),
    "report": _l("A child not in school"),
}


def menu_role(role: str | None) -> str:
    """The menu a LINE user with this role gets (anyone unregistered: guest)."""
    return role if role in ROLES else "guest"


def alias_id(role: str, language: str) -> str:
    """The alias of a role's menu in a language (for richmenuswitch), e.g. samoe-volunteer-th."""
    return f"{PREFIX}-{role}-{language}"


def other_language(language: str) -> str:
    return "en" if language == "th" else "th"


@dataclass(frozen=True)
class Menu:
    """A menu ready for LINE: its request body (named with its digest) and its picture."""

    role: str
    language: str
    body: dict
    image: bytes
    digest: str
    #: The tiles the picture was drawn from (bounds, label, sublabel, icon, primary).
    tiles: tuple[dict, ...] = field(default=(), compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.role}-{self.language}"

    @property
    def alias(self) -> str:
        return alias_id(self.role, self.language)

    @property
    def name(self) -> str:
        return self.body["name"]


def _language_name(language: str) -> str:
    """A language's name written in that language (what a reader of it looks for)."""
    with force_locale(language):
        return _("English") if language == "en" else _("Thai")


@cache
def build(role: str, language: str) -> Menu:
    """The menu of a role in a language: areas, actions and picture from LAYOUTS (drawn once
    per process)."""
    height, rows = LAYOUTS[role]
    row_height = height // len(rows)
    areas, tiles = [], []
    with force_locale(language):
        for r, row in enumerate(rows):
            columns = sum(t.span for t in row)
            x, y = 0, r * row_height
            h = height - y if r == len(rows) - 1 else row_height
            for index, tile in enumerate(row):
                w = WIDTH - x if index == len(row) - 1 else WIDTH * tile.span // columns
                bounds = (x, y, w, h)
                x += w
                if tile.switch_language:
                    other = other_language(language)
                    label, sublabel = _language_name(other), _("Switch language")
                    action = {"type": "richmenuswitch", "label": label[:LABEL_MAX],
                              "richMenuAliasId": alias_id(role, other),
                              "data": urlencode({"a": "menu", "v": "language", "arg": other})}
                else:
                    label = str(tile.label)
                    sub = SUBLABELS.get(tile.icon)
                    sublabel = str(sub) if sub else None
                    action = {"type": "postback", "label": label[:LABEL_MAX],
                              "data": urlencode(tile.data), "displayText": label}
                areas.append({"bounds": dict(zip(("x", "y", "width", "height"), bounds,
                                                 strict=True)), "action": action})
                tiles.append({"bounds": bounds, "label": label, "sublabel": sublabel,
                              "icon": tile.icon, "primary": tile.primary})
        chat_bar = _("Menu")[:14]
    body = {"size": {"width": WIDTH, "height": height}, "selected": True, "name": "",
            "chatBarText": chat_bar, "areas": areas}
    image = draw_menu(WIDTH, height, tiles)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
                            + image).hexdigest()[:20]
    body["name"] = f"{PREFIX}/{role}-{language}/{digest}"
    return Menu(role, language, body, image, digest, tuple(tiles))


def build_all() -> list[Menu]:
    """Every menu Samoe defines (4 roles × 2 languages)."""
    return [build(role, language) for role in ROLES for language in LANGUAGES]


# -- sync -----------------------------------------------------------------------------------------


@dataclass
class SyncReport:
    """What a sync changed (all zero: LINE already held exactly these menus)."""

    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    default: bool = False
    relinked: int = 0

    @property
    def changes(self) -> int:
        return (len(self.created) + len(self.deleted) + len(self.aliases) + int(self.default)
                + self.relinked)


def _key_of(name: str) -> str | None:
    """The role-language key of one of our menu names (samoe/volunteer-th/<digest>)."""
    parts = name.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == PREFIX else None


def sync(client, session: Session, menus: list[Menu] | None = None) -> SyncReport:
    """Make LINE hold exactly ``menus`` (default: every defined menu), idempotently."""
    menus = build_all() if menus is None else menus
    api, blob, timeout = client.api, client.blob, client.timeout
    report = SyncReport()
    existing = {m.name: m for m in api.get_rich_menu_list(_request_timeout=timeout).richmenus}
    state = load_state(session) or {}
    session.rollback()
    known_ids = set((state.get("menus") or {}).values())
    ids: dict[str, str] = {}
    for menu in menus:
        found = existing.get(menu.name)
        if found is not None and (found.rich_menu_id in known_ids
                                  or _has_image(blob, found.rich_menu_id, timeout)):
            ids[menu.key] = found.rich_menu_id
            continue
        if found is not None:  # left without its picture by a run that stopped half-way
            api.delete_rich_menu(found.rich_menu_id, _request_timeout=timeout)
            report.deleted.append(found.rich_menu_id)
        richmenu_id = api.create_rich_menu(RichMenuRequest.from_dict(menu.body),
                                           _request_timeout=timeout).rich_menu_id
        blob.set_rich_menu_image(richmenu_id, menu.image,
                                 _headers={"Content-Type": "image/png"},
                                 _request_timeout=timeout)
        ids[menu.key] = richmenu_id
        report.created.append(richmenu_id)
        log.info("rich menu %s created: %s", menu.name, richmenu_id)

    aliases = {a.rich_menu_alias_id: a.rich_menu_id
               for a in api.get_rich_menu_alias_list(_request_timeout=timeout).aliases}
    for menu in menus:
        target = ids[menu.key]
        if menu.alias not in aliases:
            api.create_rich_menu_alias(CreateRichMenuAliasRequest(
                rich_menu_alias_id=menu.alias, rich_menu_id=target), _request_timeout=timeout)
            report.aliases.append(menu.alias)
        elif aliases[menu.alias] != target:
            api.update_rich_menu_alias(menu.alias, UpdateRichMenuAliasRequest(
                rich_menu_id=target), _request_timeout=timeout)
            report.aliases.append(menu.alias)
    wanted_aliases = {m.alias for m in menus}
    for alias in aliases:
        if alias.startswith(PREFIX + "-") and alias not in wanted_aliases:
            api.delete_rich_menu_alias(alias, _request_timeout=timeout)
            report.aliases.append(alias)

    default_key = f"{DEFAULT[0]}-{DEFAULT[1]}"
    if default_key in ids:
        try:
            current = api.get_default_rich_menu_id(_request_timeout=timeout).rich_menu_id
        except ApiException as exc:
            if exc.status != 404:
                raise
            current = None
        if current != ids[default_key]:
            api.set_default_rich_menu(ids[default_key], _request_timeout=timeout)
            report.default = True

    # menus no longer defined: their users move to the menu now serving that role and language
    wanted = {m.name for m in menus}
    stale = [m for name, m in existing.items()
             if _key_of(name) is not None and name not in wanted
             and m.rich_menu_id not in report.deleted]
    moves = [RichMenuBatchLinkOperation(var_from=m.rich_menu_id, to=ids[_key_of(m.name)])
             for m in stale if _key_of(m.name) in ids]
    if moves:
        response = api.rich_menu_batch_with_http_info(RichMenuBatchRequest(operations=moves),
                                                      _request_timeout=timeout)
        _wait_for_batch(api, (response.headers or {}).get("X-Line-Request-Id"), timeout)
        report.relinked = len(moves)
    for m in stale:
        api.delete_rich_menu(m.rich_menu_id, _request_timeout=timeout)
        report.deleted.append(m.rich_menu_id)

    new_state = {"menus": ids, "digests": {m.key: m.digest for m in menus}}
    if new_state != state:
        save_state(session, new_state)
    return report


def _has_image(blob, richmenu_id: str, timeout) -> bool:
    try:
        blob.get_rich_menu_image(richmenu_id, _request_timeout=timeout)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _wait_for_batch(api, request_id: str | None, timeout) -> None:
    """LINE moves users in the background: wait (a minute at most) before deleting menus."""
    if not request_id:
        return
    deadline = time.monotonic() + BATCH_WAIT_SECONDS
    while time.monotonic() < deadline:
        progress = api.get_rich_menu_batch_progress(request_id, _request_timeout=timeout)
        if progress.phase != "ongoing":
            if progress.phase == "failed":
                log.warning("rich menu batch %s failed for some users", request_id)
            return
        time.sleep(1)
    log.warning("rich menu batch %s still running after %s s", request_id, BATCH_WAIT_SECONDS)


def load_state(session: Session) -> dict | None:
    """What the last sync recorded: {"menus": {role-language: richMenuId}, "digests": ...}."""
    value = session.scalar(sa.select(ServiceState.value).where(ServiceState.key == STATE_KEY))
    return json.loads(value) if value else None


def save_state(session: Session, state: dict) -> None:
    row = session.get(ServiceState, STATE_KEY)
    if row is None:
        row = ServiceState(key=STATE_KEY)
        session.add(row)
    row.value = json.dumps(state, sort_keys=True)
    session.commit()


def menu_id_for(state: dict | None, role: str | None, language: str | None) -> str | None:
    """The LINE id of the menu for this role and language (None before the first sync)."""
    if not state:
        return None
    lang = language if language in LANGUAGES else "th"
    return (state.get("menus") or {}).get(f"{menu_role(role)}-{lang}")


# -- linking users --------------------------------------------------------------------------------


def queue_link(session: Session, user: LineUser) -> OutboxMessage | None:
    """Queue the linking of the user's menu (nothing before the first sync)."""
    with session.no_autoflush:
        if session.get(ServiceState, STATE_KEY) is None:
            return None
        for pending in session.new:
            if (isinstance(pending, OutboxMessage) and pending.kind == LINK_KIND
                    and pending.recipient == user.line_user_id):
                return pending
    row = OutboxMessage(kind=LINK_KIND, payload="{}", recipient=user.line_user_id,
                        retry_key=str(uuid.uuid4()))
    session.add(row)
    return row


def has_own_menu(role: str | None, language: str | None) -> bool:
    """Whether a user with this role and language is served by a menu other than the default
    (the Thai "not registered" one every user sees until a menu is linked to them)."""
    return (menu_role(role), language if language in LANGUAGES else "th") != DEFAULT


def _on_before_flush(session: Session, _context, _instances) -> None:
    """A LINE user whose role or language changes gets their menu linked (queued, durable);
    so does a new one created with a role or a language of their own (the demo users, an
    import), who would otherwise see the default menu."""
    for obj in list(session.new):
        if isinstance(obj, LineUser) and has_own_menu(obj.role, obj.language):
            queue_link(session, obj)
    for obj in list(session.dirty):
        if not isinstance(obj, LineUser):
            continue
        attrs = sa.inspect(obj).attrs
        if attrs.role.history.has_changes() or attrs.language.history.has_changes():
            queue_link(session, obj)


def deliver_link(sender, row: OutboxMessage, user: LineUser | None) -> None:
    """Link the recipient's menu (the sender's part for ``richmenu.link`` rows)."""
    from bot import line_client as lc
    from bot.sender import MAX_ATTEMPTS, backoff

    state = load_state(sender.session)
    sender.session.rollback()  # no transaction stays open across a call to LINE
    target = menu_id_for(state, user.role if user else None, user.language if user else None)
    if target is None:
        sender._finish(row.id, status=OutboxMessage.SKIPPED, via="richmenu",
                       last_error="no rich menus synced")
        return
    result = sender.client.link_rich_menu(row.recipient, target)
    attempts = row.attempts + 1
    common = {"attempts": attempts, "last_status": result.status,
              "request_id": result.request_id, "via": "richmenu"}
    if result.delivered:
        sender._finish(row.id, status=OutboxMessage.SENT, sent_at=sender.clock(),
                       last_error=None, **common)
    elif result.outcome in lc.RETRYABLE and attempts < MAX_ATTEMPTS:
        sender._finish(row.id, next_attempt_at=sender.clock() + backoff(attempts),
                       last_error=result.message or result.outcome, **common)
    else:
        sender._finish(row.id, status=OutboxMessage.FAILED,
                       last_error=result.message or result.outcome, **common)


def link_all(client, session: Session) -> int:
    """Link every followed, registered user's menu now (bulk, 500 a call); return how many."""
    state = load_state(session)
    if not state:
        return 0
    groups: dict[str, list[str]] = {}
    for line_user_id, role, language in session.execute(
            sa.select(LineUser.line_user_id, LineUser.role, LineUser.language)
            .where(LineUser.followed.is_(True))):
        target = menu_id_for(state, role, language)
        if target and has_own_menu(role, language):
            groups.setdefault(target, []).append(line_user_id)
    session.rollback()
    done = 0
    for target, users in groups.items():
        for start in range(0, len(users), 500):
            batch = users[start:start + 500]
            client.api.link_rich_menu_id_to_users(
                RichMenuBulkLinkRequest(rich_menu_id=target, user_ids=batch),
                _request_timeout=client.timeout)
            done += len(batch)
    return done


def init_app(app) -> None:
    """Watch role and language changes (once per process), and render link rows as nothing."""
    from bot.outbox import renderer

    if not sa.event.contains(Session, "before_flush", _on_before_flush):
        sa.event.listen(Session, "before_flush", _on_before_flush)
    renderer(LINK_KIND)(lambda payload, user: [])
