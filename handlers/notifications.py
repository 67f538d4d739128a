"""Renderers of service notifications (services.notifications.notify) into LINE messages,
and the answer to the button they carry (a parent confirming a service was received).

The sender calls each renderer under the recipient's locale (force_locale), so every text
here comes from the catalog. Who reads what (DESIGN.md §3):

- `case.volunteer_update`: the volunteer who reported the child; plain stage words.
- `case.parent_update`: linked parents (and a parent who reported their own child); parent
  stage words, the office and its phone, appointments; a service asks "did you receive it?".
  Never internal notes, the reporter, ID numbers or other children.
- `referral.received`, `referral.answered`, `referral.cancelled`, `case.parent_confirmed`,
  `case.visit_recorded`, `case.consent_withdrawn`, `case.reported_again`: officers; officer
  stage words.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import sqlalchemy as sa
from flask_babel import get_locale

from bot.conversation import Choice, action_items, int_param
from bot.extensions import db
from bot.i18n import gettext as _
from bot.i18n import lazy_gettext as _l
from bot.messages import text
from bot.outbox import renderer
from bot.thai_text import thai_date, thai_time
from handlers.flows.my_cases import STAGE_WORDS
from handlers.flows.report import first_name
from models import BANGKOK, Agency, Case, CaseGuardian, CaseService, LineUser
from services import workflow
from services.access import Actor

LABEL_MAX = 20
#: Free text from officers (a reason, a place) shown in a notification is cut to this.
FREE_TEXT_MAX = 300

#: Stages as officers name them (DESIGN.md §3, officer column).
OFFICER_STAGE_WORDS = {
    "received": _l("Case received"),
    "verifying": _l("Verifying"),
    "referred": _l("Referred to an agency"),
    "in_support": _l("In support"),
    "follow_up": _l("Follow-up"),
    "closed": _l("Case closed"),
}
#: Services (DESIGN.md §7 codes) in words a parent understands.
SERVICE_WORDS = {
    "school_enrolment": _l("School enrolment"),
    "learn_enrolment": _l("Enrolment with the learning-promotion office"),
    "scholarship": _l("A scholarship"),
    "birth_registration": _l("Birth registration"),
    "health_check": _l("A health check"),
    "nutrition": _l("Help with food"),
    "disability_registration": _l("A disability card"),
    "welfare_grant": _l("Welfare money for the family"),
    "ecd_centre_place": _l("A place at a child development centre"),
    "vocational_training": _l("Vocational training"),
    "other": _l("Other help"),
}
#: Home visit outcomes (services.workflow.VISIT_OUTCOMES).
VISIT_WORDS = {
    "found": _l("the child was found at home"),
    "not_found": _l("the child was not found"),
    "moved": _l("the family has moved"),
    "back_in_school": _l("the child is back in school"),
    "needs_more_help": _l("the child needs more help"),
}
CONFIRM_ACTION = "confirm_service"


# -- words and dates in the reader's language ------------------------------------------------

def english() -> bool:
    locale = get_locale()
    return locale is not None and locale.language == "en"


def show_date(value: dt.date | str | None) -> str:
    """A date as the reader writes it: in Thai with the Buddhist-era year, else "3 Dec 2026"."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if english():
        return f"{value.day} {value:%b} {value.year}"
    return thai_date(value)


def show_time(moment: dt.datetime) -> str:
    return f"{moment:%H:%M}" if english() else thai_time(moment)


def words(table: dict, code: str | None) -> str:
    """The words for a code, or the code itself if it is new (never an error)."""
    return str(table[code]) if code in table else (code or "")


def agency_name(code: str | None, name_th: str | None = None,
                name_en: str | None = None) -> str:
    """An agency's name in the reader's language (the short Thai name, the English name)."""
    if not code:
        return ""
    if not (name_en if english() else name_th):
        agency = db.session.get(Agency, code)
        if agency is not None:
            name_th, name_en = agency.short_name_th, agency.name_en
    return (name_en if english() else name_th) or code


def _cut(value: str | None) -> str:
    value = " ".join((value or "").split())
    return value if len(value) <= FREE_TEXT_MAX else value[:FREE_TEXT_MAX - 1] + "…"


def _owner(payload: dict) -> str:
    return agency_name(payload.get("agency"), payload.get("agency_name_th"),
                       payload.get("agency_name_en"))


def _office_line(payload: dict) -> str:
    phone = payload.get("agency_phone")
    if phone:
        return _("Office in charge: %(agency)s, phone %(phone)s", agency=_owner(payload),
                 phone=phone)
    return _("Office in charge: %(agency)s", agency=_owner(payload))


def _quick(label: str, data: dict) -> dict:
    return {"type": "action", "action": {"type": "postback", "label": label[:LABEL_MAX],
                                         "data": urlencode(data), "displayText": label}}


# -- volunteers and parents ------------------------------------------------------------------

def _update_lines(payload: dict, stage_words: dict) -> list[str]:
    """What changed, the stage and the office: the lines a volunteer and a parent share."""
    lines = [_("News about Nong %(name)s (reference %(ref)s).",
               name=first_name(payload.get("child")), ref=payload.get("reference", ""))]
    event = payload.get("event")
    if event == "accepted":
        lines.append(_("A new office now looks after the case."))
    elif event == "service":
        lines.append(_("Help given: %(service)s (%(date)s)",
                       service=words(SERVICE_WORDS, payload.get("service")),
                       date=show_date(payload.get("provided_on"))))
    elif event == "appointment" and payload.get("at"):
        at = dt.datetime.fromisoformat(payload["at"]).astimezone(BANGKOK)
        lines.append(_("Appointment: %(date)s at %(time)s", date=show_date(at.date()),
                       time=show_time(at)))
        if payload.get("place"):
            lines.append(_("Place: %(place)s", place=_cut(payload["place"])))
    if event not in ("service", "appointment"):  # those leave the stage as it was
        lines.append(_("Status: %(stage)s", stage=words(stage_words, payload.get("stage"))))
    if event == "stage" and payload.get("to_agency"):
        lines.append(_("Sent on to: %(agency)s", agency=agency_name(payload["to_agency"])))
    lines.append(_office_line(payload))
    return lines


@renderer("case.volunteer_update")
def volunteer_update(payload: dict, user: LineUser | None) -> list[dict]:
    """The reporting volunteer: the child, the reference, the stage, the office."""
    return [text("\n".join(_update_lines(payload, STAGE_WORDS)))]


@renderer("case.parent_update")
def parent_update(payload: dict, user: LineUser | None) -> list[dict]:
    """A parent: the stage in parent words, the office; a service asks for confirmation."""
    lines = _update_lines(payload, STAGE_WORDS)
    if payload.get("event") != "service" or not payload.get("service_id"):
        return [text("\n".join(lines))]
    lines.append(_("Did you receive it?"))
    data = {"a": CONFIRM_ACTION, "case": payload.get("case_id"),
            "service": payload["service_id"]}
    items = [_quick(_("Yes, received"), {**data, "v": "yes"}),
             _quick(_("Not yet"), {**data, "v": "no"})]
    return [text("\n".join(lines), items)]


# -- officers --------------------------------------------------------------------------------

def _case_words(payload: dict) -> dict:
    return {"name": first_name(payload.get("child")), "ref": payload.get("reference", "")}


@renderer("referral.received")
def referral_received(payload: dict, user: LineUser | None) -> list[dict]:
    """Officers of the receiving agency: who sends which case, why; accept with a tap."""
    lines = [_("A case was referred to your agency: Nong %(name)s, reference %(ref)s, from "
               "%(agency)s.", agency=agency_name(payload.get("from_agency")),
               **_case_words(payload))]
    if payload.get("reason"):
        lines.append(_("Reason: %(reason)s", reason=_cut(payload["reason"])))
    lines.append(_("Tap \"Accept\" to take the case, or type \"my work\" to see all your "
                   "work."))
    items = [_quick(_("Accept"), {"a": "accept_referral", "r": payload.get("referral_id")}),
             _quick(_("My work"), {"a": "menu", "v": "my_work"})]
    return [text("\n".join(lines), items)]


@renderer("referral.answered")
def referral_answered(payload: dict, user: LineUser | None) -> list[dict]:
    """Officers of the referring agency: the other agency accepted or declined."""
    to_agency = agency_name(payload.get("to_agency"))
    if payload.get("answer") == "accepted":
        return [text(_("%(agency)s accepted the case of Nong %(name)s (reference %(ref)s) and "
                       "now looks after it.", agency=to_agency, **_case_words(payload)))]
    lines = [_("%(agency)s declined the case of Nong %(name)s (reference %(ref)s).",
               agency=to_agency, **_case_words(payload))]
    if payload.get("reason"):
        lines.append(_("Reason: %(reason)s", reason=_cut(payload["reason"])))
    lines.append(_("The case is back with your agency. Stage: %(stage)s",
                   stage=words(OFFICER_STAGE_WORDS, payload.get("stage"))))
    return [text("\n".join(lines))]


@renderer("case.parent_confirmed")
def parent_confirmed(payload: dict, user: LineUser | None) -> list[dict]:
    """Officers of the owner agency: the parent says the service was received."""
    return [text(_("The parent of Nong %(name)s (reference %(ref)s) confirmed receiving: "
                   "%(service)s.", service=words(SERVICE_WORDS, payload.get("service")),
                   **_case_words(payload)))]


@renderer("case.parent_not_received")
def parent_not_received(payload: dict, user: LineUser | None) -> list[dict]:
    """Officers of the owner agency: the parent says a recorded service has not arrived."""
    return [text(_("The parent of Nong %(name)s (reference %(ref)s) says this has not been "
                   "received yet: %(service)s. Please check.",
                   service=words(SERVICE_WORDS, payload.get("service")),
                   **_case_words(payload)))]


@renderer("case.visit_recorded")
def visit_recorded(payload: dict, user: LineUser | None) -> list[dict]:
    """Officers of the owner agency: the volunteer visited the child's home."""
    return [text(_("The volunteer visited Nong %(name)s (reference %(ref)s) on %(date)s: "
                   "%(outcome)s.", date=show_date(payload.get("visited_on")),
                   outcome=words(VISIT_WORDS, payload.get("outcome")),
                   **_case_words(payload)))]


@renderer("case.consent_withdrawn")
def consent_withdrawn(payload: dict, user: LineUser | None) -> list[dict]:
    """Officers of the owner agency: the guardian withdrew consent."""
    return [text(_("The guardian of Nong %(name)s (reference %(ref)s) has withdrawn consent. "
                   "The case is no longer shared with other agencies and no new photos are "
                   "kept. Please call the family about the help the child still needs.",
                   **_case_words(payload)))]


@renderer("referral.cancelled")
def referral_cancelled(payload: dict, user: LineUser | None) -> list[dict]:
    """Officers of the receiving agency: the guardian withdrew consent before they answered."""
    return [text(_("The referral of Nong %(name)s (reference %(ref)s) from %(agency)s was "
                   "cancelled: the guardian withdrew consent, so the case is no longer shared "
                   "with other agencies. There is nothing to answer.",
                   agency=agency_name(payload.get("from_agency")), **_case_words(payload)))]


@renderer("case.reported_again")
def reported_again(payload: dict, user: LineUser | None) -> list[dict]:
    """Officers of the owner agency: a new report of a child whose guardian withdrew consent."""
    return [text(_("A volunteer reported Nong %(name)s (reference %(ref)s) again. The guardian "
                   "had withdrawn consent, and it stays withdrawn: the case is still not shared "
                   "and no photo was kept. Please talk with the family.",
                   **_case_words(payload)))]


# -- the parent's answer to "did you receive it?" --------------------------------------------


def may_confirm(session, user: LineUser, case: Case) -> bool:
    """A parent linked to the case (CaseGuardian, not unlinked), or the parent who reported
    their own child (who gets the parent updates but has no guardian link)."""
    if case.self_reported and case.reporter_id == user.id:
        return True
    return session.scalar(
        sa.select(sa.func.count()).select_from(CaseGuardian)
        .where(CaseGuardian.case_id == case.id, CaseGuardian.line_user_id == user.id,
               CaseGuardian.unlinked_at.is_(None))) > 0


def register_actions(engine) -> None:
    """Register the answers to the buttons notifications carry (called with the flows)."""

    @engine.on_postback(CONFIRM_ACTION)
    def on_confirm(ctx, turn, intent) -> None:
        session, user = ctx.session, ctx.user
        case = session.get(Case, int_param(turn.data.get("case")))
        service = session.get(CaseService, int_param(turn.data.get("service")))
        if (case is None or service is None or service.case_id != case.id
                or not may_confirm(session, user, case)):
            ctx.reply(text(_("Sorry, only a parent linked to this child's case can answer "
                             "this.")))
            return
        name = first_name(case.child_name)
        actor = Actor(kind="parent", name=user.line_user_id, line_user_id=user.id, via="line")
        if turn.data.get("v") != "yes":
            workflow.report_not_received(session, actor, case, service)
            agency = session.get(Agency, case.owner_agency_code)
            if agency is not None and agency.phone:
                ctx.reply(text(_("Thank you for telling us. We have told %(agency)s, who look "
                                 "after Nong %(name)s's case, so they can check. You can also "
                                 "call them at %(phone)s.", name=name,
                                 agency=agency_name(agency.code), phone=agency.phone)))
            else:
                ctx.reply(text(_("Thank you for telling us. We have told the office that "
                                 "looks after Nong %(name)s's case, so they can check.",
                                 name=name)))
            return
        status = action_items("menu", [Choice("status", _l("See the status"))])
        if workflow.confirm_service(session, actor, case, service):
            ctx.reply(text(_("Thank you. We noted that Nong %(name)s received: %(service)s.",
                             name=name, service=words(SERVICE_WORDS, service.code)), status))
        else:
            ctx.reply(text(_("Thank you, this was noted already."), status))


def register() -> None:
    """Register every notification renderer with the outbox (the decorators above did, on
    import; this keeps the start-up call explicit)."""
