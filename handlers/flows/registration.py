"""Registering as a village health volunteer or an officer, with an invitation code."""

from __future__ import annotations

import re

from flask import current_app

from bot.conversation import (
    Choice,
    ChoiceStep,
    Engine,
    Flow,
    Reask,
    TextStep,
    choice_items,
)
from bot.dispatch import EventContext
from bot.i18n import gettext as _
from bot.i18n import lazy_gettext as _l
from bot.messages import text
from bot.thai_text import clean, parse_code, parse_phone, thai_time
from models import BANGKOK, Agency, Area, Invitation, utcnow
from services import accounts, areas, invitations

NAME_MAX = 120
NO_CODE = [Choice("none", _l("I have no code"))]


def read_name(ctx, draft, typed: str):
    """A person's full name: letters, 2 to 120 characters."""
    name = re.sub(r"\s+", " ", typed).strip()
    if len(name) < 2 or len(name) > NAME_MAX or not re.search(r"[^\W\d_]", name):
        return None, _("Please type your first and last name, e.g. Somsri Jaidee.")
    return name, None


PHONE_HINTS = {
    "not_mobile": _l("Please type a mobile number of 10 digits starting with 06, 08 or 09, "
                     "e.g. 081-234-5678."),
}


def read_phone(ctx, draft, typed: str):
    """A Thai mobile number (dashes, spaces and Thai digits accepted)."""
    result = parse_phone(typed, mobile_only=True)
    if not result.ok:
        return None, str(PHONE_HINTS["not_mobile"])
    return result.value, None


def read_village(ctx, draft, typed: str):
    """The village name."""
    village = re.sub(r"\s+", " ", typed).strip()
    if not 2 <= len(village) <= 120:
        return None, _("Please type the name of your village, e.g. Ban Non Sa-at.")
    return village, None


def read_village_no(ctx, draft, typed: str):
    """The village number (Moo): 1 to 50."""
    digits = re.sub(r"\D", "", clean(typed))
    if not digits or not 1 <= int(digits) <= 50:
        return None, _("Please type the village number (Moo) as a number, e.g. 5.")
    return int(digits), None


class AreaStep(ChoiceStep):
    """A district or subdistrict: quick replies, or its name typed, with or without prefix."""

    def __init__(self, name, question, store, level: str):
        super().__init__(name, question, self._choices_for, store)
        self.level = level

    def _areas(self, ctx: EventContext, draft: dict) -> list[Area]:
        if self.level == "district":
            return areas.districts(ctx.session, current_app.config["PROVINCE_CODE"])
        return areas.subdistricts(ctx.session, draft.get("district", ""))

    def _choices_for(self, ctx, draft) -> list[Choice]:
        return [Choice(a.code, a.name_th) for a in self._areas(ctx, draft)]

    def take(self, ctx, draft, turn):
        if turn.kind == "text" and turn.choice(self.name) is None:
            found = areas.match_name(self._areas(ctx, draft), turn.text)
            if len(found) == 1:
                draft[self.store] = found[0].code
                return None
            if len(found) > 1:
                items = choice_items(self.name, [Choice(a.code, a.name_th) for a in found])
                return Reask([text(_("Several places have this name. Which one?"), items)])
            return Reask([text(_("I could not find this name. Choose from the buttons, or "
                                 "type the name again."))])
        return super().take(ctx, draft, turn)


def code_step(role: str) -> TextStep:
    """The invitation code step, redeeming the code when it is typed."""

    def read(ctx: EventContext, draft: dict, typed: str):
        code = parse_code(typed)
        if code is None:
            return None, _("Please type the 6-digit invitation code, e.g. 123456.")
        result = invitations.redeem(ctx.session, current_app.config["SECRET_KEY"], ctx.user,
                                    code)
        if result.reason == "locked":
            return None, _("Too many wrong codes. Please wait until %(time)s and try again.",
                           time=thai_time(result.retry_at.astimezone(BANGKOK).time()))
        if result.reason == "used":
            return None, _("This code was used already. Please ask for a new one.")
        if result.reason in ("expired", "revoked"):
            return None, _("This code has expired. Please ask for a new one.")
        if result.reason is not None:
            return None, _("This code is not right. Please check it and type it again.")
        invitation = result.invitation
        if invitation.role != role:
            return None, _("This code is for another kind of account. Please ask for the "
                           "right one.")
        if role == "volunteer" and invitation.subdistrict_code != draft.get("subdistrict"):
            # the code belongs to the subdistrict it was issued for
            draft["subdistrict"] = invitation.subdistrict_code
        draft["invitation"] = invitation.id
        return invitation.id, None

    step = TextStep("code", _l("Please type your 6-digit invitation code."),
                    "invitation", read, quick=NO_CODE)
    original = step.take

    def take(ctx, draft, turn):
        if turn.choice("code") == "none" or clean(turn.text) == clean(str(NO_CODE[0].label)):
            return Reask([text(_("You need an invitation code to register. Volunteers get one "
                                 "from the health-promoting hospital or the district "
                                 "health office; officers from the Samoe administrator of "
                                 "their agency. Your answers are kept: type the code when you "
                                 "have it."))])
        return original(ctx, draft, turn)

    step.take = take
    return step


def finish_volunteer(ctx: EventContext, draft: dict) -> None:
    """Save the volunteer's registration and welcome them."""
    user = ctx.user
    user.role = "volunteer"
    user.full_name = draft["full_name"]
    user.phone = draft["phone"]
    user.village = draft["village"]
    user.village_no = draft["village_no"]
    user.subdistrict_code = draft["subdistrict"]
    user.registered_at = utcnow()
    place = ctx.session.get(Area, user.subdistrict_code)
    ctx.reply(text(_("Registered. Welcome, %(name)s, volunteer of Moo %(no)s, %(village)s, "
                     "Tambon %(subdistrict)s. Type \"menu\" to see what you can do.",
                     name=user.full_name, no=user.village_no, village=user.village,
                     subdistrict=place.name_th if place else "")))


def finish_officer(ctx: EventContext, draft: dict) -> None:
    """Save the officer's registration (agency and area from the invitation)."""
    invitation = ctx.session.get(Invitation, draft["invitation"])
    user = ctx.user
    user.role = "officer"
    user.full_name = draft["full_name"]
    user.phone = draft["phone"]
    user.registered_at = utcnow()
    officer = accounts.link_line_officer(ctx.session, user, invitation)
    # the account's scope (an invitation may name an account with its own agency and area)
    user.agency_code, user.area_code = officer.agency_code, officer.area_code
    agency = ctx.session.get(Agency, user.agency_code)
    area = ctx.session.get(Area, user.area_code)
    ctx.reply(text(_("Registered. Welcome, %(name)s, officer of %(agency)s for %(area)s.",
                     name=user.full_name, agency=agency.short_name_th if agency else "",
                     area=area.name_th if area else "")))


def register(engine: Engine) -> None:
    """Register both registration flows."""
    name = TextStep("full_name", _l("What is your name? Please type your first and last "
                                    "name."), "full_name", read_name)
    phone = TextStep("phone", _l("What is your mobile number? e.g. 081-234-5678"), "phone",
                     read_phone)
    engine.register(Flow("volunteer_registration", [
        name,
        phone,
        AreaStep("district", _l("Which district (amphoe) do you look after?"), "district",
                 "district"),
        AreaStep("subdistrict", _l("Which subdistrict (tambon)?"), "subdistrict",
                 "subdistrict"),
        TextStep("village", _l("What is the name of your village? e.g. Ban Non Sa-at"),
                 "village", read_village),
        TextStep("village_no", _l("Which village number (Moo)? e.g. 5"), "village_no",
                 read_village_no),
        code_step("volunteer"),
    ], finish_volunteer))
    engine.register(Flow("officer_registration", [name, phone, code_step("officer")],
                         finish_officer))
