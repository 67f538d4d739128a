"""Event handlers every user meets: follow, unfollow, and the answer to anything not yet
understood. Conversation flows (later issues) register more specific handlers."""

from __future__ import annotations

import logging

from linebot.v3.webhooks import FollowEvent, MessageEvent, PostbackEvent, UnfollowEvent

from bot.conversation import Engine
from bot.dispatch import Dispatcher, EventContext
from handlers.flows import start
from models import utcnow

log = logging.getLogger(__name__)


def register(dispatcher: Dispatcher, engine: Engine) -> None:
    """Register the event handlers on a dispatcher; messages and postbacks go to the engine."""

    @dispatcher.add(FollowEvent)
    def on_follow(ctx: EventContext) -> None:
        """A user added the account (or unblocked it): pushes may reach them again; greet."""
        if ctx.user is None:
            return
        ctx.user.followed = True
        ctx.user.followed_at = utcnow()
        start.greet(ctx)

    @dispatcher.add(UnfollowEvent)
    def on_unfollow(ctx: EventContext) -> None:
        """A user blocked the account: send them nothing until they follow again."""
        if ctx.user is not None:
            ctx.user.followed = False
            ctx.user.unfollowed_at = utcnow()

    @dispatcher.add(MessageEvent)
    def on_message(ctx: EventContext) -> None:
        """A message: the conversation engine answers (flows, intents, or a polite fallback)."""
        engine.handle(ctx)

    @dispatcher.add(PostbackEvent)
    def on_postback(ctx: EventContext) -> None:
        """A tap on a quick reply, button or menu."""
        engine.handle(ctx)

    @dispatcher.default()
    def on_other(ctx: EventContext) -> None:
        """Every other kind of event, known or new: recorded in the inbox, nothing sent."""
        log.info("event %s of type %s recorded", ctx.inbox_event.webhook_event_id,
                 ctx.inbox_event.event_type)
