"""Announcements on LINE: an officer's "announce" intent (area → audience → text → document
link → the preview exactly as it will arrive → send), and anyone's "news" intent (the latest
announcements that reached their area).

The announcement itself is made by services.announcements (the same rules as the API: the
area inside the officer's scope, recipients resolved when it goes, the month's LINE budget
checked, province-wide ones waiting for a second person's approval).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from bot.conversation import (
    CANCEL,
    RETURN_TO,
    Choice,
    ChoiceStep,
    Engine,
    Flow,
    Reask,
    Step,
    TextStep,
    Turn,
    choice_items,
    postback_action,
)
from bot.messages import text
from bot.thai_text import clean, is_none_answer
from handlers.announcements import announcement_messages, paused_notice
from handlers.notifications import agency_name, show_date
from models import Announcement, Area
from services import accounts, announcements
from services.access import Actor
from services.announcements import AnnouncementError

FLOW = "announce"
AUDIENCES = [
    Choice("volunteers", _l("Volunteers")),
    Choice("parents", _l("Parents")),
    Choice("officers", _l("Officers")),
    Choice("all", _l("Everyone")),
]
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


def _area_choices(ctx, draft) -> list[Choice]:
    actor = officer_actor_quiet(ctx)
    if actor is None or not actor.area_code:
        return []
    own = ctx.session.get(Area, actor.area_code)
    if own is None:
        return []
    whole = {"province": _l("Whole province of %(name)s"),
             "district": _l("Whole district of %(name)s"),
             "subdistrict": _l("Whole subdistrict of %(name)s")}[own.level]
    part = _l("District %(name)s") if own.level == "province" else _l("Subdistrict %(name)s")
    children = ctx.session.scalars(sa.select(Area).where(Area.parent_code == own.code)
                                   .order_by(Area.name_th))
    return [Choice(own.code, str(whole) % {"name": own.name_th}),
            *(Choice(area.code, str(part) % {"name": area.name_th}) for area in children)]


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
    chosen = draft.get("audience")
    return ["volunteers", "parents", "officers"] if chosen == "all" else [chosen]


class PreviewStep(Step):
    """The announcement exactly as it will arrive, then send, edit or cancel."""

    name = "preview"

    def _draft_row(self, ctx, draft) -> Announcement:
        actor = officer_actor_quiet(ctx)
        return Announcement(text=draft["text"], link=draft.get("link") or None,
                            agency_code=actor.agency_code if actor else None)

    def prompt(self, ctx, draft):
        count, _blocked = announcements.count_recipients(ctx.session, _audience(draft),
                                                         draft["area"])
        place = ctx.session.get(Area, draft["area"])
        items = choice_items(self.name, [Choice("send", _l("Send announcement")),
                                         Choice("edit", _l("Edit")),
                                         Choice("cancel", _l("Cancel"))])
        question = _("This is how it will arrive. It goes to %(count)s people in %(place)s. "
                     "Send it?", count=count, place=place.name_th if place else draft["area"])
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
                link=draft.get("link") or None, line_quota=quota, confirm=confirm)
        except AnnouncementError as exc:
            if exc.code == "quota_confirm":
                quota_left = exc.detail.get("quota", {}).get("remaining")
                items = choice_items(self.name, [Choice("confirm", _l("Send anyway")),
                                                 Choice("edit", _l("Edit")),
                                                 Choice("cancel", _l("Cancel"))])
                return Reask([text(_("This announcement would use most of this month's "
                                     "remaining LINE budget (%(left)s messages left, "
                                     "%(estimate)s needed). Send it anyway?",
                                     left=quota_left, estimate=exc.detail.get("estimate")),
                                   items)])
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


def register(engine: Engine) -> None:
    """Register the "announce" flow (officers) and "news" (everyone registered)."""
    steps = [
        ChoiceStep("area", _l("Which area is the announcement for?"), _area_choices, "area"),
        ChoiceStep("audience", _l("Who should receive it?"), AUDIENCES, "audience"),
        TextStep("text", _l("Type the announcement (up to 5,000 characters). It is sent "
                            "exactly as you type it."), "text", _read_text),
        TextStep("link", _l("Is there a document link? Type it (e.g. https://www.kkpao.go.th/"
                            "file.pdf), or tap \"None\"."), "link", _read_link,
                 quick=[Choice("", _l("None"))]),
        PreviewStep(),
    ]
    engine.register(Flow(FLOW, steps, finish))

    @engine.on_intent("announce")
    def on_announce(ctx, turn, intent) -> None:
        actor = officer_actor_quiet(ctx)
        if actor is not None:
            held = announcements.paused_for(ctx.session, actor.name)
            if held:
                ctx.reply(paused_notice([row.id for row in held]))
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
        actor = officer_actor_quiet(ctx)
        held = announcements.paused_for(ctx.session, actor.name) if actor else []
        if held:
            ctx.reply(paused_notice([row.id for row in held]))
        show_news(ctx)

