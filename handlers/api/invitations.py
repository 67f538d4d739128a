"""/api/v1/invitations: registration codes for volunteers and officers."""

from __future__ import annotations

from flask import current_app

from bot.extensions import db
from services import audit, invitations

from .base import ApiBlueprint
from .context import actor
from .errors import ApiError
from .schemas import InvitationIn, InvitationOut

bp = ApiBlueprint("invitations", __name__, description="Invitation codes.")


def _within(area_code: str, scope: str) -> bool:
    """Whether an area code lies inside a scope (codes nest by prefix: 40, 4007, 400701)."""
    return area_code.startswith(scope)


@bp.route("/invitations", methods=["POST"])
@bp.arguments(InvitationIn)
@bp.response(201, InvitationOut)
@bp.errors(400, 404, 409, 422)
def issue(body):
    """Issue an invitation code (supervisors and administrators)

    A volunteer invitation names a subdistrict; an officer invitation an agency and an area
    scope. Both must lie inside the caller's area (else 404); a supervisor invites officers
    of their own agency only (else 409), an administrator of any agency."""
    who = actor()
    if who.role not in ("supervisor", "admin"):
        raise ApiError(409, "not_allowed")
    role = body["role"]
    place = body.get("subdistrict") if role == "volunteer" else body.get("area")
    if not _within(place, who.area_code or "\0"):
        raise ApiError(404, "area_not_found")
    agency = body.get("agency") if role == "officer" else None
    if agency is not None and who.role != "admin" and agency != who.agency_code:
        raise ApiError(409, "not_allowed")
    try:
        code, row = invitations.issue(
            db.session, current_app.config["SECRET_KEY"], role,
            subdistrict=body.get("subdistrict") if role == "volunteer" else None,
            agency=agency, area=body.get("area") if role == "officer" else None)
    except invitations.InvitationError as exc:
        raise ApiError(422, "invitation_refused", fields={"_schema": [str(exc)]}) from None
    audit.record(db.session, who, "invitation.create", invitation_id=row.id, role=role,
                 subdistrict=row.subdistrict_code, agency=row.agency_code, area=row.area_code)
    return {"code": code, "role": role, "expires_at": row.expires_at}
