"""My cases: a volunteer's reported children, their progress, and link codes for parents."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import current_app

from bot.conversation import Choice, Engine, action_items, int_param
from bot.flex import bubble, carousel, flex, postback_button
from bot.i18n import gettext as _
from bot.i18n import lazy_gettext as _l
from bot.messages import text
from bot.thai_text import thai_date
from handlers.flows.report import first_name
from handlers.flows.visit import visit_item
from models import BANGKOK
from services import cases

PER_PAGE = 5

#: Stages in plain words, as parents and volunteers read them (DESIGN.md §3).
STAGE_WORDS = {
    "received": _l("Received"),
    "verifying": _l("Checking the information"),
    "referred": _l("Sent to an agency"),
    "in_support": _l("Being helped"),
    "follow_up": _l("Following up"),
    "closed": _l("The child got help"),
}
EVENT_WORDS = {
    "created": _l("Reported"),
    "duplicate_report": _l("More information added"),
    "verified": _l("Information checked"),
    "referred": _l("Sent to an agency"),
    "accepted": _l("Agency took the case"),
    "service": _l("Help given"),
    "visit": _l("Home visit"),
    "appointment": _l("Appointment made"),
    "status": _l("Progress updated"),
}


def local_date(moment) -> str:
    return thai_date(moment.astimezone(BANGKOK).date())


def case_card(case) -> dict:
    """One case as a card: the child, the reference, the stage in plain words."""
    return bubble(
        _("Nong %(name)s", name=first_name(case.child_name)),
        [(str(_l("Reference")), case.reference),
         (str(_l("Status")), str(STAGE_WORDS.get(case.stage, case.stage))),
         (str(_l("Reported on")), local_date(case.created_at))],
        [postback_button(str(_l("See progress")), urlencode({"a": "case", "id": case.id}))],
    )


def register(engine: Engine) -> None:
    """Register my cases, a case's progress, and the link code."""

    def volunteer_only(ctx) -> bool:
        if ctx.user.role == "volunteer":
            return True
        ctx.reply(text(_("This is for registered village volunteers.")))
        return False

    def show_page(ctx, page: int) -> None:
        found, more = cases.cases_reported_by(ctx.session, ctx.user.id, page, PER_PAGE)
        if not found and page == 0:
            ctx.reply(text(_("You have not reported any child yet. Type \"report\" to report "
                             "one.")))
            return
        items = action_items("my_cases", [Choice(str(page + 1), _l("See more"))]) if more else None
        alt = "\n".join(f"{c.reference} {first_name(c.child_name)}: "
                        f"{STAGE_WORDS.get(c.stage, c.stage)}" for c in found)
        ctx.reply(flex(_("Your cases") + "\n" + alt,
                       carousel([case_card(c) for c in found]), items))

    @engine.on_intent("my_cases")
    def on_my_cases(ctx, turn, intent) -> None:
        if volunteer_only(ctx):
            show_page(ctx, 0)

    @engine.on_postback("my_cases")
    def on_more(ctx, turn, intent) -> None:
        if volunteer_only(ctx):
            show_page(ctx, int(turn.data.get("v") or 0))

    def own_case(ctx, case_id):
        """The volunteer's own case by id, or None (after saying so)."""
        if not volunteer_only(ctx):
            return None
        case = cases.get_reported_case(ctx.session, ctx.user.id, int_param(case_id))
        if case is None:
            ctx.reply(text(_("This case is not one of yours.")))
        return case

    @engine.on_postback("case")
    def on_case(ctx, turn, intent) -> None:
        show_progress(ctx, own_case(ctx, turn.data.get("id")))

    @engine.on_intent("show_case")
    def on_reference(ctx, turn, intent) -> None:
        """A reference typed alone: that case's progress, if it is one of the user's (for a
        parent, the status of a case they follow)."""
        if ctx.user.role not in ("volunteer", "officer"):
            from handlers.flows.parent import show_linked_case

            show_linked_case(ctx, intent.argument)
            return
        if not volunteer_only(ctx):
            return
        case = cases.get_reported_case_by_reference(ctx.session, ctx.user.id, intent.argument)
        if case is None:
            ctx.reply(text(_("This case is not one of yours.")))
        show_progress(ctx, case)

    def show_progress(ctx, case) -> None:
        if case is None:
            return
        lines = [_("Nong %(name)s, reference %(ref)s", name=first_name(case.child_name),
                   ref=case.reference),
                 _("Status: %(stage)s", stage=STAGE_WORDS.get(case.stage, case.stage))]
        for entry in cases.public_timeline(ctx.session, case)[-8:]:
            lines.append(f"{local_date(entry.at)} {EVENT_WORDS.get(entry.kind, entry.kind)}")
        items = action_items("link", [Choice(str(case.id), _l("Code for the parent"))])
        if case.stage != "closed":
            items.append(visit_item(case.id, str(_l("Record a visit"))))
        ctx.reply(text("\n".join(lines), items))

    @engine.on_postback("link")
    def on_link(ctx, turn, intent) -> None:
        case = own_case(ctx, turn.data.get("v"))
        if case is None:
            return
        code = cases.issue_link_code(ctx.session, current_app.config["SECRET_KEY"], case,
                                     ctx.user.line_user_id)
        ctx.reply(text(_("Link code for the parent of Nong %(name)s: %(code)s\nThe parent "
                         "types this code in the Samoe chat within 7 days to follow the case. "
                         "It works once.", name=first_name(case.child_name), code=code)))
