"""Home visits (volunteers): which child, what was found, anything to add, then confirm.

Steps: the child (the volunteer's own open cases as quick replies, the overdue ones first and
marked, paged with "More"; a reference typed works too), the outcome (five quick replies), the
extras (notes, a photo, the home's location, several of them; "None / don't know" or "Done"
goes on), and a summary to confirm, edit or cancel. On confirm the visit is recorded through
services.visits, that is the workflow's `record_visit` the API uses too: the timeline entry,
the next deadline, the audit row and the notification to the officers in charge. A photo is
kept only when the guardian consented to photos.

Contracts other code relies on:

- the postback ``a=visit&id=<case id>`` starts the visit with that case chosen: the outcome is
  the first question (the morning visit reminders and the case progress carry it);
- the intent ``home_visit`` (bot.intents) and the menu's ``a=menu&v=home_visit`` start it with
  the question "which child".
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlencode

from bot.conversation import (
    CANCEL,
    LABEL_MAX,
    RETURN_TO,
    Choice,
    ChoiceStep,
    Engine,
    Flow,
    Reask,
    Step,
    Turn,
    choice_items,
    int_param,
    postback_action,
)
from bot.dispatch import EventContext
from bot.i18n import gettext as _
from bot.i18n import lazy_gettext as _l
from bot.messages import text
from bot.thai_text import DONE_WORDS, clean, is_none_answer, parse_reference, thai_date
from handlers.flows.report import first_name, today
from models import BANGKOK, Case, utcnow
from services import cases, visits, workflow
from services.access import Actor

FLOW = "visit"  # starts with "which child"
FLOW_FOR_CASE = "visit_case"  # the case is chosen already (a=visit&id=...)
ACTION = "visit"
NOTE_MAX = workflow.TEXT_LIMIT  # all the notes of one visit together
NOTE_PREVIEW = 80  # characters of the note shown in the summary

OUTCOMES = [
    Choice("found", _l("Child found")),
    Choice("not_found", _l("Child not found")),
    Choice("moved", _l("Moved away")),
    Choice("back_in_school", _l("Back in school")),
    Choice("needs_more_help", _l("Needs more help")),
]
SKIP = Choice("__skip__", _l("None / don't know"))
DONE = Choice("__done__", _l("Done"))
CONFIRM = [Choice("confirm", _l("Confirm")), Choice("edit", _l("Edit")),
           Choice("cancel", _l("Cancel"))]
EDITS = {
    "case": _l("Another child"),
    "outcome": _l("Visit outcome"),
    "extras": _l("Note/photo/location"),
}
#: What the volunteer reads when the workflow refuses the visit (WorkflowError codes).
REFUSALS = {
    "case_closed": _l("Nong %(name)s's case is closed, so this visit was not saved. If the "
                      "child needs help again, please tell the officer in charge."),
    "not_owner": _l("Only the volunteer who reported Nong %(name)s can record a visit here, "
                    "so this visit was not saved."),
    "note_too_long": _l("The note is too long, so this visit was not saved. Please record it "
                        "again with a shorter note."),
    "note_invalid": _l("The note has characters Samoe cannot keep, so this visit was not "
                       "saved. Please record it again and type the note once more."),
    "date_before_report": _l("The visit date is before the report of Nong %(name)s, so this "
                             "visit was not saved. Please tell the officer in charge."),
    "case_erased": _l("The details of this case (reference %(ref)s) were erased at the "
                      "guardian's request, so this visit was not saved. If you have "
                      "questions, please ask the officer in charge."),
}
REFUSED = _l("Sorry, this visit could not be saved. Please try again later, or tell the "
             "officer in charge.")


def visit_item(case_id: int, label: str) -> dict:
    """A quick-reply item that starts a visit of this case (the contract a=visit&id=...)."""
    return {"type": "action", "action": {
        "type": "postback", "label": label[:LABEL_MAX],
        "data": urlencode({"a": ACTION, "id": case_id}), "displayText": label[:300]}}


def actor_of(ctx: EventContext) -> Actor:
    """The volunteer, as the workflow records them."""
    return Actor(kind="volunteer", name=ctx.user.line_user_id, line_user_id=ctx.user.id,
                 via="line")


def case_label(case: Case, overdue: bool, numbered: bool) -> str:
    """The child's first name (with the case number when two share a name, and "overdue"),
    at most 20 characters."""
    suffix = ""
    if numbered:
        suffix += " " + str(int(case.reference.rsplit("-", 1)[-1]))
    if overdue:
        marker = _("overdue")
        suffix += f" ({marker})"
    name = first_name(case.child_name) or case.reference
    room = LABEL_MAX - len(suffix)
    if len(name) > room:
        name = name[:room - 1] + "…"
    return name + suffix


def choose(draft: dict, case: Case) -> None:
    draft.update(case_id=case.id, child=first_name(case.child_name), reference=case.reference)


def closed_or_not_yours(ctx: EventContext, case: Case | None) -> str | None:
    """Why this case cannot be visited by this volunteer (None when it can): not theirs (or
    gone), erased at the guardian's request, or closed."""
    if case is None or case.reporter_id != ctx.user.id or case.self_reported:
        return _("This case is not one of yours. You can record visits to the children you "
                 "reported: type \"home visit\" to choose one.")
    if case.erased_at is not None:  # the name is gone: only the reference is left
        return _("The details of this case (reference %(ref)s) were erased at the guardian's "
                 "request, so visits can no longer be recorded for it. If you have questions, "
                 "please ask the officer in charge.", ref=case.reference)
    if case.stage == "closed":
        return _("Nong %(name)s's case is closed, so no visit needs to be recorded. If the "
                 "child needs help again, please tell the officer in charge.",
                 name=first_name(case.child_name))
    return None


# -- steps -----------------------------------------------------------------------------------

class CaseStep(Step):
    """Which child: the volunteer's open cases, the overdue ones first; or a reference typed."""

    name = "case"

    def options(self, ctx) -> list[tuple[Case, Choice]]:
        found = visits.visitable_cases(ctx.session, ctx.user.id)
        now = utcnow()
        names = Counter(first_name(c.child_name) for c in found)
        return [(c, Choice(str(c.id), case_label(c, visits.is_overdue(c, now),
                                                 names[first_name(c.child_name)] > 1)))
                for c in found]

    def prompt(self, ctx, draft, page: int = 0) -> list[dict]:
        options = self.options(ctx)
        if not options:
            return [text(_("You have no open cases to visit now. Type \"cancel\" to stop, or "
                           "\"report\" to report a child."))]
        now = utcnow()
        if any(visits.is_overdue(case, now) for case, _choice in options):
            question = _("Which child did you visit? Children past their due date come "
                         "first. You can also type the reference, e.g. KK-2569-00042.")
        else:
            question = _("Which child did you visit? You can also type the reference, "
                         "e.g. KK-2569-00042.")
        items = choice_items(self.name, [choice for _case, choice in options], page)
        return [text(question, items)]

    def take(self, ctx, draft, turn: Turn):
        if turn.choice(self.name) == "__more__":
            return Reask(self.prompt(ctx, draft, page=int_param(turn.data.get("page"))))
        options = self.options(ctx)
        chosen = turn.choice(self.name)
        if chosen is not None:
            case = next((c for c, choice in options if choice.value == chosen), None)
            if case is None:  # closed or gone since the question was asked
                case = ctx.session.get(Case, int_param(chosen))
                return Reask([text(closed_or_not_yours(ctx, case) or _(
                    "Please choose one of the buttons below."))])
            choose(draft, case)
            return None
        if turn.kind != "text":
            return Reask([text(_("Please tap the child's name, or type the reference."))])
        reference = parse_reference(turn.text)
        if reference is not None:
            case = next((c for c, _choice in options if c.reference == reference), None)
            if case is None:
                found = cases.get_reported_case_by_reference(ctx.session, ctx.user.id,
                                                              reference)
                return Reask([text(closed_or_not_yours(ctx, found) or _(
                    "Please choose one of the buttons below."))])
            choose(draft, case)
            return None
        typed = turn.cleaned
        case = next((c for c, choice in options
                     if typed and typed in (clean(choice.label_text()),
                                            clean(first_name(c.child_name)))), None)
        if case is None:
            return Reask([text(_("Please tap the child's name, or type the reference, "
                                 "e.g. KK-2569-00042."))])
        choose(draft, case)
        return None


class OutcomeStep(ChoiceStep):
    """What the visit found: one of five answers."""

    def __init__(self):
        super().__init__("outcome", "", OUTCOMES, "outcome")

    def prompt(self, ctx, draft, page: int = 0) -> list[dict]:
        return [text(_("How was the visit to Nong %(name)s?", name=draft.get("child", "")),
                     choice_items(self.name, OUTCOMES))]


class ExtrasStep(Step):
    """Optional: notes, a photo, the home's location; several, until "Done" (or skipped)."""

    name = "extras"

    def prompt(self, ctx, draft) -> list[dict]:
        media = [
            {"type": "action", "action": {"type": "camera", "label": str(_l("Take a photo"))}},
            {"type": "action", "action": {"type": "cameraRoll",
                                          "label": str(_l("Choose a photo"))}},
            {"type": "action", "action": {"type": "location",
                                          "label": str(_l("Send location"))}},
        ]
        added = _added(draft)
        if added:
            return [text(_("Added: %(list)s. Anything else? Tap \"Done\" when finished.",
                           list=", ".join(added)),
                         media + [postback_action(self.name, DONE.value, str(DONE.label))])]
        return [text(_("Anything to add? Type a note for the officer, send a photo (only with "
                       "the guardian's permission) or the home's location. If not, tap "
                       "\"None / don't know\"."),
                     media + [postback_action(self.name, SKIP.value, str(SKIP.label))])]

    def claims(self, turn: Turn) -> bool:
        return turn.kind == "text" and turn.cleaned in DONE_WORDS  # "enough" means done here

    def take(self, ctx, draft, turn: Turn):
        chosen = turn.choice(self.name)
        if chosen in (SKIP.value, DONE.value):
            return None
        if turn.kind == "image":
            case = ctx.session.get(Case, draft.get("case_id") or 0)
            if case is None or not visits.photo_consented(ctx.session, case):
                return Reask([text(_("Samoe cannot keep this photo: the guardian has not "
                                     "agreed to photos of the child. You can still type a note "
                                     "or send the location."))])
            draft["photo_message_id"] = turn.message_id
            return Reask(self.prompt(ctx, draft))
        if turn.kind == "location":
            draft["location"] = turn.location
            return Reask(self.prompt(ctx, draft))
        if turn.kind != "text" or not turn.text.strip():
            return Reask([text(_("Type a note, send a photo or the location, or tap "
                                 "\"None / don't know\"."))])
        typed = turn.cleaned
        if typed in DONE_WORDS or typed in (clean(str(DONE.label)), clean(str(SKIP.label))) \
                or is_none_answer(turn.text):
            return None
        note = visits.clean_note(turn.text)
        notes = [*draft.get("notes", []), note] if note else draft.get("notes", [])
        if len("\n".join(notes)) > NOTE_MAX:
            return Reask([text(_("The note is too long to keep. Please make it shorter, at "
                                 "most %(max)s characters in all.", max=f"{NOTE_MAX:,}"))])
        draft["notes"] = notes
        return Reask(self.prompt(ctx, draft))


class ConfirmStep(Step):
    """The summary: confirm, edit a part, or cancel."""

    name = "confirm"

    def __init__(self, edits: list[str]):
        self.edits = edits

    def prompt(self, ctx, draft) -> list[dict]:
        lines = [_("Please check before saving."),
                 _("Nong %(name)s, reference %(ref)s", name=draft.get("child", ""),
                   ref=draft.get("reference", "")),
                 _("Outcome: %(outcome)s", outcome=_label(OUTCOMES, draft.get("outcome"))),
                 _("Visit date: today, %(date)s", date=thai_date(today()))]
        note = "\n".join(draft.get("notes", []))
        if note:
            short = note if len(note) <= NOTE_PREVIEW else note[:NOTE_PREVIEW - 1] + "…"
            lines.append(_("Note: %(note)s", note=short.replace("\n", " ")))
        if draft.get("photo_message_id"):
            lines.append(str(_l("Photo attached")))
        if draft.get("location"):
            lines.append(str(_l("Location attached")))
        lines.append(_("Save this visit?"))
        return [text("\n".join(lines), choice_items(self.name, CONFIRM))]

    def take(self, ctx, draft, turn: Turn):
        value = turn.choice(self.name)
        if value is None and turn.kind == "text":
            value = next((c.value for c in CONFIRM if clean(str(c.label)) == turn.cleaned),
                         None)
        if value == "confirm":
            return None  # END: the flow's finish records the visit
        if value == "cancel":
            return CANCEL
        if value == "edit":
            items = [postback_action(self.name, f"edit:{part}", str(EDITS[part]))
                     for part in self.edits]
            return Reask([text(_("Which field would you like to change?"), items)])
        if value and value.startswith("edit:") and value[5:] in self.edits:
            part = value[5:]
            if part == "extras":  # added again from the start
                for key in ("notes", "photo_message_id", "location"):
                    draft.pop(key, None)
            draft[RETURN_TO] = self.name
            return part
        return Reask([text(_("Tap \"Confirm\" to save the visit, \"Edit\" to change it, or "
                             "\"Cancel\"."))])


def _label(choices: list[Choice], value: str | None) -> str:
    return next((str(c.label) for c in choices if c.value == value), "")


def _added(draft: dict) -> list[str]:
    added = []
    if draft.get("notes"):
        added.append(str(_l("a note")))
    if draft.get("photo_message_id"):
        added.append(str(_l("a photo")))
    if draft.get("location"):
        added.append(str(_l("the location")))
    return added


# -- finishing -------------------------------------------------------------------------------

def finish_visit(ctx: EventContext, draft: dict) -> None:
    """Record the visit and tell the volunteer it is saved and when the next one is due."""
    case = ctx.session.get(Case, draft.get("case_id") or 0)
    problem = closed_or_not_yours(ctx, case)
    if problem is not None:
        ctx.reply(text(problem))
        return
    name = first_name(case.child_name)
    photo, fetched = None, True
    if draft.get("photo_message_id") and visits.photo_consented(ctx.session, case):
        photo = ctx.content(draft["photo_message_id"])  # fetched before this transaction
        fetched = photo is not None
    location = draft.get("location") or {}
    try:
        result = visits.record(
            ctx.session, actor_of(ctx), case, draft["outcome"], visited_on=today(),
            note="\n".join(draft.get("notes", [])) or None,
            latitude=location.get("latitude"), longitude=location.get("longitude"),
            photo=photo)
    except workflow.WorkflowError as refusal:
        ctx.reply(text(str(REFUSALS.get(refusal.code, REFUSED))
                       % {"name": name, "ref": case.reference}))
        return
    lines = [_("The visit to Nong %(name)s is saved. Thank you! Reference %(ref)s. The "
               "officer in charge will see it.", name=name, ref=case.reference)]
    if draft.get("photo_message_id") and not result.photo_kept:
        if not fetched:
            lines.append(_("The photo could not be copied from LINE, so the visit was saved "
                           "without it."))
        else:
            lines.append(_("The photo was not kept: the guardian has not agreed to photos of "
                           "the child."))
    due = visits.next_visit_due(case)
    if due is not None:
        lines.append(_("Next visit due by %(date)s.",
                       date=thai_date(due.astimezone(BANGKOK).date())))
    ctx.reply(text("\n".join(lines)))


# -- entry points ----------------------------------------------------------------------------

def register(engine: Engine) -> None:
    """Register the visit flows, the intent, the menu value and the a=visit postback."""
    outcome, extras = OutcomeStep(), ExtrasStep()
    engine.register(Flow(FLOW, [CaseStep(), outcome, extras,
                                ConfirmStep(["case", "outcome", "extras"])], finish_visit))
    engine.register(Flow(FLOW_FOR_CASE, [outcome, extras, ConfirmStep(["outcome", "extras"])],
                         finish_visit))

    def volunteer_only(ctx) -> bool:
        if ctx.user.role == "volunteer":
            return True
        if ctx.user.role == "officer":
            ctx.reply(text(_("On LINE, home visits are recorded by the village volunteer who "
                             "reported the child. Officers record their visits in the case "
                             "work of their agency.")))
        else:
            ctx.reply(text(_("Home visits are recorded by the village volunteer who reported "
                             "the child. Volunteers can register by tapping \"Village "
                             "volunteer\" in the menu.")))
        return False

    @engine.on_intent("home_visit")
    def on_home_visit(ctx, turn, intent) -> None:
        if not volunteer_only(ctx):
            return
        if not visits.visitable_cases(ctx.session, ctx.user.id, limit=1):
            ctx.reply(text(_("You have no open cases to visit now. When you meet a child who "
                             "is not in school, type \"report\" to report them.")))
            return
        engine.begin(ctx, FLOW)

    @engine.on_postback(ACTION)
    def on_visit_button(ctx, turn, intent) -> None:
        """a=visit&id=<case id>: this case's visit, straight to the outcome."""
        if not volunteer_only(ctx):
            return
        case = ctx.session.get(Case, int_param(turn.data.get("id")))
        problem = closed_or_not_yours(ctx, case)
        if problem is not None:
            ctx.reply(text(problem))
            return
        draft: dict = {}
        choose(draft, case)
        engine.begin(ctx, FLOW_FOR_CASE, draft)
