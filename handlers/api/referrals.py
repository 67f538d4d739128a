"""/api/v1/referrals: the referral handshake between agencies."""

from __future__ import annotations

from bot.extensions import db
from services import audit, queue, workflow

from . import serialize
from .base import ApiBlueprint
from .context import actor, load_referral
from .schemas import DeclineIn, ReferralList, ReferralListArgs, ReferralWithCase

bp = ApiBlueprint("referrals", __name__, description="Referrals between agencies.")

ONE = "/referrals/<int:referral_id>"


@bp.route("/referrals", methods=["GET"])
@bp.arguments(ReferralListArgs, location="query")
@bp.response(200, ReferralList)
@bp.errors()
def list_referrals(args):
    """Pending referrals to or from the caller's agency

    Supervisors and administrators see every pending referral of their area. Oldest first.
    Written to the audit log."""
    rows = queue.pending_referrals(db.session, actor(), args.get("direction"))
    audit.record(db.session, actor(), "referral.list",
                 references=[row.case.reference for row in rows],
                 direction=args.get("direction"))
    return {"items": [{**serialize.referral(row), "child_name": row.case.child_name,
                       "case_stage": row.case.stage} for row in rows]}


@bp.route(ONE + "/accept", methods=["POST"])
@bp.response(200, ReferralWithCase)
@bp.errors(404, 409)
def accept(referral_id):
    """Accept a referral: the caller's agency becomes the case's owner

    Refused with 409 `consent_withdrawn` once the guardian withdrew consent (the referral
    was cancelled then)."""
    row = load_referral(referral_id)
    workflow.accept_referral(db.session, actor(), row)
    return serialize.referral_with_case(row)


@bp.route(ONE + "/decline", methods=["POST"])
@bp.arguments(DeclineIn)
@bp.response(200, ReferralWithCase)
@bp.errors(400, 404, 409, 422)
def decline(body, referral_id):
    """Decline a referral, with a reason: the case returns to its earlier stage"""
    row = load_referral(referral_id)
    workflow.decline_referral(db.session, actor(), row, body["reason"])
    return serialize.referral_with_case(row)
