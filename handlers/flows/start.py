"""What every user meets: the greeting and role choice, the menu, language, help."""

from __future__ import annotations

from bot.conversation import Choice, Engine, Turn, action_items
from bot.dispatch import EventContext
from bot.i18n import force_locale
from bot.i18n import gettext as _
from bot.i18n import lazy_gettext as _l
from bot.intents import Intent
from bot.messages import text
from bot.thai_text import clean

ROLE_CHOICES = [
    Choice("volunteer", _l("Village volunteer")),
    Choice("parent", _l("Parent or guardian")),
    Choice("officer", _l("Officer")),
]


def role_question() -> dict:
    """Who are you? with the three roles as quick replies."""
    return text(_("Who are you?"), action_items("role", ROLE_CHOICES))


def greet(ctx: EventContext) -> None:
    """The greeting on follow: who Samoe is, then who the user is (or a welcome back)."""
    if ctx.user.role in ("volunteer", "officer"):
        ctx.reply(text(_("Welcome back, %(name)s. Type \"menu\" to see what you can do.",
                         name=ctx.user.full_name or ctx.user.display_name or "")))
        return
    ctx.reply(text(_("Hello! Welcome to \"Samoe\", the service that helps every child in "
                     "Khon Kaen get to learn.")), role_question())


def show_menu(ctx: EventContext) -> None:
    """What this user can do now, as quick replies."""
    role = ctx.user.role
    if role not in ("volunteer", "officer"):
        ctx.reply(role_question())
        return
    choices = [Choice("language", _l("Language"))]
    if role == "volunteer":
        choices = [Choice("report", _l("Report a child")),
                   Choice("my_cases", _l("My cases")), Choice("home_visit", _l("Home visit")),
                   *choices]
    elif role == "officer":
        choices = [Choice("my_work", _l("My work")), *choices]
    items = action_items("menu", choices)
    ctx.reply(text(_("What would you like to do?"), items))


def register(engine: Engine) -> None:
    """Register the greeting, role choice, menu, language, help and the fallback."""

    @engine.on_intent("menu")
    def on_menu(ctx, turn: Turn, intent: Intent) -> None:
        show_menu(ctx)

    @engine.on_intent("help")
    def on_help(ctx, turn, intent) -> None:
        ctx.reply(text(_("Samoe helps village volunteers report children who are not in "
                         "school, and lets officers help them. Choose from the menu below, or "
                         "type \"menu\". Type \"cancel\" to stop at any time.")))

    @engine.on_intent("language")
    def on_language(ctx, turn, intent: Intent) -> None:
        current = ctx.user.language
        wanted = intent.argument or ("en" if current == "th" else "th")
        ctx.user.language = wanted
        with force_locale(wanted):
            ctx.reply(text(_("Samoe will now speak English with you. Type \"language\" to "
                             "switch back to Thai.")))

    @engine.on_postback("role")
    def on_role(ctx, turn: Turn, intent) -> None:
        role = turn.data.get("v")
        if role == "parent":
            if ctx.user.role is None:
                ctx.user.role = "parent"
            if ctx.user.role == "parent":
                engine.begin(ctx, "parent_link")
                return
        if ctx.user.role in ("volunteer", "officer"):
            show_menu(ctx)
            return
        if role in ("volunteer", "officer"):
            engine.begin(ctx, f"{role}_registration")

    @engine.on_postback("menu")
    def on_menu_button(ctx, turn: Turn, intent) -> None:
        """A menu button: the same as typing its intent."""
        name = turn.data.get("v", "")
        handler = engine.intents.get(name)
        if handler is not None:
            handler(ctx, turn, Intent(name, turn.data.get("arg") or None))

    def fallback(ctx, turn: Turn, intent) -> None:
        from handlers.flows.parent import link_code_typed

        if link_code_typed(ctx, turn):
            return
        if turn.kind == "text" and turn.text.strip():
            role = next((c.value for c in ROLE_CHOICES
                         if clean(str(c.label)) == turn.cleaned), None)
            if role is not None and ctx.user.role is None:
                on_role(ctx, Turn("postback", data={"a": "role", "v": role}), intent)
                return
        ctx.reply(text(_("Sorry, I don't understand this message yet. Choose what you need "
                         "from the menu below, or type \"menu\".")))

    engine.fallback = fallback
