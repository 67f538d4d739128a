"""Parents on LINE: linking to a child's case with a code, the status of each linked child,
unlinking, what Samoe keeps about them, and asking for help for their own child.

A parent sees only the parent view of the cases they linked (services.guardians.parent_view):
never the reporter, the identity number, internal notes or any other child.
"""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import current_app

from bot.conversation import (
    Choice,
    ChoiceStep,
    Engine,
    Flow,
    Reask,
    Step,
    TextStep,
    Turn,
    action_items,
    choice_items,
    int_param,
)
from bot.dispatch import EventContext
from bot.flex import bubble, carousel, flex, uri_button
from bot.i18n import gettext as _
from bot.i18n import lazy_gettext as _l
from bot.messages import text
from bot.thai_text import (
    clean,
    looks_like_reference,
    parse_code,
    parse_village,
    thai_time,
)
from handlers.flows.my_cases import STAGE_WORDS
from handlers.flows.registration import AreaStep
from handlers.flows.report import (
    GROUPS,
    RELATIONS,
    BirthStep,
    SituationStep,
    answer,
    first_name,
    read_child_name,
    read_guardian,
    sealed,
)
from handlers.notifications import agency_name, show_date, show_time
from models import BANGKOK, Area, Case
from services import cases, consent, guardians
from services.access import Actor

#: The social development helpline (free, 24 hours) for a child who needs help now.
PARENT_HELPLINE = "1300"
HAVE_CODE = Choice("code", _l("I have a code"))
NO_CODE = Choice("no_code", _l("No code yet"))
ASK_HELP = Choice("ask_help", _l("Ask for help"))
CONSENT = [Choice("yes", _l("Yes, I agree")), Choice("no", _l("No, I don't agree"))]


def local_time(moment: dt.datetime) -> str:
    """A moment as the reader writes it, in Khon Kaen's time (Buddhist era in Thai)."""
    local = moment.astimezone(BANGKOK)
    return f"{show_date(local.date())} {show_time(local)}"


def office_name(view) -> str:
    return agency_name(view.agency_code, view.agency_name_th, view.agency_name_en)


def status_bubble(view) -> dict:
    """One child's status as a parent reads it."""
    rows = [
        (str(_l("Status")), str(STAGE_WORDS.get(view.stage, view.stage))),
        (str(_l("Office")), office_name(view)),
        (str(_l("Phone")), view.agency_phone or "-"),
        (str(_l("Last update")), show_date(view.last_update.astimezone(BANGKOK).date())),
    ]
    if view.next_appointment is not None:
        when = local_time(view.next_appointment)
        if view.appointment_place:
            when = f"{when}, {view.appointment_place}"
        rows.append((str(_l("Appointment")), when))
    buttons = []
    if view.agency_phone:
        buttons.append(uri_button(str(_l("Call the office")),
                                  "tel:" + view.agency_phone.replace("-", "")))
    return bubble(_("Nong %(name)s", name=first_name(view.child_name)), rows, buttons,
                  subtitle=_("Reference %(ref)s", ref=view.reference))


def status_alt(view) -> str:
    parts = [_("Nong %(name)s: %(stage)s", name=first_name(view.child_name),
               stage=STAGE_WORDS.get(view.stage, view.stage)),
             _("Office: %(office)s %(phone)s", office=office_name(view),
               phone=view.agency_phone or "")]
    if view.next_appointment is not None:
        parts.append(_("Appointment: %(when)s", when=local_time(view.next_appointment)))
    return "\n".join(p.strip() for p in parts)


def status_message(ctx: EventContext, linked: list) -> dict:
    views = [guardians.parent_view(ctx.session, case) for case in linked]
    alt = "\n\n".join(status_alt(v) for v in views)
    contents = status_bubble(views[0]) if len(views) == 1 else carousel(
        [status_bubble(v) for v in views])
    return flex(alt, contents)


def not_linked_message() -> dict:
    return text(_("You are not following any child's case yet. When the volunteer or officer "
                  "gives you a 6-digit code, type it here. If your child needs help, tap \"Ask "
                  "for help\"."), action_items("parent", [HAVE_CODE, ASK_HELP]))


def link_answer(ctx: EventContext, code: str) -> tuple[dict | None, str | None]:
    """Redeem a link code for the user: the status to show, or what went wrong."""
    result = guardians.redeem_link_code(ctx.session, current_app.config["SECRET_KEY"],
                                        ctx.user, code)
    if result.reason == "locked":
        return None, _("Too many codes that did not match. For your child's safety, please "
                       "wait until %(time)s and try again.",
                       time=thai_time(result.retry_at.astimezone(BANGKOK).time()))
    if result.reason == "used":
        return None, _("This code was used already. Please ask the volunteer or officer for a "
                       "new one.")
    if result.reason == "expired":
        return None, _("This code has expired (codes work for 7 days). Please ask the "
                       "volunteer or officer for a new one.")
    if result.reason == "full":
        return None, _("Two family members already follow this child's case. Please ask the "
                       "officer for help.")
    if result.reason is not None:
        return None, _("This code does not match. Please check the 6 digits and type it "
                       "again.")
    return status_message(ctx, [result.case]), None


def linked_answer(ctx: EventContext, status: dict) -> None:
    ctx.reply(text(_("Done. You will get news of your child's case here. Type \"status\" at "
                     "any time to see it again.")), status)


class ParentCodeStep(Step):
    """The link code, typed (Thai digits fine); "no code yet" and "ask for help" offered."""

    name = "code"

    def prompt(self, ctx, draft):
        return [text(_("Please type the 6-digit code from the volunteer or officer."),
                     choice_items(self.name, [NO_CODE, ASK_HELP]))]

    def take(self, ctx, draft, turn: Turn):
        choice = turn.choice(self.name)
        if choice is None and turn.kind == "text":
            choice = next((c.value for c in (NO_CODE, ASK_HELP)
                           if clean(str(c.label)) == turn.cleaned), None)
        if choice in (NO_CODE.value, ASK_HELP.value):
            draft["next"] = choice
            return None
        code = parse_code(turn.text) if turn.kind == "text" else None
        if code is None and turn.kind == "text" and looks_like_reference(turn.text):
            return Reask([text(_("This is the case's reference number. To follow the case, "
                                 "please type the 6-digit link code from the volunteer or "
                                 "officer: the reference alone cannot link, to protect your "
                                 "child's information."))])
        if code is None:
            return Reask([text(_("The code is 6 digits, e.g. 123456."))])
        status, problem = link_answer(ctx, code)
        if problem is not None:
            return Reask([text(problem)])
        draft["status"] = status
        return None


class VillageStep(Step):
    """The village and its number, typed."""

    name = "village"

    def prompt(self, ctx, draft):
        return [text(_("Which village do you live in? Type the village and its number, e.g. "
                       "Ban Nong Waeng Moo 3."))]

    def take(self, ctx, draft, turn: Turn):
        found = parse_village(turn.text) if turn.kind == "text" else None
        if found is None:
            return Reask([text(_("Please type the village and its number, "
                                 "e.g. Ban Nong Waeng Moo 3."))])
        draft["village"], draft["village_no"] = found[0][:120], found[1]
        return None


class ParentConsentStep(ChoiceStep):
    """The parent's own consent to share the child's information with the agencies and be
    followed up (services.cases.PARENT_STATEMENT_VERSION)."""

    def __init__(self):
        super().__init__("consent", "", CONSENT, "consent")

    def prompt(self, ctx, draft, page: int = 0):
        statement = cases.CONSENT_STATEMENTS[cases.PARENT_STATEMENT_VERSION]
        return [text(str(statement.question), choice_items(self.name, CONSENT))]


def finish_link(engine: Engine):
    def finish(ctx: EventContext, draft: dict) -> None:
        if draft.get("next") == ASK_HELP.value:
            engine.begin(ctx, "ask_help")
            return
        if draft.get("next") == NO_CODE.value:
            ctx.reply(text(_("That's fine. When the volunteer or officer gives you a code, "
                             "just type it here. If your child needs help, tap \"Ask for "
                             "help\", or call %(phone)s (free, 24 hours).",
                             phone=PARENT_HELPLINE), action_items("parent", [ASK_HELP])))
            return
        linked_answer(ctx, draft["status"])

    return finish


def start_help(ctx, draft: dict) -> None:
    draft["submission_key"] = uuid.uuid4().hex


def finish_help(ctx: EventContext, draft: dict) -> None:
    """Create the self-reported case and link the parent to it."""
    if draft.get("consent") != "yes":
        ctx.reply(text(_("Nothing was sent and nothing about your child was kept. If you change "
                         "your mind, type \"ask for help\" again.")))
        return
    user = ctx.user
    if user.role is None:
        user.role = "parent"
    guardian = answer(draft, "guardian", {})
    report = cases.CaseDraft(
        target_group=draft["group"], child_name=answer(draft, "child_name"),
        birth_date=dt.date.fromisoformat(draft["birth_date"]),
        birth_precision=draft.get("birth_precision") or "day",
        guardian_name=guardian.get("name"), guardian_phone=guardian.get("phone"),
        guardian_relation=draft.get("relation"), village=draft.get("village"),
        village_no=draft.get("village_no"), subdistrict_code=draft["subdistrict"],
        situations=draft.get("situations", []), consent=True,
        submission_key=draft["submission_key"],
        statement_version=cases.PARENT_STATEMENT_VERSION,
    )
    result = cases.submit_report(ctx.session, current_app.config["ID_HASH_KEY"], user, report)
    guardians.link_reporter(ctx.session, user, result.case)
    place = ctx.session.get(Area, result.case.subdistrict_code)
    ctx.reply(text(_("Your request was sent. Reference %(ref)s. An officer or a village "
                     "volunteer of Tambon %(subdistrict)s will visit or call you within 7 "
                     "days. Type \"status\" to follow it.", ref=result.case.reference,
                     subdistrict=place.name_th if place else "")))


def register(engine: Engine) -> None:
    """Register the parent's link flow, status, unlinking, my data and asking for help."""
    engine.register(Flow("parent_link", [ParentCodeStep()], finish_link(engine)))
    help_steps = [
        ChoiceStep("group", _l("Which is your child?"), GROUPS, "group"),
        TextStep("child_name", _l("What is your child's name? A first name or a nickname is "
                                  "fine."), "child_name", sealed(read_child_name)),
        BirthStep(),
        AreaStep("district", _l("Which district do you live in?"), "district", "district"),
        AreaStep("subdistrict", _l("Which subdistrict (tambon)?"), "subdistrict",
                 "subdistrict"),
        VillageStep(),
        SituationStep(),
        TextStep("guardian", _l("Your name and phone number? e.g. Buaphan Jaidee 081-234-5678"),
                 "guardian", sealed(read_guardian)),
        ChoiceStep("relation", _l("How are you related to the child?"), RELATIONS,
                   "relation"),
        ParentConsentStep(),
    ]
    engine.register(Flow("ask_help", help_steps, finish_help, start=start_help))

    def for_families(ctx) -> bool:
        if ctx.user.role in ("volunteer", "officer"):
            ctx.reply(text(_("This is for parents and guardians. Volunteers report a child "
                             "with \"report\".")))
            return False
        return True

    @engine.on_intent("ask_help")
    def on_ask_help(ctx, turn, intent) -> None:
        if for_families(ctx):
            engine.begin(ctx, "ask_help")

    @engine.on_postback("parent")
    def on_parent_button(ctx, turn, intent) -> None:
        choice = turn.data.get("v")
        if choice == HAVE_CODE.value:
            engine.begin(ctx, "parent_link")
        elif choice == ASK_HELP.value and for_families(ctx):
            engine.begin(ctx, "ask_help")

    @engine.on_intent("status")
    def on_status(ctx, turn, intent) -> None:
        if ctx.user.role == "volunteer":
            engine.intents["my_cases"](ctx, turn, intent)
            return
        if ctx.user.role == "officer":
            engine.intents["my_work"](ctx, turn, intent)
            return
        linked = guardians.linked_cases(ctx.session, ctx.user)
        if not linked:
            ctx.reply(not_linked_message())
            return
        ctx.reply(status_message(ctx, linked))

    @engine.on_intent("unlink")
    def on_unlink(ctx, turn, intent) -> None:
        linked = guardians.linked_cases(ctx.session, ctx.user)
        if not linked:
            ctx.reply(text(_("You are not following any child's case.")))
            return
        choices = [Choice(str(c.id), _l("Nong %(name)s", name=first_name(c.child_name)))
                   for c in linked]
        ctx.reply(text(_("Stop following which child's case? The case itself goes on; you "
                         "just won't get news here."), action_items("unlink", choices)))

    @engine.on_postback("unlink")
    def on_unlink_choice(ctx, turn, intent) -> None:
        case = guardians.unlink(ctx.session, ctx.user, int_param(turn.data.get("v")))
        if case is None:
            ctx.reply(text(_("You are not following this case.")))
            return
        ctx.reply(text(_("Done. You will no longer get news of Nong %(name)s's case here. To "
                         "follow it again, ask the officer for a new code.",
                         name=first_name(case.child_name))))

    @engine.on_intent("withdraw_consent")
    def on_withdraw(ctx, turn, intent) -> None:
        if ctx.user.role in ("volunteer", "officer"):
            ctx.reply(text(_("Consent belongs to the child's guardian. The guardian can "
                             "withdraw it on LINE after linking to the child's case, or by "
                             "telling the officer in charge.")))
            return
        followed = [c for c in _guarded_cases(ctx) if consent.active(ctx.session, c)]
        if not followed:
            ctx.reply(text(_("There is no consent of yours to withdraw. If you are a "
                             "guardian, link to your child's case first with the 6-digit "
                             "code from the volunteer or the officer.")))
            return
        choices = [Choice(str(c.id), _l("Nong %(name)s", name=first_name(c.child_name)))
                   for c in followed]
        ctx.reply(text(_("Withdrawing consent means Samoe stops sharing the child's "
                         "information with other agencies and keeps no new photos. The "
                         "office in charge is told, and may call you to talk about the help "
                         "the child still needs. Which child?"),
                       action_items(WITHDRAW, choices)))

    @engine.on_postback(WITHDRAW)
    def on_withdraw_choice(ctx, turn, intent) -> None:
        case_id = int_param(turn.data.get("v"))
        case = next((c for c in _guarded_cases(ctx) if c.id == case_id), None)
        if case is None:
            ctx.reply(text(_("Only the child's guardian can withdraw consent.")))
            return
        name = first_name(case.child_name)
        if turn.data.get("c") != "yes":
            items = [{"type": "action", "action": {
                "type": "postback", "label": str(_l("Withdraw consent"))[:20],
                "data": urlencode({"a": WITHDRAW, "v": case.id, "c": "yes"}),
                "displayText": str(_l("Withdraw consent"))}},
                *action_items("menu", [Choice("menu", _l("Keep it"))])]
            ctx.reply(text(_("Withdraw consent for Nong %(name)s (reference %(ref)s)?",
                             name=name, ref=case.reference), items))
            return
        actor = Actor(kind="parent", name=ctx.user.line_user_id, line_user_id=ctx.user.id,
                      via="line")
        try:
            consent.withdraw(ctx.session, actor, case)
        except consent.ConsentError:
            ctx.reply(text(_("Consent for Nong %(name)s was withdrawn already.", name=name)))
            return
        ctx.reply(text(_("Done. Consent for Nong %(name)s is withdrawn: the information is no "
                         "longer shared with other agencies. The office in charge has been "
                         "told.", name=name)))

    @engine.on_intent("my_data")
    def on_my_data(ctx, turn, intent) -> None:
        user = ctx.user
        lines = [_("What Samoe keeps about you:"),
                 _("- Your LINE name: %(name)s", name=user.display_name or "-"),
                 _("- Language: %(lang)s", lang=_("Thai") if user.language == "th"
                   else _("English"))]
        if user.role in ("volunteer", "officer"):
            lines.append(_("- Your registration: %(name)s, %(phone)s",
                           name=user.full_name or "-", phone=user.phone or "-"))
        linked = guardians.linked_cases(ctx.session, user)
        for case in linked:
            lines.append(_("- You follow the case of Nong %(name)s (%(ref)s)",
                           name=first_name(case.child_name), ref=case.reference))
        lines.append(_("Why: to send you news of the cases you follow and to answer you. "
                       "Samoe never sells or publishes it. Type \"unlink\" to stop following "
                       "a case, or ask the officer to see, correct or delete your data."))
        ctx.reply(text("\n".join(lines)))



WITHDRAW = "withdraw_consent"


def _guarded_cases(ctx) -> list:
    """The cases this LINE user is the guardian of: linked, or reported as their own child."""
    linked = guardians.linked_cases(ctx.session, ctx.user)
    own = ctx.session.scalars(sa.select(Case).where(Case.reporter_id == ctx.user.id,
                                                    Case.self_reported.is_(True)))
    seen = {c.id for c in linked}
    return linked + [c for c in own if c.id not in seen]


def link_code_typed(ctx: EventContext, turn: Turn) -> bool:
    """A 6-digit code typed outside any flow by someone who is not a volunteer or an officer:
    link it. True when it was handled."""
    if ctx.user.role in ("volunteer", "officer") or turn.kind != "text":
        return False
    code = parse_code(turn.text)
    if code is None:
        return False
    status, problem = link_answer(ctx, code)
    if problem is not None:
        ctx.reply(text(problem))
    else:
        linked_answer(ctx, status)
    return True


def show_linked_case(ctx: EventContext, reference: str) -> None:
    """A reference typed by a parent: that child's status if they follow the case."""
    case = guardians.linked_case_by_reference(ctx.session, ctx.user, reference)
    if case is None:
        ctx.reply(text(_("This reference is not one of the cases you follow. Type \"status\" "
                         "to see yours.")))
        return
    ctx.reply(status_message(ctx, [case]))
