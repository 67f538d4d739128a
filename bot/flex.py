"""Flex message builders: one small set of helpers for every card Samoe sends.

`bubble` (a title, label/value rows, buttons) makes the report summary, the volunteer's case
card, the parent's status and the officer's case card; `notice` makes the announcement card;
`postback_button` and `uri_button` are their buttons; `carousel` lays up to 12 side by side and
`flex` wraps one with its alt text (the text a phone shows in the chat list and notifications,
in the reader's language, cut to LINE's 1,500 characters). tests/bot/test_flex.py sends the
largest of each through the emulator's limits (bubble 30 KB, carousel 12 and 50 KB, labels 20,
data 300)."""

from __future__ import annotations

ALT_TEXT_MAX = 1500
GREEN = "#06C755"
GREY = "#888888"
#: Characters of a notice's text that fit a bubble (30 KB, at 3 bytes a Thai character).
NOTICE_TEXT_MAX = 9000


def _text(body: str, **style) -> dict:
    return {"type": "text", "text": body or "-", "wrap": True, **style}


def row(label: str, value: str) -> dict:
    """A label and its value side by side."""
    return {
        "type": "box", "layout": "baseline", "spacing": "sm",
        "contents": [
            _text(label, size="sm", color=GREY, flex=2),
            _text(value, size="sm", flex=5),
        ],
    }


def postback_button(label: str, data: str, display: str | None = None,
                    primary: bool = False) -> dict:
    """A button that sends a postback (with the label shown as the user's message)."""
    button = {
        "type": "button", "style": "primary" if primary else "secondary", "height": "sm",
        "action": {"type": "postback", "label": label[:20], "data": data,
                   "displayText": (display or label)[:300]},
    }
    if primary:
        button["color"] = GREEN
    return button


def uri_button(label: str, uri: str, primary: bool = False) -> dict:
    """A button that opens a link (https:, tel:)."""
    button = {"type": "button", "style": "primary" if primary else "link", "height": "sm",
              "action": {"type": "uri", "label": label[:20], "uri": uri}}
    if primary:
        button["color"] = GREEN
    return button


def bubble(title: str, rows: list[tuple[str, str]], buttons: list[dict] | None = None,
           subtitle: str | None = None) -> dict:
    """A card: a title, label/value rows and buttons."""
    header = [_text(title, weight="bold", size="lg")]
    if subtitle:
        header.append(_text(subtitle, size="sm", color=GREY))
    card = {
        "type": "bubble",
        "body": {"type": "box", "layout": "vertical", "spacing": "md", "contents": [
            *header,
            {"type": "separator"},
            {"type": "box", "layout": "vertical", "spacing": "sm",
             "contents": [row(label, value) for label, value in rows]},
        ]},
    }
    if buttons:
        card["footer"] = {"type": "box", "layout": "vertical", "spacing": "sm",
                          "contents": buttons}
    return card


def notice(heading: str, body: str, footnote: str | None = None,
           buttons: list[dict] | None = None) -> dict:
    """A notice card (an announcement): a green heading band, the text as written, a footnote
    and buttons. A long text is shortened to keep the bubble under LINE's 30 KB."""
    if len(body) > NOTICE_TEXT_MAX:
        body = body[:NOTICE_TEXT_MAX - 1] + "…"
    card = {
        "type": "bubble",
        "header": {"type": "box", "layout": "vertical", "backgroundColor": GREEN,
                   "contents": [_text(heading, weight="bold", size="md", color="#FFFFFF")]},
        "body": {"type": "box", "layout": "vertical", "spacing": "md", "contents": [
            _text(body, size="md"),
            *([_text(footnote, size="xs", color=GREY)] if footnote else []),
        ]},
    }
    if buttons:
        card["footer"] = {"type": "box", "layout": "vertical", "spacing": "sm",
                          "contents": buttons}
    return card


def flex(alt_text: str, contents: dict, quick_replies: list[dict] | None = None) -> dict:
    """A Flex message with its alt text (cut to LINE's limit)."""
    message = {"type": "flex", "altText": alt_text[:ALT_TEXT_MAX], "contents": contents}
    if quick_replies:
        message["quickReply"] = {"items": quick_replies[:13]}
    return message


def carousel(bubbles: list[dict]) -> dict:
    """Up to 12 bubbles side by side."""
    return {"type": "carousel", "contents": bubbles[:12]}
