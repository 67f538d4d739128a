"""Event handlers every user meets: follow, unfollow, and the answer to anything not yet
understood. Conversation flows (later issues) register more specific handlers."""

from __future__ import annotations

import logging

from flask_babel import gettext as _
from linebot.v3.webhooks import FollowEvent, MessageEvent, PostbackEvent, UnfollowEvent

from bot.dispatch import Dispatcher, EventContext
from bot.messages import text
from models import utcnow

log = logging.getLogger(__name__)


def register(dispatcher: Dispatcher) -> None:
    """Register the basic handlers on a dispatcher."""

    @dispatcher.add(FollowEvent)
    def on_follow(ctx: EventContext) -> None:
        """A user added the account (or unblocked it): pushes may reach them again; greet."""
        if ctx.user is not None:
            ctx.user.followed = True
            ctx.user.followed_at = utcnow()
        ctx.reply(text(_("Hello! Welcome to \"Samoe\", the service that helps every child in "
                         "Khon Kaen get to learn.")))

    @dispatcher.add(UnfollowEvent)
    def on_unfollow(ctx: EventContext) -> None:
        """A user blocked the account: send them nothing until they follow again."""
        if ctx.user is not None:
            ctx.user.followed = False
            ctx.user.unfollowed_at = utcnow()

    @dispatcher.add(MessageEvent)
    def on_message(ctx: EventContext) -> None:
        """Any message no flow took."""
        ctx.reply(not_understood())

    @dispatcher.add(PostbackEvent)
    def on_postback(ctx: EventContext) -> None:
        """A postback no flow took (for example from an old menu)."""
        ctx.reply(not_understood())

    @dispatcher.default()
    def on_other(ctx: EventContext) -> None:
        """Every other kind of event, known or new: recorded in the inbox, nothing sent."""
        log.info("event %s of type %s recorded", ctx.inbox_event.webhook_event_id,
                 ctx.inbox_event.event_type)


def not_understood() -> dict:
    """The polite answer to a message Samoe cannot read yet."""
    return text(_("Sorry, I don't understand this message yet. Choose what you need from the "
                  "menu below, or type \"menu\"."))
