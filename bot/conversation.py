"""The conversation engine: flows as small declarative modules over per-user state.

A flow is a `Flow(name, steps, finish)`; each step asks one question (`prompt`) and reads the
answer (`take`), returning the next step's name, `None` for the next step in order, `END`, or
`Reask(hint)` to ask again with a hint. State lives in the database (`ConversationState`):
flow, step, draft answers (JSON), the steps answered (for "back"), expiry and a version.

While a flow runs, the engine reads `cancel`, `back`, `menu` and `language` itself, at any step;
everything else is the step's answer. A draft idle for more than `DRAFT_TTL` is not silently
resumed: the user is asked to continue or start over. Choices are postbacks
`step=<step>&v=<value>` with the label as displayText, and the same labels typed are accepted.
Flows register with the engine when the app is created, so the engine imports no handlers.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import sqlalchemy as sa
from linebot.v3.webhooks import (
    ImageMessageContent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
)
from sqlalchemy.orm import Session

from bot.dispatch import EventContext
from bot.i18n import gettext as _
from bot.i18n import lazy_gettext as _l
from bot.intents import Intent, match
from bot.messages import text
from bot.thai_text import DONE_WORDS, clean, thai_date, thai_time
from models import BANGKOK, ConversationState, utcnow

END = "__end__"
DRAFT_TTL = dt.timedelta(minutes=30)
MAX_QUICK_REPLIES = 13
LABEL_MAX = 20
ENGINE_COMMANDS = ("cancel", "back", "menu", "language")
CANCEL = "__cancel__"  # a step's answer that ends the flow as the user asked
RETURN_TO = "_return_to"  # draft key: after this step, go back to that step (edit a field)
STATES = "samoe.conversation_states"  # session.info: states read ahead (preload_states)


@dataclass
class Turn:
    """What the user sent, reduced to what steps read."""

    kind: str  # text | postback | image | location | sticker | other
    text: str = ""
    data: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None
    location: dict[str, Any] | None = None

    @property
    def cleaned(self) -> str:
        return clean(self.text)

    def choice(self, step: str) -> str | None:
        """The value of a choice postback made for `step` (None for another step's button)."""
        if self.kind == "postback" and self.data.get("step") == step:
            return self.data.get("v")
        return None


def turn_from(ctx: EventContext) -> Turn:
    """Read the event into a Turn."""
    event = ctx.event
    if isinstance(event, PostbackEvent):
        data = {k: v[0] for k, v in parse_qs(event.postback.data or "").items()}
        params = dict(event.postback.params or {})
        return Turn("postback", text=data.get("label", ""), data=data, params=params)
    if isinstance(event, MessageEvent):
        content = event.message
        if isinstance(content, TextMessageContent):
            return Turn("text", text=content.text or "")
        if isinstance(content, ImageMessageContent):
            return Turn("image", message_id=content.id)
        if isinstance(content, LocationMessageContent):
            return Turn("location", location={"latitude": content.latitude,
                                              "longitude": content.longitude,
                                              "address": content.address})
        if isinstance(content, StickerMessageContent):
            return Turn("sticker")
    return Turn("other")


@dataclass
class Reask:
    """Ask the same question again, after these hint messages."""

    hints: list[dict]


@dataclass
class Choice:
    """One fixed answer of a step: its value and its label (at most 20 characters)."""

    value: str
    label: Any  # a lazy string from the catalog, or data such as a district name

    def label_text(self) -> str:
        return str(self.label)[:LABEL_MAX]



#: The databases' integer range (PostgreSQL's bigint, SQLite's INTEGER): every id is in it.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def int_param(value) -> int:
    """A postback parameter as an integer (0 when it is missing, not a number, or outside the
    databases' integer range: an id no row can have, which a query would refuse with an error
    — an overflow on SQLite, "out of range" on PostgreSQL — instead of finding nothing)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 0
    return number if INT_MIN <= number <= INT_MAX else 0


@functools.lru_cache(maxsize=4096)
def _postback_data(*pairs: tuple[str, str]) -> str:
    # the same buttons are offered again and again: their data made once
    return urlencode(dict(pairs))


def postback_action(step: str, value: str, label: str, **extra: str) -> dict:
    """A quick-reply item whose tap answers `step` with `value`."""
    data = _postback_data(("step", step), ("v", value), *extra.items())
    return {"type": "action", "action": {"type": "postback", "label": label[:LABEL_MAX],
                                         "data": data, "displayText": label[:300]}}


def action_item(action: str, value: str, label: str) -> dict:
    """A quick-reply item for a button outside flows (the menu, the role choice)."""
    data = _postback_data(("a", action), ("v", value))
    return {"type": "action", "action": {"type": "postback", "label": label[:LABEL_MAX],
                                         "data": data, "displayText": label[:300]}}


def action_items(action: str, choices: list[Choice]) -> list[dict]:
    """Quick-reply items for a button row outside flows (13 at most)."""
    return [action_item(action, c.value, c.label_text()) for c in choices[:MAX_QUICK_REPLIES]]


def choice_items(step: str, choices: list[Choice], page: int = 0,
                 extra: list[dict] | None = None) -> list[dict]:
    """Quick-reply items for choices, 13 at most: longer lists are paged with a "More" item."""
    extra = extra or []
    room = MAX_QUICK_REPLIES - len(extra)
    if len(choices) <= room:
        shown, more = choices, False
    else:
        per_page = room - 1
        shown = choices[page * per_page:(page + 1) * per_page]
        more = (page + 1) * per_page < len(choices)
    items = [postback_action(step, c.value, c.label_text()) for c in shown]
    if more:
        items.append(postback_action(step, "__more__", _("More"), page=str(page + 1)))
    return items + extra


class Step:
    """One question of a flow."""

    name: str = ""

    def prompt(self, ctx: EventContext, draft: dict) -> list[dict]:
        raise NotImplementedError

    def take(self, ctx: EventContext, draft: dict, turn: Turn) -> str | None | Reask:
        raise NotImplementedError

    def claims(self, turn: Turn) -> bool:
        """True when this step reads a message the engine would take as a command."""
        return False


class MultiChoiceStep(Step):
    """A question answered by several taps of fixed choices, then "Done" (tapped or typed:
    "enough" means done here, not cancel)."""

    def claims(self, turn: Turn) -> bool:
        return turn.cleaned in DONE_WORDS

    def tapped(self, turn: Turn, choices: list[Choice], done: str) -> str | None:
        """The value tapped, or of the label typed; `done` for a word meaning done."""
        value = turn.choice(self.name)
        if value is None and turn.kind == "text":
            value = next((c.value for c in choices if clean(str(c.label)) == turn.cleaned),
                         None)
            if turn.cleaned in DONE_WORDS:
                value = done
        return value


class ChoiceStep(Step):
    """A question answered by one of fixed choices (quick replies, or the label typed)."""

    def __init__(self, name: str, question, choices: Callable[[EventContext, dict], list[Choice]]
                 | list[Choice], store: str, hint=None,
                 after: Callable[[EventContext, dict, str], str | None | Reask] | None = None):
        self.name = name
        self.question = question
        self._choices = choices
        self.store = store
        self.hint = hint or _l("Please choose one of the buttons below.")
        self.after = after

    def choices(self, ctx: EventContext, draft: dict) -> list[Choice]:
        return self._choices(ctx, draft) if callable(self._choices) else self._choices

    def prompt(self, ctx, draft, page: int = 0) -> list[dict]:
        items = choice_items(self.name, self.choices(ctx, draft), page)
        return [text(str(self.question), items)]

    def match(self, ctx, draft, turn: Turn) -> str | None:
        """The chosen value: a postback for this step, or a label typed."""
        value = turn.choice(self.name)
        if value is not None:
            return value
        typed = turn.cleaned
        if not typed:
            return None
        for choice in self.choices(ctx, draft):
            if clean(choice.label_text()) == typed or clean(str(choice.label)) == typed:
                return choice.value
        return None

    def take(self, ctx, draft, turn):
        if turn.choice(self.name) == "__more__":
            page = int(turn.data.get("page", "1"))
            return Reask(self.prompt(ctx, draft, page=page))
        value = self.match(ctx, draft, turn)
        valid = {c.value for c in self.choices(ctx, draft)}
        if value not in valid:
            return Reask([text(str(self.hint))])
        draft[self.store] = value
        return self.after(ctx, draft, value) if self.after else None


class TextStep(Step):
    """A question answered by typing; `read` turns the text into a value or a hint."""

    def __init__(self, name: str, question, store: str,
                 read: Callable[[EventContext, dict, str], tuple[Any, str | None]],
                 skippable: bool = False, quick: list[Choice] | None = None):
        self.name = name
        self.question = question
        self.store = store
        self.read = read
        self.skippable = skippable
        self.quick = quick or []

    def prompt(self, ctx, draft) -> list[dict]:
        items = choice_items(self.name, self.quick) if self.quick else None
        return [text(str(self.question), items)]

    def take(self, ctx, draft, turn):
        chosen = turn.choice(self.name)
        if chosen is not None:
            draft[self.store] = chosen
            return None
        if turn.kind != "text":
            return Reask([text(_("Please type your answer."))])
        value, hint = self.read(ctx, draft, turn.text)
        if hint is not None:
            return Reask([text(hint)])
        draft[self.store] = value
        return None


@dataclass
class Flow:
    """A conversation: its steps in order and what happens when the last one is answered."""

    name: str
    steps: list[Step]
    finish: Callable[[EventContext, dict], None]
    start: Callable[[EventContext, dict], None] | None = None

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"flow {self.name} has no step {name!r}")

    def after(self, name: str) -> str:
        names = [s.name for s in self.steps]
        index = names.index(name)
        return names[index + 1] if index + 1 < len(names) else END


IntentHandler = Callable[[EventContext, Turn, Intent], None]


class Engine:
    """Runs flows for users and routes intents typed outside a flow."""

    def __init__(self) -> None:
        self.flows: dict[str, Flow] = {}
        self.intents: dict[str, IntentHandler] = {}
        self.postbacks: dict[str, IntentHandler] = {}
        self.fallback: IntentHandler | None = None
        # things a user must hear once, put before the next answer they get (a reply is free
        # when pushes are not: e.g. an officer's announcement paused by LINE's monthly limit)
        self.notices: list[Callable[[EventContext], list[dict]]] = []

    def register(self, flow: Flow) -> Flow:
        """Add a flow."""
        self.flows[flow.name] = flow
        return flow

    def on_intent(self, *names: str) -> Callable[[IntentHandler], IntentHandler]:
        """Register what an intent does when no flow runs (or a command inside one)."""

        def decorator(func: IntentHandler) -> IntentHandler:
            for name in names:
                self.intents[name] = func
            return func

        return decorator

    def on_postback(self, *actions: str) -> Callable[[IntentHandler], IntentHandler]:
        """Register a postback action `a=<action>` (menus, buttons outside flows)."""

        def decorator(func: IntentHandler) -> IntentHandler:
            for action in actions:
                self.postbacks[action] = func
            return func

        return decorator

    # -- state -------------------------------------------------------------------------------

    @staticmethod
    def state(ctx: EventContext) -> ConversationState | None:
        known = ctx.session.info.get(STATES)
        line_user_id = ctx.user.line_user_id
        if known is not None and line_user_id in known:
            return known[line_user_id]
        state = ctx.session.scalar(
            sa.select(ConversationState).where(ConversationState.line_user_id == line_user_id)
        )
        if known is not None:
            known[line_user_id] = state
        return state

    def begin(self, ctx: EventContext, flow_name: str, draft: dict | None = None) -> None:
        """Start a flow for the user (replacing any other) and ask its first question."""
        flow = self.flows[flow_name]
        self.end(ctx)
        draft = dict(draft or {})
        if flow.start:
            flow.start(ctx, draft)
        first = flow.steps[0].name
        state = ConversationState(line_user_id=ctx.user.line_user_id, flow=flow.name, step=first,
                                  draft=json.dumps(draft, ensure_ascii=False), history="[]",
                                  expires_at=utcnow() + DRAFT_TTL)
        ctx.session.add(state)
        _remember(ctx, state)
        ctx.reply(*flow.step(first).prompt(ctx, draft))

    def end(self, ctx: EventContext) -> None:
        """Forget the user's flow and draft."""
        state = self.state(ctx)
        if state is not None:
            ctx.session.delete(state)
            ctx.session.flush()
            _remember(ctx, None)

    def notice(self, func: Callable[[EventContext], list[dict]]):
        """Register a notice: called after each answer is made, its messages go first in the
        reply when there is room in it (five messages, the answer's own kept last with its
        quick replies); it marks what it said as said."""
        self.notices.append(func)
        return func

    # -- handling ----------------------------------------------------------------------------

    def handle(self, ctx: EventContext) -> None:
        """Answer one message or postback (and put the notices due before the answer)."""
        self._handle(ctx)
        if ctx.user is None or not ctx.messages or not ctx.can_send:
            return
        for notice in self.notices:
            room = 5 - len(ctx.messages)
            if room <= 0:
                break
            ctx.messages[:0] = notice(ctx)[:room]

    def _handle(self, ctx: EventContext) -> None:
        if ctx.user is None:
            return
        turn = turn_from(ctx)
        intent = self._intent(turn)
        state = self.state(ctx)
        if state is None:
            self._outside(ctx, turn, intent)
            return
        flow = self.flows.get(state.flow)
        if flow is None:  # a flow that no longer exists
            self.end(ctx)
            self._outside(ctx, turn, intent)
            return
        if state.paused or state.expires_at < utcnow():
            self._resume_or_restart(ctx, state, flow, turn)
            return
        claimed = flow.step(state.step).claims(turn)
        if intent is not None and intent.name in ENGINE_COMMANDS and not claimed:
            self._command(ctx, state, flow, turn, intent)
            return
        if turn.kind == "postback" and turn.data.get("a") and "step" not in turn.data:
            # a menu button pressed mid-flow: the flow waits, the button works
            self._outside(ctx, turn, intent)
            return
        self._answer(ctx, state, flow, turn)

    def _intent(self, turn: Turn) -> Intent | None:
        if turn.kind == "text":
            return match(turn.text)
        if turn.kind == "sticker":
            return Intent("menu")
        return None

    def _outside(self, ctx, turn: Turn, intent: Intent | None) -> None:
        if turn.kind == "postback":
            handler = self.postbacks.get(turn.data.get("a", ""))
            if handler is not None:
                handler(ctx, turn, intent or Intent("postback"))
                return
        if intent is not None and intent.name in self.intents:
            self.intents[intent.name](ctx, turn, intent)
            return
        if self.fallback is not None:
            self.fallback(ctx, turn, intent or Intent("unknown"))

    def _command(self, ctx, state, flow, turn, intent) -> None:
        if intent.name == "cancel":
            self.end(ctx)
            ctx.reply(text(_("Cancelled. Nothing was saved. Type \"menu\" to see what you can "
                             "do.")))
            return
        if intent.name == "back":
            history = json.loads(state.history)
            if not history:
                ctx.reply(*self._ask(ctx, state, flow, hint=_("This is the first question.")))
                return
            state.step = history.pop()
            state.history = json.dumps(history)
            self._touch(state)
            ctx.reply(*self._ask(ctx, state, flow))
            return
        handler = self.intents.get(intent.name)
        if handler is not None:  # menu, language: answered, and the draft waits
            handler(ctx, turn, intent)
            ctx.reply(text(_("Your answers so far are kept. Type \"back\" to see the last "
                             "question again, or \"cancel\" to stop.")))

    def _ask(self, ctx, state, flow, hint: str | None = None) -> list[dict]:
        draft = json.loads(state.draft)
        messages = [text(hint)] if hint else []
        return messages + flow.step(state.step).prompt(ctx, draft)

    def _answer(self, ctx, state, flow, turn) -> None:
        step = flow.step(state.step)
        draft = json.loads(state.draft)
        outcome = step.take(ctx, draft, turn)
        if isinstance(outcome, Reask):
            self._touch(state)
            state.draft = json.dumps(draft, ensure_ascii=False)
            question = [] if _is_prompt(outcome) else step.prompt(ctx, draft)
            ctx.reply(*outcome.hints, *question)
            return
        next_step = outcome or flow.after(step.name)
        if outcome is None and draft.get(RETURN_TO):  # a field edited from the summary
            next_step = draft.pop(RETURN_TO)
        if next_step == END:
            self.end(ctx)
            flow.finish(ctx, draft)
            return
        if next_step == CANCEL:
            self._command(ctx, state, flow, turn, Intent("cancel"))
            return
        history = json.loads(state.history)
        history.append(step.name)
        state.step = next_step
        state.history = json.dumps(history)
        state.draft = json.dumps(draft, ensure_ascii=False)
        self._touch(state)
        ctx.reply(*flow.step(next_step).prompt(ctx, draft))

    def _resume_or_restart(self, ctx, state, flow, turn) -> None:
        choice = turn.choice("__resume__")
        if choice is None and turn.kind == "text":
            choice = {clean(str(RESUME_LABEL)): "resume",
                      clean(str(RESTART_LABEL)): "restart"}.get(turn.cleaned)
        if choice == "resume":
            state.paused = False
            self._touch(state)
            ctx.reply(*self._ask(ctx, state, flow))
            return
        if choice == "restart":
            self.begin(ctx, flow.name)
            return
        intent = self._intent(turn)
        if intent is not None and intent.name == "cancel":
            self._command(ctx, state, flow, turn, intent)
            return
        state.paused = True
        when = state.updated_at.astimezone(BANGKOK)
        items = [postback_action("__resume__", "resume", str(RESUME_LABEL)),
                 postback_action("__resume__", "restart", str(RESTART_LABEL))]
        ctx.reply(text(_("You have unfinished answers from %(when)s. Continue where you left "
                         "off?", when=_when(when)), items))

    @staticmethod
    def _touch(state: ConversationState) -> None:
        now = utcnow()
        state.updated_at = now
        state.expires_at = now + DRAFT_TTL


@functools.cache
def _select_states():
    """Built once: preload_states runs every batch of the worker."""
    return sa.select(ConversationState).where(
        ConversationState.line_user_id.in_(sa.bindparam("ids", expanding=True)))


def preload_states(session: Session, line_user_ids: list[str]) -> None:
    """Read these users' conversation states in one query and keep them for the rest of the
    session's transaction (the worker's batch of events, bot.worker), so that `Engine.state`
    asks the database nothing more for them. The caller must `forget_states` when that
    transaction ends (commit or rollback): the rows are not valid beyond it."""
    known: dict[str, ConversationState | None] = dict.fromkeys(line_user_ids)
    if line_user_ids:
        for state in session.scalars(_select_states(), {"ids": line_user_ids}):
            known[state.line_user_id] = state
    session.info[STATES] = known


def forget_states(session: Session) -> None:
    """Drop what `preload_states` kept (at the end of its transaction)."""
    session.info.pop(STATES, None)


def _remember(ctx: EventContext, state: ConversationState | None) -> None:
    known = ctx.session.info.get(STATES)
    if known is not None:
        known[ctx.user.line_user_id] = state


RESUME_LABEL = _l("Continue")
RESTART_LABEL = _l("Start over")


def _is_prompt(reask: Reask) -> bool:
    """A Reask whose hints already contain the question (paging) needs no second prompt."""
    return any("quickReply" in message for message in reask.hints)


def _when(moment: dt.datetime) -> str:
    today = utcnow().astimezone(BANGKOK).date()
    if moment.date() == today:
        return _("today at %(time)s", time=thai_time(moment.time()))
    if moment.date() == today - dt.timedelta(days=1):
        return _("yesterday at %(time)s", time=thai_time(moment.time()))
    return f"{thai_date(moment.date())} {thai_time(moment.time())}"
