"""A test-only bot that answers with every kind of thing the chat page must render.

Today's bot sends plain text only, so the browser tests drive the page's quick replies, Flex
bubbles, carousels and templates with this dispatcher, run by a real `Worker`:

- "ตัวอย่าง" → a Flex bubble, then a text whose quick replies use every action type;
- "การ์ด" → a Flex carousel, a buttons template, a confirm template, a sticker and an image;
- any other text → "ได้รับข้อความ: <text>";
- a postback → "postback <data> <params as key=value>";
- an image → "ได้รับรูปภาพแล้วค่ะ", a location → "ได้รับตำแหน่งแล้วค่ะ <lat>, <lon>".

Every event it handles is appended to `received` (the raw webhook JSON).
"""

from __future__ import annotations

import threading

from linebot.v3.webhooks import (
    FollowEvent,
    ImageMessageContent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
)

from bot.dispatch import Dispatcher, EventContext
from bot.messages import text

SHOWCASE = "ตัวอย่าง"
CARDS = "การ์ด"
#: An address outside the app: the page must show a placeholder for it and never fetch it.
OUTSIDE_IMAGE = "https://images.example.com/hero.png"


def action_item(action: dict) -> dict:
    return {"type": "action", "action": action}


def quick_replies(link: str) -> list[dict]:
    """One quick reply of every action type (LINE allows 13; labels ≤ 20 characters)."""
    return [
        action_item({"type": "message", "label": "แจ้งเด็ก", "text": "แจ้งเด็ก"}),
        action_item({"type": "postback", "label": "ผู้ปกครอง", "data": "role=parent",
                     "displayText": "ผู้ปกครอง"}),
        action_item({"type": "datetimepicker", "label": "เลือกวันเกิด", "data": "ask=birth",
                     "mode": "date", "initial": "2020-01-01", "min": "2000-01-01",
                     "max": "2030-12-31"}),
        action_item({"type": "datetimepicker", "label": "เลือกเวลา", "data": "ask=time",
                     "mode": "time"}),
        action_item({"type": "datetimepicker", "label": "นัดเยี่ยมบ้าน", "data": "ask=visit",
                     "mode": "datetime"}),
        action_item({"type": "camera", "label": "ถ่ายรูป"}),
        action_item({"type": "cameraRoll", "label": "เลือกรูป"}),
        action_item({"type": "location", "label": "ส่งตำแหน่ง"}),
        action_item({"type": "uri", "label": "เปิดลิงก์", "uri": link}),
    ]


def case_bubble(link: str) -> dict:
    """A Flex bubble with header, hero, body and footer, boxes of every layout and buttons."""
    return {
        "type": "bubble",
        "header": {
            "type": "box", "layout": "vertical", "backgroundColor": "#EAF7EF",
            "contents": [{"type": "text", "text": "เลขที่เรื่อง KK-2569-00042", "size": "sm",
                          "weight": "bold", "color": "#05702F"}],
        },
        "hero": {"type": "image", "url": OUTSIDE_IMAGE, "size": "full", "aspectRatio": "20:9",
                 "aspectMode": "cover"},
        "body": {
            "type": "box", "layout": "vertical", "spacing": "sm",
            "contents": [
                {"type": "text", "text": "น้องสมชาย", "weight": "bold", "size": "xl"},
                {"type": "box", "layout": "baseline", "spacing": "sm", "contents": [
                    {"type": "text", "text": "สถานะ", "size": "sm", "color": "#555555", "flex": 2},
                    {"type": "text", "text": "ส่งเรื่องให้หน่วยงานแล้ว", "size": "sm", "wrap": True,
                     "flex": 5},
                ]},
                {"type": "box", "layout": "baseline", "spacing": "sm", "contents": [
                    {"type": "text", "text": "หน่วยงาน", "size": "sm", "color": "#555555",
                     "flex": 2},
                    {"type": "text", "text": "ศกร.ระดับอำเภอน้ำพอง\n(กศน.เดิม)", "size": "sm",
                     "wrap": True, "flex": 5},
                ]},
                {"type": "separator", "margin": "md"},
                {"type": "box", "layout": "horizontal", "margin": "md", "contents": [
                    {"type": "text", "text": "อัปเดตล่าสุด", "size": "xs", "color": "#555555"},
                    {"type": "text", "text": "2 ธ.ค. 2569", "size": "xs", "align": "end"},
                ]},
            ],
        },
        "footer": {
            "type": "box", "layout": "vertical", "spacing": "sm",
            "contents": [
                {"type": "button", "style": "primary", "height": "sm",
                 "action": {"type": "postback", "label": "ดูรายละเอียด", "data": "case=42",
                            "displayText": "ดูรายละเอียดเรื่อง"}},
                {"type": "button", "style": "link", "height": "sm",
                 "action": {"type": "uri", "label": "เปิดหน้าเว็บ", "uri": link}},
            ],
        },
    }


def showcase_messages(link: str) -> list[dict]:
    flex = {"type": "flex", "altText": "เรื่องของน้องสมชาย", "contents": case_bubble(link)}
    question = text("เลือกได้เลยค่ะ\nกดปุ่มด้านล่างนะคะ", quick_replies(link))
    return [flex, question]


def card_messages(link: str) -> list[dict]:
    small = {
        "type": "bubble", "size": "micro",
        "body": {"type": "box", "layout": "vertical", "contents": [
            {"type": "text", "text": "ตำบลน้ำพอง", "weight": "bold"},
            {"type": "text", "text": "3 เรื่อง", "size": "sm"},
        ]},
        "footer": {"type": "box", "layout": "vertical", "contents": [
            {"type": "button", "style": "secondary",
             "action": {"type": "message", "label": "ดูเคส", "text": "เคสน้ำพอง"}},
        ]},
    }
    second = {**small, "body": {"type": "box", "layout": "vertical", "contents": [
        {"type": "text", "text": "ตำบลกุดน้ำใส", "weight": "bold"},
        {"type": "text", "text": "1 เรื่อง", "size": "sm"},
    ]}}
    return [
        {"type": "flex", "altText": "เคสตามตำบล",
         "contents": {"type": "carousel", "contents": [small, second]}},
        {"type": "template", "altText": "เมนูเจ้าหน้าที่", "template": {
            "type": "buttons", "thumbnailImageUrl": OUTSIDE_IMAGE, "title": "เมนู",
            "text": "ต้องการทำอะไรคะ",
            "actions": [
                {"type": "message", "label": "เคสของฉัน", "text": "เคสของฉัน"},
                {"type": "uri", "label": "คู่มือ", "uri": link},
            ]}},
        {"type": "template", "altText": "ยืนยันไหมคะ", "template": {
            "type": "confirm", "text": "ส่งเรื่องเลยไหมคะ",
            "actions": [
                {"type": "postback", "label": "ส่ง", "data": "confirm=yes", "displayText": "ส่ง"},
                {"type": "postback", "label": "ยังก่อน", "data": "confirm=no",
                 "displayText": "ยังก่อน"},
            ]}},
        {"type": "sticker", "packageId": "446", "stickerId": "1988"},
        {"type": "image", "originalContentUrl": OUTSIDE_IMAGE, "previewImageUrl": OUTSIDE_IMAGE},
    ]


class Showcase:
    """The dispatcher and what it received; `link` is a same-app address for uri actions."""

    def __init__(self, link: str):
        self.link = link
        self.received: list[dict] = []
        self._lock = threading.Lock()
        self.dispatcher = Dispatcher()
        self._register()

    def _record(self, ctx: EventContext) -> None:
        with self._lock:
            self.received.append(ctx.raw)

    def of_type(self, kind: str) -> list[dict]:
        with self._lock:
            return [event for event in self.received if event["type"] == kind]

    def messages(self, kind: str) -> list[dict]:
        return [e["message"] for e in self.of_type("message") if e["message"]["type"] == kind]

    def _register(self) -> None:
        dispatcher = self.dispatcher

        @dispatcher.add(FollowEvent)
        def on_follow(ctx: EventContext) -> None:
            self._record(ctx)
            ctx.reply(text("สวัสดีค่ะ (showcase)"))

        @dispatcher.add(MessageEvent, message=TextMessageContent)
        def on_text(ctx: EventContext) -> None:
            self._record(ctx)
            said = ctx.raw["message"]["text"]
            if said == SHOWCASE:
                ctx.reply(*showcase_messages(self.link))
            elif said == CARDS:
                ctx.reply(*card_messages(self.link))
            else:
                ctx.reply(text(f"ได้รับข้อความ: {said}"))

        @dispatcher.add(MessageEvent, message=ImageMessageContent)
        def on_image(ctx: EventContext) -> None:
            self._record(ctx)
            ctx.reply(text("ได้รับรูปภาพแล้วค่ะ"))

        @dispatcher.add(MessageEvent, message=LocationMessageContent)
        def on_location(ctx: EventContext) -> None:
            self._record(ctx)
            message = ctx.raw["message"]
            ctx.reply(text(f"ได้รับตำแหน่งแล้วค่ะ {message['latitude']}, {message['longitude']}"))

        @dispatcher.add(PostbackEvent)
        def on_postback(ctx: EventContext) -> None:
            self._record(ctx)
            postback = ctx.raw["postback"]
            params = " ".join(f"{k}={v}" for k, v in sorted((postback.get("params") or {}).items()))
            ctx.reply(text(f"postback {postback['data']} {params}".strip()))
