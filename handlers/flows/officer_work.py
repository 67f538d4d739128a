"""Officers on LINE (DESIGN.md §10): "my work" shows counts (new, overdue, referred to us) and
the newest open cases as a carousel, with a button to accept a referral and one to open the
case in the console; an officer whose LINE account has no console account yet links it with
an officer invitation code.

What an officer sees is decided by services.access (the one place scoping is decided); every
listing is a read of personal data and is written to the audit log.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

import sqlalchemy as sa
from flask import current_app

from bot.conversation import Choice, Engine, Flow, action_items, int_param
from bot.flex import bubble, carousel, flex, postback_button, uri_button
from bot.i18n import gettext as _
from bot.i18n import lazy_gettext as _l
from bot.messages import text
from handlers.flows.registration import code_step
from handlers.flows.report import first_name
from handlers.notifications import OFFICER_STAGE_WORDS, agency_name, english, show_date, words
from models import Area, Case, Invitation, Referral, utcnow
from services import access, accounts, audit, workflow
from services.access import Actor, NotFound
from services.workflow import WorkflowError

#: How many cases the carousel shows (LINE allows 12 bubbles).
SHOWN = 10
LINK_FLOW = "officer_link"
LINK_CHOICE = [Choice("start", _l("Link with a code"))]


def officer_actor(ctx) -> Actor | None:
    """The officer acting through this LINE account, or None after saying why not."""
    user = ctx.user
    if user.role != "officer":
        if user.role == "volunteer":
            ctx.reply(text(_("\"My work\" is for officers of the partner agencies. To see the "
                             "children you reported, type \"my cases\".")))
        else:
            ctx.reply(text(_("\"My work\" is for officers of the partner agencies. If you are "
                             "an officer, type \"menu\" and choose \"Officer\" to register.")))
        return None
    officer = accounts.officer_for_line_user(ctx.session, user)
    if officer is None:
        ctx.reply(text(_("This LINE account is not linked to an officer account yet. Ask the "
                         "Samoe administrator of your agency for an officer invitation code, "
                         "then tap \"Link with a code\"."),
                       action_items(LINK_FLOW, LINK_CHOICE)))
        return None
    return Actor.for_officer(officer, via="line")


def _count(session, statement: sa.Select) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(statement.subquery()))


def work_counts(session, actor: Actor, now) -> dict[str, int]:
    """New (received), overdue (past due, not closed), referred to the officer's agency."""
    scoped = access.scoped_cases(actor)
    return {
        "new": _count(session, scoped.where(Case.stage == "received")),
        "overdue": _count(session, scoped.where(Case.due_at < now, Case.stage != "closed")),
        "referred": _count(session, scoped.where(
            access.referred_to_clause(actor.agency_code))),
    }


def newest_open(session, actor: Actor) -> tuple[list[Case], int]:
    """The open cases to show (referred to us first, then the newest) and how many are open."""
    open_cases = access.scoped_cases(actor).where(Case.stage != "closed")
    to_us = access.referred_to_clause(actor.agency_code)
    shown = list(session.scalars(
        open_cases.order_by(sa.case((to_us, 0), else_=1), Case.created_at.desc(),
                            Case.id.desc()).limit(SHOWN)))
    return shown, _count(session, open_cases)


def console_url(reference: str) -> str | None:
    base = (current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    return f"{base}/console/cases/{quote(reference)}" if base else None


def case_card(case: Case, place: Area | None, referral: Referral | None, now) -> dict:
    """One case for an officer: the child, reference, stage, place; accept / open buttons."""
    name = first_name(case.child_name)
    rows = [(_("Reference"), case.reference),
            (_("Stage"), words(OFFICER_STAGE_WORDS, case.stage)),
            (_("Tambon"), (place.name_en if english() else place.name_th) if place else "")]
    if referral is not None:
        rows.append((_("Sent by"), agency_name(referral.from_agency_code)))
    if workflow.is_overdue(case, now):
        rows.append((_("Due"), _("Overdue since %(date)s", date=show_date(
            case.due_at.date()))))
    buttons = []
    if referral is not None:
        label = _("Accept")
        buttons.append(postback_button(
            label, urlencode({"a": "accept_referral", "r": referral.id}),
            display=_("Accept the case of Nong %(name)s", name=name), primary=True))
    url = console_url(case.reference)
    if url:
        buttons.append(uri_button(_("Open in console"), url))
    return bubble(_("Nong %(name)s", name=name), rows, buttons or None)


def show_work(ctx, actor: Actor) -> None:
    session, now = ctx.session, utcnow()
    counts = work_counts(session, actor, now)
    summary = _("Your work\nNew: %(new)s\nOverdue: %(overdue)s\nReferred to your agency: "
                "%(referred)s", **counts)
    shown, open_total = newest_open(session, actor)
    if not shown:
        ctx.reply(text(summary + "\n" + _("There are no open cases in your area now.")))
        return
    ids = [c.id for c in shown]
    pending = {r.case_id: r for r in session.scalars(
        sa.select(Referral).where(Referral.case_id.in_(ids), Referral.status == "pending",
                                  Referral.to_agency_code == actor.agency_code))}
    places = {a.code: a for a in session.scalars(
        sa.select(Area).where(Area.code.in_({c.subdistrict_code for c in shown})))}
    cards = [case_card(c, places.get(c.subdistrict_code), pending.get(c.id), now)
             for c in shown]
    alt = "\n".join(f"{c.reference} {first_name(c.child_name)}: "
                    f"{words(OFFICER_STAGE_WORDS, c.stage)}" for c in shown)
    if open_total > len(shown):
        summary += "\n" + _("The newest %(shown)s of %(total)s open cases are below; the "
                            "console shows them all.", shown=len(shown), total=open_total)
    audit.record(session, actor, "case.list", references=[c.reference for c in shown],
                 case_ids=ids)
    ctx.reply(text(summary), flex(_("Newest cases") + "\n" + alt, carousel(cards)))


def accept(ctx, actor: Actor, referral_id: int) -> None:
    """Accept a referral to the officer's agency, if it is still theirs to accept."""
    session = ctx.session
    try:
        referral = access.get_referral(session, actor, referral_id)
    except NotFound:
        referral = workflow.cancelled_for_agency(session, actor, referral_id)
    if referral is None or referral.to_agency_code != actor.agency_code:
        ctx.reply(text(_("This case is no longer in your work. Nothing was changed.")))
        return
    name, ref = first_name(referral.case.child_name), referral.case.reference
    withdrawn = _("The guardian of Nong %(name)s (reference %(ref)s) withdrew consent, so the "
                  "referral was cancelled and the case is no longer shared with your agency. "
                  "Nothing was changed.", name=name, ref=ref)
    if referral.status == workflow.CANCELLED:
        ctx.reply(text(withdrawn))
        return
    if referral.status != "pending":
        if referral.status == "accepted":
            ctx.reply(text(_("The case of Nong %(name)s (reference %(ref)s) was already "
                             "accepted. Nothing was changed.", name=name, ref=ref)))
        else:
            ctx.reply(text(_("This referral of Nong %(name)s (reference %(ref)s) was already "
                             "declined. Nothing was changed.", name=name, ref=ref)))
        return
    try:
        workflow.accept_referral(session, actor, referral)
    except WorkflowError as exc:
        ctx.reply(text(withdrawn if exc.code == "consent_withdrawn" else _(
            "This case is no longer in your work. Nothing was changed.")))
        return
    ctx.reply(text(_("Accepted. Your agency now looks after Nong %(name)s (reference "
                     "%(ref)s).", name=name, ref=ref)))


def finish_link(ctx, draft: dict) -> None:
    """Link the LINE account to the console account the invitation names (or a new one)."""
    invitation = ctx.session.get(Invitation, draft["invitation"])
    officer = accounts.link_line_officer(ctx.session, ctx.user, invitation)
    ctx.user.agency_code, ctx.user.area_code = officer.agency_code, officer.area_code
    ctx.reply(text(_("Linked to the officer account %(username)s. Type \"my work\" to see "
                     "your work.", username=officer.username)))


def register(engine: Engine) -> None:
    """Register "my work", the accept button and the account link."""
    engine.register(Flow(LINK_FLOW, [code_step("officer")], finish_link))

    @engine.on_intent("my_work")
    def on_my_work(ctx, turn, intent) -> None:
        actor = officer_actor(ctx)
        if actor is not None:
            show_work(ctx, actor)

    @engine.on_postback("accept_referral")
    def on_accept(ctx, turn, intent) -> None:
        actor = officer_actor(ctx)
        if actor is not None:
            accept(ctx, actor, int_param(turn.data.get("r")))

    @engine.on_postback(LINK_FLOW)
    def on_link(ctx, turn, intent) -> None:
        if ctx.user.role != "officer":
            officer_actor(ctx)  # says who "my work" is for
            return
        officer = accounts.officer_for_line_user(ctx.session, ctx.user)
        if officer is not None:
            ctx.reply(text(_("This LINE account is already linked to the officer account "
                             "%(username)s.", username=officer.username)))
            return
        engine.begin(ctx, LINK_FLOW)
