"""Reporting a child (volunteers): twelve questions, a summary card, and the case created.

Steps: group, name, sex, birth date or age, identity number, guardian's name and phone,
relation, address, situations (several), a photo, location or note, consent; then the summary
with confirm / edit a field / cancel: twelve answers. A confirm tapped twice creates one
case (the draft's submission key); without the guardian's consent only a count is kept.

Consent: the volunteer reads the statement (services.cases.CONSENT_STATEMENTS); [Consent]
covers its three purposes in one tap, [Some only] asks each purpose yes or no (a no to sharing
with the agencies is a no to the whole report), [No consent], [Read the details].

The draft's personal answers (the child's name, the identity number, the guardian's name and
phone, the note, the location) are kept encrypted in the conversation state (`seal`, with the
keys of models.crypto; `flask rotate-key` re-encrypts them too); the rest stays plain JSON,
read on every event.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import current_app

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
from bot.dispatch import EventContext
from bot.flex import bubble, flex, postback_button
from bot.i18n import gettext as _
from bot.i18n import lazy_gettext as _l
from bot.messages import text
from bot.thai_text import (
    clean,
    is_none_answer,
    parse_birth,
    parse_citizen_id,
    parse_phone,
    parse_village,
    thai_date,
)
from models import BANGKOK, Area, Case, crypto, utcnow
from services import cases, deadlines

NAME_MAX = 120
NOTE_MAX = 1000
SKIP = Choice("__skip__", _l("None / don't know"))

GROUPS = [
    Choice("early_childhood", _l("Young child 0-6")),
    Choice("out_of_school", _l("Not in school 6-24")),
]
SEXES = [Choice("male", _l("Boy")), Choice("female", _l("Girl"))]
RELATIONS = [
    Choice("father", _l("Father")), Choice("mother", _l("Mother")),
    Choice("grandparent", _l("Grandparent")), Choice("relative", _l("Relative")),
    Choice("other", _l("Other")),
]
SITUATIONS = [
    Choice("poverty", _l("Family in hardship")),
    Choice("disability", _l("Disability")),
    Choice("no_birth_registration", _l("No birth record")),
    Choice("never_enrolled", _l("Never went to school")),
    Choice("dropped_out", _l("Left school")),
    Choice("family_breakdown", _l("Parents apart/away")),
    Choice("health", _l("Health problem")),
    Choice("migrant", _l("Migrant family")),
    Choice("other", _l("Other")),
]
CONSENT = [
    Choice("yes", _l("Consent")), Choice("some", _l("Some only")),
    Choice("no", _l("No consent")), Choice("read", _l("Read the details")),
]
AGREE = [Choice("yes", _l("Consent")), Choice("no", _l("No consent"))]
#: The consent purposes in words (the same words as the console's).
PURPOSE_WORDS = {
    "share_with_agencies": _l("Share with the agencies that help children"),
    "photo": _l("Keep a photo of the child"),
    "follow_up_contact": _l("Contact the family to follow up"),
}
#: The steps asking each purpose on its own ([Some only]), in the statement's order.
PURPOSE_STEPS = {"share_with_agencies": "consent_share", "photo": "consent_photo",
                 "follow_up_contact": "consent_contact"}
SUMMARY_FIELDS = [
    ("child_name", _l("Name")), ("birth", _l("Birth date")), ("id", _l("ID number")),
    ("guardian", _l("Guardian")), ("address", _l("Address")),
    ("situations", _l("Situation")), ("note", _l("Note")), ("consent", _l("Consent")),
]
#: Draft answers that hold personal data: stored encrypted (`seal`).
SEALED = ("child_name", "id", "guardian", "note", "location")
BIRTH_HINTS = {
    "future_date": _l("This date is in the future. Please check the year (Buddhist era), "
                      "e.g. 13/8/2562."),
    "no_such_day": _l("This date does not exist. Please check the day and month, "
                      "e.g. 13/8/2562."),
    "ambiguous_year": _l("Is the year Buddhist era or Christian era? Please type the full "
                         "year, e.g. 13/8/2562."),
}
ID_HINTS = {
    "bad_checksum": _l("This 13-digit ID number is not right. Compare it with the birth "
                       "certificate or house registration, or tap \"None / don't know\"."),
}


def seal(value):
    """A draft answer encrypted for the conversation state (JSON inside a Fernet token of
    models.crypto); None stays None."""
    if value is None:
        return None
    return crypto.encrypt_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def unseal(value):
    """A draft answer as it was given: decrypted if `seal`ed (a draft kept from before
    answers were sealed is read as it is)."""
    if isinstance(value, str) and value.startswith(crypto.PREFIX):
        return json.loads(crypto.decrypt_text(value))
    return value


def answer(draft: dict, key: str, default=None):
    """The draft's answer `key`, unsealed."""
    value = unseal(draft.get(key))
    return default if value is None else value


def sealed(read):
    """A TextStep reader whose value is stored sealed."""
    def read_sealed(ctx, draft, typed: str):
        value, hint = read(ctx, draft, typed)
        return (None, hint) if hint is not None else (seal(value), None)

    return read_sealed


def label_of(choices: list[Choice], value: str | None) -> str:
    """The label of a choice value (empty when unknown)."""
    return next((str(c.label) for c in choices if c.value == value), "")


def today() -> dt.date:
    return utcnow().astimezone(BANGKOK).date()


def first_name(full: str | None) -> str:
    """The first word of a name without its title (services.cases.without_titles), as the bot
    calls the child: "Nong" and the first name."""
    return cases.without_titles(full).split(" ")[0]


# -- readers -----------------------------------------------------------------------------------

def read_child_name(ctx, draft, typed: str):
    name = re.sub(r"\s+", " ", typed).strip()
    if not 1 <= len(name) <= NAME_MAX or not re.search(r"[^\W\d_]", name):
        return None, _("Please type the child's name (a first name or a nickname is fine).")
    return name, None


def read_id(ctx, draft, typed: str):
    result = parse_citizen_id(typed)
    if result.ok:
        return {"kind": result.kind, "value": result.value}, None
    return None, str(ID_HINTS.get(result.reason, _l(
        "Please type the 13-digit ID number, a G code (G and 12 digits), or tap "
        "\"None / don't know\".")))


def read_guardian(ctx, draft, typed: str):
    """The guardian's name followed by a phone number (the phone may be left out)."""
    cleaned = re.sub(r"\s+", " ", typed).strip()
    digit = r"[\d\u0e50-\u0e59]"
    match = re.search(rf"(\+?{digit}[{digit[1:-1]} \-.]*{digit})\s*$", cleaned)
    if match and len(re.findall(digit, match.group(1))) < 3:
        match = None  # a house number or the like, not a phone
    phone = None
    name = cleaned
    if match:
        result = parse_phone(match.group(1))
        if not result.ok:
            return None, _("This phone number is not right. Type the name and then the number, "
                           "e.g. Buaphan Jaidee 081-234-5678.")
        phone = result.value
        name = cleaned[:match.start()].strip()
    if not 2 <= len(name) <= NAME_MAX or not re.search(r"[^\W\d_]", name):
        return None, _("Please type the guardian's name and then the phone number, "
                       "e.g. Buaphan Jaidee 081-234-5678.")
    return {"name": name, "phone": phone}, None


# -- steps with their own reading ----------------------------------------------------------------

class BirthStep(Step):
    """Birth date or age: typed in any common form, or picked with the date picker."""

    name = "birth"

    def prompt(self, ctx, draft):
        picker = {"type": "action", "action": {
            "type": "datetimepicker", "label": str(_l("Pick a date"))[:20],
            "data": urlencode({"step": self.name, "v": "picked"}), "mode": "date",
            "max": today().isoformat(), "min": "1995-01-01"}}
        return [text(_("When was the child born? Type day/month/Buddhist year, e.g. 13/8/2562, "
                       "or tap \"Pick a date\". If you don't know, type the age, e.g. 3 years "
                       "or 15 years."), [picker])]

    def take(self, ctx, draft, turn: Turn):
        if turn.choice(self.name) == "picked" and turn.params.get("date"):
            result = parse_birth(turn.params["date"], today())
        elif turn.kind == "text":
            result = parse_birth(turn.text, today())
        else:
            return Reask([text(_("Please type the birth date or the age."))])
        if not result.ok:
            hint = BIRTH_HINTS.get(result.reason, _l(
                "I can't read this birth date yet. Try 13/8/2562 or tap \"Pick a date\"."))
            return Reask([text(str(hint))])
        problem = cases.check_age(draft["group"], result.birth_date, today())
        if problem is not None:
            low, high = cases.AGE_RANGES[draft["group"]]
            return Reask([text(_("This age does not fit the group %(group)s (%(low)s-%(high)s "
                                 "years). Check the date, or type \"back\" to change the "
                                 "group.", group=label_of(GROUPS, draft["group"]),
                                 low=low, high=high))])
        draft["birth_date"] = result.birth_date.isoformat()
        draft["birth_precision"] = result.precision
        return None


class AddressStep(Step):
    """Where the child lives: the volunteer's own village (one tap), or typed."""

    name = "address"

    def prompt(self, ctx, draft):
        items = choice_items(self.name, [Choice("mine", _l("Same village as me"))])
        return [text(_("Where does the child live? Tap \"Same village as me\", or type the "
                       "village and its number, e.g. Ban Nong Waeng Moo 3."), items)]

    def take(self, ctx, draft, turn: Turn):
        user = ctx.user
        if turn.choice(self.name) == "mine" or clean(turn.text) == clean(
                str(_l("Same village as me"))):
            draft.update(village=user.village, village_no=user.village_no,
                         subdistrict=user.subdistrict_code)
            return None
        if turn.kind != "text":
            return Reask([text(_("Please type the village, e.g. Ban Nong Waeng Moo 3."))])
        found = parse_village(turn.text)
        if found is None:
            return Reask([text(_("Please type the village and its number, "
                                 "e.g. Ban Nong Waeng Moo 3."))])
        village, number = found
        draft.update(village=village[:120], village_no=number,
                     subdistrict=user.subdistrict_code)
        return None


class SituationStep(MultiChoiceStep):
    """Several situation flags: each tap adds one, "Done" goes on."""

    name = "situations"

    def prompt(self, ctx, draft):
        chosen = draft.get("situations", [])
        left = [c for c in SITUATIONS if c.value not in chosen]
        done = [Choice("__done__", _l("Done"))] if chosen else []
        items = choice_items(self.name, left + done)
        if chosen:
            question = _("Chosen: %(list)s. Anything else? Tap \"Done\" when finished.",
                         list=", ".join(label_of(SITUATIONS, c) for c in chosen))
        else:
            question = _("What is the child's situation? Choose one, then add more if needed.")
        return [text(question, items)]

    def take(self, ctx, draft, turn: Turn):
        value = self.tapped(turn, [*SITUATIONS, Choice("__done__", _l("Done"))], "__done__")
        chosen = draft.setdefault("situations", [])
        if value == "__done__" and chosen:
            return None
        if value in {c.value for c in SITUATIONS}:
            if value not in chosen:
                chosen.append(value)
            return Reask(self.prompt(ctx, draft))
        return Reask([text(_("Please choose from the buttons below."))])


class ExtrasStep(Step):
    """One optional answer: a photo, the home's location, or a note for the officer."""

    name = "extras"

    def prompt(self, ctx, draft):
        items = [
            {"type": "action", "action": {"type": "camera", "label": str(_l("Take a photo"))}},
            {"type": "action", "action": {"type": "cameraRoll",
                                          "label": str(_l("Choose a photo"))}},
            {"type": "action", "action": {"type": "location",
                                          "label": str(_l("Send location"))}},
            postback_action(self.name, "__skip__", str(_l("Skip"))),
        ]
        return [text(_("Anything to add? Send a photo of the child or the home's location "
                       "(only with the guardian's permission), or type a note for the officer. "
                       "If not, tap \"Skip\"."), items)]

    def take(self, ctx, draft, turn: Turn):
        if turn.kind == "image":
            draft["photo_message_id"] = turn.message_id
            return None
        if turn.kind == "location":
            draft["location"] = seal(turn.location)
            return None
        if turn.choice(self.name) == "__skip__" or turn.cleaned == clean(str(_l("Skip"))) \
                or is_none_answer(turn.text):
            return None
        if turn.kind == "text" and turn.text.strip():
            draft["note"] = seal(turn.text.strip()[:NOTE_MAX])
            return None
        return Reask([text(_("Send a photo or a location, type a note, or tap \"Skip\"."))])


def _statement() -> cases.ConsentStatement:
    return cases.CONSENT_STATEMENTS[cases.CONSENT_STATEMENT_VERSION]


class ConsentStep(ChoiceStep):
    """The guardian's consent, read aloud by the volunteer: all purposes of the statement in
    one tap, some only (each asked on its own), none; the details on request."""

    def __init__(self):
        super().__init__("consent", "", CONSENT, "consent")

    def prompt(self, ctx, draft, page: int = 0):
        return [text(str(_statement().question), choice_items(self.name, CONSENT))]

    def take(self, ctx, draft, turn):
        outcome = super().take(ctx, draft, turn)
        if isinstance(outcome, Reask):
            return outcome
        choice = draft.pop("consent")
        if choice == "read":
            return Reask([text(str(_statement().details)), *self.prompt(ctx, draft)])
        draft.pop(RETURN_TO, None)  # the summary comes next in every case (edit included)
        draft["statement_version"] = cases.CONSENT_STATEMENT_VERSION
        if choice == "some":
            draft["consent"], draft["purposes"] = "some", []
            return PURPOSE_STEPS["share_with_agencies"]
        draft["consent"] = choice
        draft.pop("purposes", None)
        return "summary"


class PurposeStep(Step):
    """One purpose of the statement, yes or no ([Some only]). A no to sharing with the
    agencies is a no to the whole report (nothing about the child is kept)."""

    def __init__(self, purpose: str):
        self.purpose = purpose
        self.name = PURPOSE_STEPS[purpose]

    def prompt(self, ctx, draft):
        return [text(str(_statement().purposes[self.purpose]), choice_items(self.name, AGREE))]

    def take(self, ctx, draft, turn: Turn):
        value = turn.choice(self.name)
        if value is None and turn.kind == "text":
            value = next((c.value for c in AGREE if clean(str(c.label)) == turn.cleaned), None)
        if value not in ("yes", "no"):
            return Reask([text(_("Please choose one of the buttons below."))])
        chosen = [p for p in draft.get("purposes", []) if p != self.purpose]
        if value == "yes":
            chosen.append(self.purpose)
        draft["purposes"] = [p for p in cases.CONSENT_PURPOSES if p in chosen]
        if self.purpose == "share_with_agencies" and value == "no":
            draft["consent"] = "no"
            draft.pop("purposes")
            return "summary"
        names = list(PURPOSE_STEPS.values())
        index = names.index(self.name)
        return names[index + 1] if index + 1 < len(names) else "summary"


def draft_purposes(draft: dict) -> list[str]:
    """The purposes the guardian agreed to in the draft (none without consent)."""
    if draft.get("consent") == "yes":
        version = draft.get("statement_version", "2569-1")
        return list(cases.CONSENTED_BY_YES.get(version, ("share_with_agencies",)))
    if draft.get("consent") == "some":
        return list(draft.get("purposes", []))
    return []


def consent_text(draft: dict) -> str:
    """The consent as the summary shows it."""
    if draft.get("consent") == "some":
        chosen = draft_purposes(draft)
        return _("Some only: %(list)s", list=", ".join(str(PURPOSE_WORDS[p]) for p in chosen))
    return label_of(CONSENT, draft.get("consent"))


class SummaryStep(Step):
    """The summary card: confirm, edit a field, or cancel."""

    name = "summary"

    def prompt(self, ctx, draft):
        birth = dt.date.fromisoformat(draft["birth_date"])
        precision = draft.get("birth_precision")
        born = thai_date(birth, None if precision == "age" else precision)
        if precision == "age":
            born = _("about %(date)s (from the age)", date=born)
        guardian = answer(draft, "guardian", {})
        rows = [
            (str(_l("Group")), label_of(GROUPS, draft.get("group"))),
            (str(_l("Name")), answer(draft, "child_name", "")),
            (str(_l("Sex")), label_of(SEXES, draft.get("sex"))),
            (str(_l("Birth date")), born),
            (str(_l("ID number")), _id_text(answer(draft, "id"))),
            (str(_l("Guardian")), " ".join(filter(None, [
                guardian.get("name"), guardian.get("phone"),
                f"({label_of(RELATIONS, draft.get('relation'))})"]))),
            (str(_l("Address")), _address_text(ctx, draft)),
            (str(_l("Situation")), ", ".join(label_of(SITUATIONS, s)
                                             for s in draft.get("situations", []))),
            (str(_l("Photo/location")), _extras_text(draft)),
            (str(_l("Note")), answer(draft, "note") or "-"),
            (str(_l("Consent")), consent_text(draft)),
        ]
        key = draft["submission_key"]
        buttons = [
            postback_button(str(_l("Send report")), urlencode(
                {"step": self.name, "v": "confirm", "a": "report_sent", "k": key}),
                primary=True),
            postback_button(str(_l("Edit a field")), urlencode({"step": self.name, "v": "edit"})),
            postback_button(str(_l("Cancel")), urlencode({"step": self.name, "v": "cancel"})),
        ]
        title = _("Report on %(name)s", name=first_name(answer(draft, "child_name", "")))
        card = bubble(title, rows, buttons, subtitle=_("Please check before sending"))
        alt = title + "\n" + "\n".join(f"{label}: {value}" for label, value in rows)
        return [flex(alt, card)]

    def take(self, ctx, draft, turn: Turn):
        value = turn.choice(self.name)
        typed = turn.cleaned
        if value is None and typed == clean(str(_l("Send report"))):
            value = "confirm"
        if value == "confirm":
            return None  # END: the flow's finish sends the report
        if value == "edit" or typed == clean(str(_l("Edit a field"))):
            items = [postback_action(self.name, f"edit:{field}", str(label))
                     for field, label in SUMMARY_FIELDS]
            return Reask([text(_("Which field would you like to change?"), items)])
        if value and value.startswith("edit:"):
            field_name = value.split(":", 1)[1]
            step = EDIT_STEPS.get(field_name)
            if step is None:
                return Reask([text(_("Please choose from the buttons below."))])
            draft[RETURN_TO] = self.name
            return step
        if value == "cancel" or typed == clean(str(_l("Cancel"))):
            return CANCEL
        return Reask([text(_("Tap \"Send report\" to send, or \"Edit a field\"."))])


EDIT_STEPS = {"child_name": "child_name", "birth": "birth", "id": "id", "guardian": "guardian",
              "address": "address", "situations": "situations", "note": "extras",
              "consent": "consent"}


def _id_text(value: dict | None) -> str:
    if not value or value.get("kind") == "none":
        return str(_l("None / don't know"))
    number = value.get("value") or ""
    return "•" * (len(number) - 4) + number[-4:]  # only the last four digits on a phone


def _address_text(ctx, draft) -> str:
    place = ctx.session.get(Area, draft.get("subdistrict") or "")
    return _("%(village)s Moo %(no)s, Tambon %(subdistrict)s", village=draft.get("village", ""),
             no=draft.get("village_no", ""), subdistrict=place.name_th if place else "")


def _extras_text(draft) -> str:
    if draft.get("photo_message_id"):
        if draft.get("consent") in ("yes", "some") and "photo" not in draft_purposes(draft):
            return str(_l("Photo attached, not kept (no consent to photos)"))
        return str(_l("Photo attached"))
    if draft.get("location"):
        return str(_l("Location attached"))
    return "-"


def start_report(ctx, draft: dict) -> None:
    draft["submission_key"] = uuid.uuid4().hex


def finish_report(ctx: EventContext, draft: dict) -> None:
    """Create the case (or count it anonymously) and tell the volunteer what happens next."""
    consented = draft.get("consent") in ("yes", "some")
    legacy = consented and "statement_version" not in draft  # answered before versions 2569-2
    purposes = None if legacy else tuple(draft_purposes(draft))
    photo = None
    if draft.get("photo_message_id") and consented and (legacy or "photo" in purposes):
        photo = ctx.content(draft["photo_message_id"])  # fetched before this transaction
    guardian = answer(draft, "guardian", {})
    location = answer(draft, "location", {})
    identity = answer(draft, "id", {"kind": "none", "value": None})
    report = cases.CaseDraft(
        target_group=draft["group"], child_name=answer(draft, "child_name"),
        sex=draft.get("sex"),
        birth_date=dt.date.fromisoformat(draft["birth_date"]),
        birth_precision=draft.get("birth_precision") or "day",
        id_kind=identity["kind"], id_number=identity.get("value"),
        guardian_name=guardian.get("name"), guardian_phone=guardian.get("phone"),
        guardian_relation=draft.get("relation"), village=draft.get("village"),
        village_no=draft.get("village_no"), subdistrict_code=draft.get("subdistrict"),
        situations=draft.get("situations", []), note=answer(draft, "note") or None,
        latitude=location.get("latitude"), longitude=location.get("longitude"),
        location_address=location.get("address"), photo=photo,
        consent=consented, submission_key=draft["submission_key"],
        statement_version=draft.get("statement_version", "2569-1"), purposes=purposes,
    )
    result = cases.submit_report(ctx.session, current_app.config["ID_HASH_KEY"], ctx.user, report)
    ctx.reply(text(report_answer(ctx, result)))


def report_answer(ctx, result) -> str:
    """What the volunteer is told after sending."""
    if result.anonymous:
        return _("Without the guardian's consent, Samoe keeps no personal information about "
                 "this child: the report is counted for the subdistrict only. If the guardian "
                 "agrees later, you can report again.")
    case = result.case
    place = ctx.session.get(Area, case.subdistrict_code or "")
    if result.duplicate:
        return _("This child already has a case (reference %(ref)s). Your information was "
                 "added to it instead of opening a new one.", ref=case.reference)
    days = deadlines.for_agency(ctx.session, case.owner_agency_code).verify
    return _("Report sent. Reference %(ref)s. An officer for Tambon %(subdistrict)s will contact "
             "the family within %(days)s days.", ref=case.reference,
             subdistrict=place.name_th if place else "", days=days)


def register(engine: Engine) -> None:
    """Register the report flow and its entry points."""
    steps = [
        ChoiceStep("group", _l("Which group is the child in?"), GROUPS, "group"),
        TextStep("child_name", _l("What is the child's name? Type the first and last name "
                                  "(a first name or a nickname is fine)."), "child_name",
                 sealed(read_child_name)),
        ChoiceStep("sex", _l("Is the child a boy or a girl?"), SEXES, "sex"),
        BirthStep(),
        TextStep("id", _l("The child's 13-digit ID number, or a G code from school? If there "
                          "is none, tap \"None / don't know\"."), "id", sealed(read_id),
                 quick=[SKIP]),
        TextStep("guardian", _l("The guardian's name and phone? e.g. Buaphan Jaidee "
                                "081-234-5678 (no phone: type just the name)."), "guardian",
                 sealed(read_guardian)),
        ChoiceStep("relation", _l("How is the guardian related to the child?"), RELATIONS,
                   "relation"),
        AddressStep(),
        SituationStep(),
        ExtrasStep(),
        ConsentStep(),
        *(PurposeStep(purpose) for purpose in cases.CONSENT_PURPOSES),
        SummaryStep(),
    ]
    flow = engine.register(Flow("report", steps, finish_report, start=start_report))
    skip_id = steps[4]
    original_take = skip_id.take

    def take_id(ctx, draft, turn):
        if turn.choice("id") == SKIP.value:
            draft["id"] = {"kind": "none", "value": None}
            return None
        return original_take(ctx, draft, turn)

    skip_id.take = take_id
    @engine.on_intent("report")
    def on_report(ctx, turn, intent) -> None:
        if ctx.user.role != "volunteer":
            ctx.reply(text(_("Reporting a child is for registered village volunteers. "
                             "Tap \"Village volunteer\" in the menu to register.")))
            return
        engine.begin(ctx, flow.name)

    @engine.on_postback("report")
    def on_report_button(ctx, turn, intent) -> None:
        on_report(ctx, turn, intent)

    @engine.on_postback("report_sent")
    def on_sent_again(ctx, turn, intent) -> None:
        """A confirm tapped again after the report went: say where it went, create nothing."""
        key = turn.data.get("k", "")
        case = (ctx.session.scalar(sa.select(Case).where(Case.submission_key == key))
                if key else None)
        if case is None:
            ctx.reply(text(_("This report was not sent. Type \"report\" to start again.")))
            return
        ctx.reply(text(_("This report was sent already: reference %(ref)s.",
                         ref=case.reference)))
