"""/api/v1/agencies: the partner agencies and their deadlines."""

from __future__ import annotations

from bot.extensions import db
from services import deadlines

from .base import ApiBlueprint
from .context import actor
from .errors import ApiError
from .schemas import AgencyList, DeadlinesIn, DeadlinesOut

bp = ApiBlueprint("agencies", __name__, description="Partner agencies and their deadlines.")


def _agency(row: deadlines.Deadlines, names: dict) -> dict:
    agency = names.get(row.agency)
    return {"code": row.agency, "name_th": agency.name_th if agency else None,
            "name_en": agency.name_en if agency else None, "phone": agency.phone if agency
            else None, "deadlines": row.as_dict()}


@bp.route("/agencies", methods=["GET"])
@bp.response(200, AgencyList)
def list_agencies():
    """The agencies of the programme, each with the deadlines that apply to it

    `deadlines.own` names the deadlines the agency set itself; the others are the
    province's defaults (verify 7, referral 7, first_action 14, visit 30 days)."""
    from models import Agency

    names = {a.code: a for a in db.session.scalars(db.select(Agency))}
    return {"items": [_agency(row, names) for row in deadlines.all_agencies(db.session)]}


@bp.route("/agencies/<string:code>/deadlines", methods=["PUT"])
@bp.arguments(DeadlinesIn)
@bp.response(200, DeadlinesOut)
@bp.errors(403, 404, 422)
def set_deadlines(body, code):
    """Set an agency's deadlines (administrators)

    Each value is a number of days (1–365), or null to go back to the province's default;
    deadlines left out stay as they are. The open cases the change concerns get their new
    deadline at once (`cases_changed`). Written to the audit log."""
    who = actor()
    if who.role != "admin":
        raise ApiError(403, "admin_only")
    try:
        result, changed = deadlines.set_deadlines(db.session, who, code.upper(), body)
    except deadlines.DeadlineError as exc:
        raise ApiError(422, exc.code, fields={"_schema": [exc.message]}) from None
    return {**result.as_dict(), "cases_changed": changed}
