"""How the console shows things: codes in words (the catalog's, shared with LINE), dates in
the reader's language (Buddhist era in Thai), and personal data masked until revealed."""

from __future__ import annotations

import datetime as dt
import re

from bot.i18n import gettext as _
from bot.i18n import lazy_gettext as _l
from handlers.api.errors import MESSAGES, message_for
from handlers.flows.report import GROUPS, PURPOSE_WORDS, RELATIONS, SEXES, SITUATIONS
from handlers.notifications import (
    OFFICER_STAGE_WORDS,
    SERVICE_WORDS,
    VISIT_WORDS,
    agency_name,
    english,
    show_date,
    show_time,
    words,
)
from models import BANGKOK
from services.cases import without_titles

MASK = "•••••"
#: Thai vowels written before their consonant: an initial is the consonant after them.
_LEADING_VOWELS = "\u0e40\u0e41\u0e42\u0e43\u0e44"

TIMELINE_WORDS = {
    "created": _l("Reported"),
    "duplicate_report": _l("Reported again"),
    "verified": _l("Verification started"),
    "referred": _l("Referred"),
    "accepted": _l("Referral accepted"),
    "declined": _l("Referral declined"),
    "service": _l("Service recorded"),
    "visit": _l("Home visit"),
    "appointment": _l("Appointment"),
    "status": _l("Stage changed"),
    "reopened": _l("Reopened"),
    "note": _l("Internal note"),
    "consent": _l("Consent"),
    "link_code": _l("Parent link code issued"),
    "confirmation": _l("Parent confirmed the service"),
    "not_received": _l("Parent says the service has not arrived"),
    "guardian_linked": _l("Parent linked on LINE"),
    "guardian_unlinked": _l("Parent unlinked"),
    "escalated": _l("Escalated"),
    "consent_withdrawn": _l("Consent withdrawn"),
    "referral_cancelled": _l("Referral cancelled (consent withdrawn)"),
    "erasure_requested": _l("Erasure requested"),
    "erasure_rejected": _l("Erasure rejected"),
    "erased": _l("Personal data erased"),
}
REFERRAL_STATUS_WORDS = {
    "pending": _l("Waiting for an answer"),
    "accepted": _l("Accepted"),
    "declined": _l("Declined"),
    "cancelled": _l("Cancelled: the guardian withdrew consent"),
}
ID_KIND_WORDS = {"citizen_id": _l("Citizen ID"), "g_code": _l("G-code"), "none": _l("None")}
#: How a withdrawal of consent came (services.consent.WITHDRAWAL_CHANNELS).
WITHDRAWAL_WORDS = {
    "line_parent": _l("by the guardian on LINE"),
    "console": _l("recorded by an officer in the console"),
    "api": _l("recorded by an officer through the API"),
}
#: Codes services.workflow may refuse with that the API's MESSAGES do not name.
EXTRA_MESSAGES = {
    "note_invalid": _l("The note holds characters that cannot be saved. Please remove them."),
    "reason_invalid": _l("The reason holds characters that cannot be saved. Please remove "
                         "them."),
    "text_invalid": _l("The text holds characters that cannot be saved. Please remove them."),
    "place_invalid": _l("The place holds characters that cannot be saved. Please remove them."),
    "purpose_invalid": _l("The purpose holds characters that cannot be saved. Please remove "
                          "them."),
}


def choice_words(choices) -> dict:
    return {choice.value: choice.label for choice in choices}


GROUP_WORDS = choice_words(GROUPS)
SEX_WORDS = choice_words(SEXES)
RELATION_WORDS = choice_words(RELATIONS)
SITUATION_WORDS = choice_words(SITUATIONS)


def error_message(code: str) -> str:
    """The words for a refusal's code: the API's message (one catalog), else the console's."""
    if code in MESSAGES:
        return message_for(code)
    if code in EXTRA_MESSAGES:
        return str(EXTRA_MESSAGES[code])
    return _("This could not be saved. Please check what you typed and try again.")


# -- masking ---------------------------------------------------------------------------------

def initial(word: str) -> str:
    for ch in word:
        if ch not in _LEADING_VOWELS:
            return ch
    return word[:1]


def mask_name(name: str | None) -> str:
    """The first name and the initial of the rest (the initial skips a leading vowel)."""
    parts = without_titles(name).split()
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return f"{parts[0]} {initial(parts[-1])}."


def mask_digits(value: str | None) -> str:
    """Only the last four digits: "••••• 5678"."""
    digits = re.sub(r"\D", "", value or "")
    if not digits:
        return MASK if value else ""
    return f"{MASK} {digits[-4:]}"


# -- dates -----------------------------------------------------------------------------------

def local(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(BANGKOK)


def show_moment(moment: dt.datetime | None) -> str:
    """A date and time in Khon Kaen, Buddhist era in Thai."""
    at = local(moment)
    if at is None:
        return ""
    return f"{show_date(at.date())} {show_time(at)}"


def show_day(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = local(value).date()
    return show_date(value)


def area_name(area) -> str:
    if area is None:
        return ""
    return area.name_en if english() else area.name_th


def helpers() -> dict:
    """What the templates use."""
    return {
        "stage_words": lambda code: words(OFFICER_STAGE_WORDS, code),
        "group_words": lambda code: words(GROUP_WORDS, code),
        "sex_words": lambda code: words(SEX_WORDS, code),
        "relation_words": lambda code: words(RELATION_WORDS, code),
        "situation_words": lambda code: words(SITUATION_WORDS, code),
        "service_words": lambda code: words(SERVICE_WORDS, code),
        "visit_words": lambda code: words(VISIT_WORDS, code),
        "timeline_words": lambda code: words(TIMELINE_WORDS, code),
        "referral_words": lambda code: words(REFERRAL_STATUS_WORDS, code),
        "id_kind_words": lambda code: words(ID_KIND_WORDS, code),
        "consent_purpose": lambda code: words(PURPOSE_WORDS, code),
        "withdrawal_words": lambda code: words(WITHDRAWAL_WORDS, code),
        "agency_name": agency_name,
        "area_name": area_name,
        "show_day": show_day,
        "show_moment": show_moment,
        "mask_name": mask_name,
        "mask_digits": mask_digits,
        "english": english,
    }
