"""Announcements on LINE: an officer's "announce" intent (area → for a province officer who
chose a district, the whole district or one subdistrict → audience, one or several → for
parents, the children's group → text → document link → the preview exactly as it will
arrive → send), and anyone's "news" intent (the latest announcements that reached their area).

The announcement itself is made by services.announcements (the same rules as the API: the
area inside the officer's scope, recipients resolved when it goes, the month's LINE budget
checked, province-wide ones waiting for a second person's approval). An officer whose
announcements LINE's monthly limit holds is told once, before the next answer they get
(`paused_announcements`, an engine notice: a push would wait for the same limit).
"""

from __future__ import annotations

from bot.conversation import (
    CANCEL,
    RETURN_TO,
    Choice,
    ChoiceStep,
    Engine,
    Flow,
    MultiChoiceStep,
    Reask,
    Step,
    TextStep,
    Turn,
    choice_items,
    postback_action,
)
from bot.i18n import gettext as _
from bot.i18n import lazy_gettext as _l
from bot.messages import text
from bot.thai_text import clean, is_none_answer
from handlers.announcements import announcement_messages, paused_notice
from handlers.flows.report import GROUPS as CHILD_GROUPS
from handlers.notifications import agency_name, show_date
from models import Announcement, Area
from services import accounts, announcements, areas
from services.access import Actor
from services.announcements import AnnouncementError

FLOW = "announce"
AUDIENCES = [
    Choice("volunteers", _l("Volunteers")),
    Choice("parents", _l("Parents")),
    Choice("officers", _l("Officers")),
]
EVERYONE = Choice("all", _l("Everyone"))
DONE = Choice("__done__", _l("Done"))
GROUP_CHOICES = [*CHILD_GROUPS, Choice("all", _l("All parents"))]
NEWS_SHOWN = 5
NEWS_TEXT_MAX = 300

#: What went wrong, in words for the officer (codes of services.announcements).
PROBLEMS = {
    "no_recipients": _l("Nobody in that area and audience follows Samoe on LINE yet. Tap "
                        "\"Edit\" to choose another area or audience."),
    "quota_exceeded": _l("This announcement needs more messages than remain in this month's "
                         "LINE budget (%(remaining)s left, %(estimate)s needed). Tap \"Edit\" "
                         "to choose a smaller area or audience."),
    "area_not_found": _l("That area is outside your area of work."),
    "not_allowed": _l("Only officers of the partner agencies can send announcements."),
}


def _own_area(ctx) -> Area | None:
    actor = officer_actor_quiet(ctx)
    if actor is None or not actor.area_code:
        return None
    return ctx.session.get(Area, actor.area_code)


def _whole(area: Area) -> str:
    words = {"province": _l("Whole province of %(name)s"),
             "district": _l("Whole district of %(name)s"),
             "subdistrict": _l("Whole subdistrict of %(name)s")}[area.level]
    return str(words) % {"name": area.name_th}


def _children(ctx, area: Area) -> list[Area]:
    """An area's districts or subdistricts, by name."""
    if area.level == "province":
        found = areas.districts(ctx.session, area.code)
    elif area.level == "district":
        found = areas.subdistricts(ctx.session, area.code)
    else:
        found = []
    return sorted(found, key=lambda a: a.name_th)


def _child_label(area: Area) -> str:
    part = _l("District %(name)s") if area.level == "district" else _l("Subdistrict %(name)s")
    return str(part) % {"name": area.name_th}


def _place(area: Area) -> str:
    """An area in a sentence: the province, district or subdistrict with its short prefix."""
    if area.level == "province":
        return str(_l("Province %(name)s")) % {"name": area.name_th}
    return _child_label(area)


class AreaStep(ChoiceStep):
    """An area inside the officer's scope: its whole, or one of its parts (districts of a
    province are paged with "More"); a part's name may be typed too. `within`: the draft key
    of the area whose parts are offered (else the officer's own)."""

    def __init__(self, name: str, question, within: str | None = None, after=None):
        super().__init__(name, question, self._choices_for, "area", after=after)
        self.within = within

    def _parent(self, ctx, draft) -> Area | None:
        if self.within:
            return ctx.session.get(Area, draft.get(self.within) or "")
        return _own_area(ctx)

    def _choices_for(self, ctx, draft) -> list[Choice]:
        parent = self._parent(ctx, draft)
        if parent is None:
            return []
        return [Choice(parent.code, _whole(parent)),
                *(Choice(a.code, _child_label(a)) for a in _children(ctx, parent))]

    def take(self, ctx, draft, turn):
        if turn.kind == "text" and turn.choice(self.name) is None \
                and self.match(ctx, draft, turn) is None:
            parent = self._parent(ctx, draft)
            found = areas.match_name(_children(ctx, parent), turn.text) if parent else []
            if len(found) == 1:
                draft[self.store] = found[0].code
                return self.after(ctx, draft, found[0].code) if self.after else None
            if len(found) > 1:
                items = choice_items(self.name, [Choice(a.code, _child_label(a))
                                                 for a in found])
                return Reask([text(_("Several places have this name. Which one?"), items)])
        return super().take(ctx, draft, turn)


def _after_area(ctx, draft, value: str):
    """A province officer who chose a district picks the whole district or a subdistrict."""
    chosen, own = ctx.session.get(Area, value), _own_area(ctx)
    if chosen is not None and own is not None and own.level == "province" \
            and chosen.level == "district":
        draft["district"] = chosen.code
        return "subarea"
    return draft.pop(RETURN_TO, None) or "audience"


def officer_actor_quiet(ctx) -> Actor | None:
    """The officer acting through this LINE account (None if it is not one)."""
    if ctx.user.role != "officer":
        return None
    officer = accounts.officer_for_line_user(ctx.session, ctx.user)
    return Actor.for_officer(officer, via="line") if officer is not None else None


def _read_text(ctx, draft, value: str) -> tuple[str | None, str | None]:
    value = value.strip()
    if len(value) > announcements.TEXT_LIMIT:
        return None, _("An announcement holds at most 5,000 characters. Please make it "
                       "shorter.")
    if not value:
        return None, _("Please type the announcement.")
    return value, None


def _read_link(ctx, draft, value: str) -> tuple[str | None, str | None]:
    if is_none_answer(value):
        return "", None
    try:
        return announcements._clean_link(value) or "", None
    except AnnouncementError:
        return None, _("A link starts with https:// (for example https://www.kkpao.go.th/"
                       "file.pdf). If there is none, tap \"None\".")


def _audience(draft) -> list[str]:
    chosen = draft.get("audience") or []
    if isinstance(chosen, str):  # a draft from before several could be chosen
        chosen = ["volunteers", "parents", "officers"] if chosen == "all" else [chosen]
    return [c.value for c in AUDIENCES if c.value in chosen]


def _group(draft) -> str | None:
    """The children's group the parents are narrowed to (None: all parents)."""
    group = draft.get("group") or None
    return group if group in announcements.GROUPS and "parents" in _audience(draft) else None


def _label(choices: list[Choice], value: str) -> str:
    return next((str(c.label) for c in choices if c.value == value), value)


def _who(draft) -> str:
    """The audience in words: each group's label, the parents' with their children's group."""
    words = []
    for value in _audience(draft):
        word = _label(AUDIENCES, value)
        if value == "parents" and _group(draft):
            word += f" ({_label(CHILD_GROUPS, _group(draft))})"
        words.append(word)
    return ", ".join(words)


class AudienceStep(MultiChoiceStep):
    """Who receives it: one or several groups (each tap adds one, "Done" goes on), or
    everyone at once; parents are then narrowed to a children's group, or not."""

    name = "audience"

    def prompt(self, ctx, draft):
        chosen = _audience(draft)
        left = [c for c in AUDIENCES if c.value not in chosen]
        extra = [DONE] if chosen else [EVERYONE]
        items = choice_items(self.name, left + extra)
        if chosen:
            question = _("Chosen: %(list)s. Add another group, or tap \"Done\".",
                         list=", ".join(_label(AUDIENCES, c) for c in chosen))
        else:
            question = _("Who should receive it? Choose a group, then add more if needed.")
        return [text(question, items)]

    def take(self, ctx, draft, turn: Turn):
        value = self.tapped(turn, [*AUDIENCES, EVERYONE, DONE], DONE.value)
        chosen = _audience(draft)
        if value == EVERYONE.value:
            chosen = [c.value for c in AUDIENCES]
        elif value in {c.value for c in AUDIENCES}:
            if value not in chosen:
                chosen.append(value)
            draft["audience"] = chosen
            if len(chosen) < len(AUDIENCES):
                return Reask(self.prompt(ctx, draft))
        elif value != DONE.value or not chosen:
            return Reask([text(_("Please choose from the buttons below."))])
        draft["audience"] = chosen
        if "parents" in chosen:
            return "group"
        draft["group"] = ""
        return draft.pop(RETURN_TO, None) or "text"


class PreviewStep(Step):
    """The announcement exactly as it will arrive, then send, edit or cancel."""

    name = "preview"

    def _draft_row(self, ctx, draft) -> Announcement:
        actor = officer_actor_quiet(ctx)
        return Announcement(text=draft["text"], link=draft.get("link") or None,
                            agency_code=actor.agency_code if actor else None)

    def prompt(self, ctx, draft):
        count, _blocked = announcements.count_recipients(ctx.session, _audience(draft),
                                                         draft["area"], _group(draft))
        place = ctx.session.get(Area, draft["area"])
        items = choice_items(self.name, [Choice("send", _l("Send announcement")),
                                         Choice("edit", _l("Edit")),
                                         Choice("cancel", _l("Cancel"))])
        question = _("This is how it will arrive. It goes to %(count)s people (%(who)s) in "
                     "%(place)s. Send it?", count=f"{count:,}", who=_who(draft),
                     place=_place(place) if place else draft["area"])
        if len(draft["area"]) <= 2:
            question += "\n" + _("A province-wide announcement is sent after a supervisor "
                                 "approves it.")
        return [*announcement_messages(self._draft_row(ctx, draft)), text(question, items)]

    def take(self, ctx, draft, turn: Turn):
        value = turn.choice(self.name)
        typed = turn.cleaned
        if value is None:
            value = next((c for c, label in (("send", _l("Send announcement")),
                                             ("edit", _l("Edit")), ("cancel", _l("Cancel")),
                                             ("confirm", _l("Send anyway")))
                          if clean(str(label)) == typed), None)
        if value == "cancel":
            return CANCEL
        if value == "edit":
            items = [postback_action(self.name, f"edit:{step}", str(label)) for step, label in (
                ("area", _l("Area")), ("audience", _l("Audience")), ("text", _l("Text")),
                ("link", _l("Link")))]
            return Reask([text(_("What would you like to change?"), items)])
        if value and value.startswith("edit:"):
            step = value.split(":", 1)[1]
            if step in ("area", "audience", "text", "link"):
                draft[RETURN_TO] = self.name
                if step == "audience":  # chosen anew
                    draft["audience"], draft["group"] = [], ""
                return step
        if value not in ("send", "confirm"):
            return Reask([text(_("Tap \"Send announcement\", \"Edit\" or \"Cancel\"."))])
        return self._send(ctx, draft, confirm=value == "confirm")

    def _send(self, ctx, draft, confirm: bool):
        actor = officer_actor_quiet(ctx)
        quota = ctx.quota()  # asked of LINE before this transaction
        try:
            row, _budget = announcements.compose(
                ctx.session, actor, draft["text"], _audience(draft), draft["area"],
                link=draft.get("link") or None, group=_group(draft), line_quota=quota,
                confirm=confirm)
        except AnnouncementError as exc:
            asks = {"quota_confirm": _l(
                        "This announcement would use most of this month's remaining LINE "
                        "budget (%(left)s messages left, %(estimate)s needed). Send it "
                        "anyway?"),
                    "quota_unknown": _l(
                        "LINE could not tell me just now how many messages are left this "
                        "month. It is checked again when it is sent (%(estimate)s needed): "
                        "if too few are left then, it is not sent and I will tell you. Send "
                        "it anyway?")}
            if exc.code in asks:
                quota_left = (exc.detail.get("quota") or {}).get("remaining")
                items = choice_items(self.name, [Choice("confirm", _l("Send anyway")),
                                                 Choice("edit", _l("Edit")),
                                                 Choice("cancel", _l("Cancel"))])
                return Reask([text(str(asks[exc.code]) % {
                    "left": f"{quota_left or 0:,}",
                    "estimate": f"{exc.detail.get('estimate') or 0:,}"}, items)])
            problem = PROBLEMS.get(exc.code)
            quota_detail = exc.detail.get("quota") or {}
            message = (str(problem) % {"remaining": quota_detail.get("remaining"),
                                       "estimate": exc.detail.get("estimate")}
                       if problem is not None else _("This announcement cannot be sent. "
                                                     "Please check it and try again."))
            return Reask([text(message)])
        draft["announcement_id"] = row.id
        draft["awaiting_approval"] = row.status == Announcement.AWAITING_APPROVAL
        draft["estimate"] = row.estimate
        return None


def finish(ctx, draft) -> None:
    if draft.get("awaiting_approval"):
        ctx.reply(text(_("Your province-wide announcement (no. %(id)s) is waiting for a "
                         "supervisor's approval. It will be sent once approved.",
                         id=draft["announcement_id"])))
        return
    ctx.reply(text(_("Your announcement (no. %(id)s) is being sent to %(count)s people. "
                     "I will tell you when it has gone.", id=draft["announcement_id"],
                     count=draft["estimate"])))


def show_news(ctx) -> None:
    """The latest announcements that reached this user's area and role."""
    user = ctx.user
    if user.role not in ("volunteer", "parent", "officer"):
        ctx.reply(text(_("News is for registered users. Type \"menu\" to register first.")))
        return
    rows = announcements.recent_for(ctx.session, user, NEWS_SHOWN)
    if not rows:
        ctx.reply(text(_("There is no announcement for your area yet.")))
        return
    parts = [_("The latest announcements for your area:")]
    for row in rows:
        body = " ".join(row.text.split())
        if len(body) > NEWS_TEXT_MAX:
            body = body[:NEWS_TEXT_MAX - 1] + "…"
        lines = [f"{show_date(row.finished_at or row.send_at)} · "
                 f"{agency_name(row.agency_code) or _('Samoe')}", body]
        if row.link:
            lines.append(_("Document: %(link)s", link=row.link))
        parts.append("\n".join(lines))
    ctx.reply(text("\n\n".join(parts)[:5000]))


def paused_announcements(ctx) -> list[dict]:
    """An engine notice: an officer whose announcements (written or approved) LINE's monthly
    limit holds hears it once per pause, before the next answer they get."""
    if ctx.user.role != "officer":
        return []
    actor = officer_actor_quiet(ctx)
    if actor is None:
        return []
    rows = announcements.untold_pauses(ctx.session, actor.name)
    if not rows:
        return []
    announcements.mark_told(rows, actor.name)
    return [paused_notice(ctx.session, rows)]


def _tell_paused(ctx, actor: Actor | None) -> None:
    """Asked for announcements or news: the paused ones first, every time (and told)."""
    if actor is None:
        return
    held = announcements.paused_for(ctx.session, actor.name)
    if held:
        announcements.mark_told(held, actor.name)
        ctx.reply(paused_notice(ctx.session, held))


def register(engine: Engine) -> None:
    """Register the "announce" flow (officers), "news" (everyone registered) and the notice
    of paused announcements."""
    steps = [
        AreaStep("area", _l("Which area is the announcement for?"), after=_after_area),
        AreaStep("subarea", _l("The whole district, or one subdistrict?"), within="district"),
        AudienceStep(),
        ChoiceStep("group", _l("Parents of which children?"), GROUP_CHOICES, "group",
                   after=lambda ctx, draft, value: _chose_group(draft, value)),
        TextStep("text", _l("Type the announcement (up to 5,000 characters). It is sent "
                            "exactly as you type it."), "text", _read_text),
        TextStep("link", _l("Is there a document link? Type it (e.g. https://www.kkpao.go.th/"
                            "file.pdf), or tap \"None\"."), "link", _read_link,
                 quick=[Choice("", _l("None"))]),
        PreviewStep(),
    ]
    engine.register(Flow(FLOW, steps, finish))
    engine.notice(paused_announcements)

    @engine.on_intent("announce")
    def on_announce(ctx, turn, intent) -> None:
        actor = officer_actor_quiet(ctx)
        _tell_paused(ctx, actor)
        if actor is None:
            ctx.reply(text(_("Announcements are sent by officers of the partner agencies "
                             "whose LINE account is linked to their officer account. To read "
                             "the latest announcements, type \"news\".")))
            return
        engine.begin(ctx, FLOW)

    @engine.on_postback(FLOW)
    def on_announce_button(ctx, turn, intent) -> None:
        on_announce(ctx, turn, intent)

    @engine.on_intent("news")
    def on_news(ctx, turn, intent) -> None:
        _tell_paused(ctx, officer_actor_quiet(ctx))
        show_news(ctx)


def _chose_group(draft, value: str) -> None:
    if value == "all":
        draft["group"] = ""
    return None
