"""The console's pages: the case queue, a case, its photos, the Thai font, and a 404 page for
any other /console address."""

from __future__ import annotations

import re
import time

import sqlalchemy as sa
from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from bot.extensions import db
from bot.i18n import gettext as _
from bot.thai_text import parse_reference
from handlers.api import serialize
from models import Agency, Area, Case, CasePhoto, utcnow
from services import access, audit, consent, queue, workflow
from services.cases import SERVICES, STAGES, TARGET_GROUPS
from services.workflow import TRANSITIONS, VISIT_OUTCOMES

from . import bp, listing, present
from .security import actor, login_required

PAGE_SIZE = 25
QUERY_MAX = 100
#: How long personal data stays shown after "reveal", and how many cases at once.
REVEAL_SECONDS = 10 * 60
REVEAL_MAX = 20
_DISTRICT = re.compile(r"^\d{4}$")
_SUBDISTRICT = re.compile(r"^\d{6}$")


@bp.app_context_processor
def words() -> dict:
    return present.helpers()


def load_case(ref: str) -> Case:
    """The case a URL names, if the officer may see it; 404 otherwise (the same page whether
    it is missing or outside the officer's scope)."""
    reference = parse_reference(ref)
    if reference is None:
        abort(404)
    return access.get_case(db.session, actor(), reference)  # NotFound: the 404 page


# -- the queue -------------------------------------------------------------------------------

def _flag(value: str | None) -> bool | None:
    return True if value == "1" else None


def queue_filters(args) -> tuple[queue.CaseFilters, dict]:
    """The filters of the query string (anything unknown is ignored) and their form values."""
    stage = args.get("stage") if args.get("stage") in STAGES else None
    group = args.get("group") if args.get("group") in TARGET_GROUPS else None
    district = args.get("district") if _DISTRICT.match(args.get("district", "")) else None
    subdistrict = args.get("subdistrict") if _SUBDISTRICT.match(
        args.get("subdistrict", "")) else None
    if subdistrict and district and not subdistrict.startswith(district):
        subdistrict = None
    q = " ".join((args.get("q") or "").split())[:QUERY_MAX] or None
    filters = queue.CaseFilters(
        stage=stage, group=group, district=district, subdistrict=subdistrict, q=q,
        reference=parse_reference(q) if q else None, overdue=_flag(args.get("overdue")),
        referred_to_us=_flag(args.get("referred_to_us")),
        escalated=args.get("escalated") if args.get("escalated") in queue.ESCALATION_LEVELS
        else None, stale=_flag(args.get("stale")))
    sort = args.get("sort") if args.get("sort") in listing.SORTS else listing.DEFAULT_SORT
    values = {"stage": stage or "", "group": group or "", "district": district or "",
              "subdistrict": subdistrict or "", "q": q or "",
              "overdue": "1" if filters.overdue else "",
              "referred_to_us": "1" if filters.referred_to_us else "",
              "escalated": filters.escalated or "", "stale": "1" if filters.stale else "",
              "sort": sort}
    return filters, values


def scope_areas(area_code: str, district: str | None) -> tuple[list[Area], list[Area]]:
    """The districts and subdistricts the filter offers: those of the officer's area."""
    session = db.session
    if len(area_code) == 6:
        one = list(session.scalars(sa.select(Area).where(Area.code == area_code)))
        parent = one[0].parent_code if one else None
        return list(session.scalars(sa.select(Area).where(Area.code == parent))), one
    if len(area_code) == 4:
        district = area_code
        districts = list(session.scalars(sa.select(Area).where(Area.code == area_code)))
    else:
        districts = list(session.scalars(
            sa.select(Area).where(Area.level == "district", Area.parent_code == area_code)
            .order_by(Area.code)))
    subdistricts = list(session.scalars(
        sa.select(Area).where(Area.level == "subdistrict", Area.parent_code == district)
        .order_by(Area.code))) if district else []
    return districts, subdistricts


def query_url(values: dict, **changes) -> str:
    """The queue's address with these filters (empty ones left out)."""
    merged = {**values, **changes}
    return url_for(".queue", **{k: v for k, v in merged.items() if v})


@bp.get("/cases", endpoint="queue")
@login_required
def queue_page():
    """The case queue: filters, counts per chip, sorting and pages. Written to the audit log
    (the references shown) like the API's list."""
    who = actor()
    now = utcnow()
    filters, values = queue_filters(request.args)
    cursor = request.args.get("cursor") or None
    try:
        rows, next_cursor = listing.page(db.session, who, filters, values["sort"], cursor,
                                         PAGE_SIZE, now)
    except queue.BadCursor:
        flash(_("That page link no longer works: here is the first page."), "info")
        cursor = None
        rows, next_cursor = listing.page(db.session, who, filters, values["sort"], None,
                                         PAGE_SIZE, now)
    districts, subdistricts = scope_areas(who.area_code, filters.district)
    counts = listing.chip_counts(db.session, who, filters, now,
                                 districts=[a.code for a in districts],
                                 subdistricts=[a.code for a in subdistricts])
    items = serialize.case_summaries(db.session, rows)
    audit.record(db.session, who, "case.list", references=[c.reference for c in rows],
                 filters=filters.as_detail(), cursor=cursor, sort=values["sort"])
    db.session.commit()
    return render_template(
        "console/queue.html", items=items, counts=counts, values=values, cursor=cursor,
        next_url=query_url(values, cursor=next_cursor) if next_cursor else None,
        first_url=query_url(values) if cursor else None, query_url=query_url,
        stages=STAGES, groups=TARGET_GROUPS, sorts=listing.SORTS, districts=districts,
        subdistricts=subdistricts, count_cap=listing.COUNT_CAP,
        scope_read=listing.SCOPE_READ)



# -- a case ----------------------------------------------------------------------------------

def revealed(reference: str) -> bool:
    """Whether this session revealed the case's personal data in the last REVEAL_SECONDS
    (whether it may see them is `may_reveal`'s to say)."""
    shown = session.get("revealed") or {}
    return shown.get(reference, 0) > time.time()


def may_reveal(case: Case) -> bool:
    """Whether the officer may see this case's personal data in full: services.access's one
    rule, the same as in exports."""
    return access.sees_personal_data(actor(), case, consent.is_withdrawn(db.session, case))


def remember_reveal(reference: str) -> None:
    now = time.time()
    shown = {ref: until for ref, until in (session.get("revealed") or {}).items()
             if until > now and ref != reference}
    shown[reference] = int(now + REVEAL_SECONDS)
    session["revealed"] = dict(sorted(shown.items(), key=lambda kv: kv[1])[-REVEAL_MAX:])


def forget_reveal(reference: str) -> None:
    shown = dict(session.get("revealed") or {})
    shown.pop(reference, None)
    session["revealed"] = shown


def render_case(case: Case, errors: dict | None = None, values: dict | None = None,
                status: int = 200, focus: str | None = None):
    """The case page (a read of personal data: written to the audit log). `errors` and
    `values` bring back a refused form with what was typed in it (`focus`: that form)."""
    who = actor()
    withdrawn = consent.is_withdrawn(db.session, case)
    allowed = access.sees_personal_data(who, case, withdrawn)
    shown = allowed and revealed(case.reference)
    detail = serialize.case_detail(db.session, case)
    photos = [] if withdrawn else list(db.session.scalars(
        sa.select(CasePhoto.id).where(CasePhoto.case_id == case.id).order_by(CasePhoto.id)))
    pending = detail["pending_referral"]
    can_change = access.may_change(who, case)
    can_answer = bool(pending) and who.is_officer and (
        who.agency_code == pending["to_agency"] or who.role == "admin")
    agencies = list(db.session.scalars(sa.select(Agency).order_by(Agency.code)))
    audit.record(db.session, who, "case.read", case, revealed=shown)
    db.session.commit()
    return render_template(
        "console/case.html", case=case, d=detail, shown=shown, may_reveal=allowed,
        mask=present.MASK, withdrawn=withdrawn, focus=focus, photos=photos,
        can_change=can_change, can_answer=can_answer, pending=pending,
        transitions=TRANSITIONS.get(case.stage, ()), services=SERVICES,
        outcomes=VISIT_OUTCOMES, agencies=agencies, errors=errors or {},
        values=values or {}, today=workflow.local_today(utcnow()).isoformat(),
        reveal_minutes=REVEAL_SECONDS // 60), status


@bp.get("/cases/<string:ref>")
@login_required
def case_page(ref: str):
    """A case: child, guardian, consent, address, timeline, referrals and the actions."""
    return render_case(load_case(ref))


@bp.post("/cases/<string:ref>/reveal")
@login_required
def reveal(ref: str):
    """Show this case's personal data for a while, to those who may see it
    (services.access.sees_personal_data); the reveal is written to the audit log."""
    case = load_case(ref)
    if request.form.get("hide") == "1":
        forget_reveal(case.reference)
        return _to_case(case)
    if not may_reveal(case):
        return render_case(case, errors={"reveal": _(
            "Personal data of this case is not shown to you: it is shown to the agency that "
            "owns the case and the area's supervisors, while the guardian's consent "
            "stands.")}, status=403)
    audit.record(db.session, actor(), "case.reveal", case)
    db.session.commit()
    remember_reveal(case.reference)
    return _to_case(case)


def _to_case(case: Case, anchor: str | None = None):
    return redirect(url_for(".case_page", ref=case.reference, _anchor=anchor))


@bp.get("/cases/<string:ref>/photos/<int:photo_id>")
@login_required
def photo(ref: str, photo_id: int):
    """A photo of the child, from the database, once revealed (audited); never after the
    guardian withdrew consent."""
    case = load_case(ref)
    if not revealed(case.reference) or not may_reveal(case):
        abort(404)
    row = db.session.scalar(sa.select(CasePhoto).where(CasePhoto.id == photo_id,
                                                       CasePhoto.case_id == case.id))
    if row is None:
        abort(404)
    audit.record(db.session, actor(), "case.photo", case, photo_id=row.id)
    db.session.commit()
    content_type = row.content_type if row.content_type.startswith("image/") else \
        "application/octet-stream"
    return Response(row.data, mimetype=content_type)


# -- the font and everything else ------------------------------------------------------------

@bp.get("/fonts/noto-sans-thai.ttf")
def font():
    """Noto Sans Thai from the installed font package (the chat page's font; no CDN)."""
    from emulator.chat import font_file

    return Response(font_file()["data"], mimetype="font/ttf")


@bp.route("/<path:_anything>", methods=["GET", "POST"])
def unknown(_anything: str):
    abort(404)
