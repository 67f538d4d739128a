"""/api/v1: a guardian's data-subject rights (services.subject_rights): export everything held
about a child (JSON, or a printable Thai page), and erase it after a supervisor's approval."""

from __future__ import annotations

import base64

import marshmallow as ma
from flask import Response
from marshmallow import fields

from bot.extensions import db
from models import ErasureRequest
from services import audit, subject_rights
from services.access import NotFound

from . import serialize
from .base import ApiBlueprint
from .context import actor, load_case
from .errors import ApiError
from .schemas import CaseState, Strict, Text

bp = ApiBlueprint("rights", __name__,
                  description="A guardian's data-subject rights: export and erasure.")

REF = "/cases/<string:ref>"
ONE = "/erasure-requests/<int:request_id>"
STATUSES = (ErasureRequest.PENDING, ErasureRequest.APPROVED, ErasureRequest.REJECTED,
            ErasureRequest.DONE)
#: The schema lets a long reason through so that the service answers `reason_too_long`.
REASON_FIELD_MAX = 20_000


# -- schemas ---------------------------------------------------------------------------------

def _list(description: str):
    return fields.List(fields.Dict(), required=True, metadata={"description": description})


class SubjectExport(ma.Schema):
    """Everything Samoe holds about a child. Times are ISO 8601 (UTC), dates ISO."""

    format = fields.String(required=True, metadata={"enum": [subject_rights.EXPORT_FORMAT]})
    version = fields.Integer(required=True)
    generated_at = fields.String(required=True)
    generated_by = fields.String(required=True)
    reference = fields.String(required=True)
    case = fields.Dict(required=True, metadata={
        "description": "The child (name, sex, birth date, identity number in full), address, "
                       "situations, report note, stage, owner and dates."})
    guardian = fields.Dict(required=True, metadata={
        "description": "The guardian's name, phone number and relation."})
    linked_line_accounts = _list("LINE accounts linked to the child with a link code.")
    reporter = fields.Dict(allow_none=True, required=True, metadata={
        "description": "Who reported the child (a volunteer, or the parent)."})
    consents = _list("Every consent, with its purposes, statement version and withdrawal.")
    timeline = _list("Every event of the case, internal notes included.")
    notes = _list("The internal notes (also in the timeline).")
    referrals = _list("Referrals between agencies.")
    services = _list("Services given to the child.")
    appointments = _list("Appointments.")
    visits = _list("Home visits.")
    photos = _list("Photos: content type, size, time and the bytes in base64 (data_base64).")
    link_codes = _list("Parent link codes issued (never the code itself).")
    line_messages = _list("LINE messages about the case still held in the outbox.")
    erasure_requests = _list("Requests to erase the case's personal data.")
    audit = _list("The audit log of the case: who read or changed it, when.")
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class ErasureRequestIn(Strict):
    reason = Text(required=True, max_length=REASON_FIELD_MAX, metadata={
        "description": "Why the guardian asks (at most 2,000 characters)."})


class RejectIn(Strict):
    reason = Text(max_length=REASON_FIELD_MAX, allow_none=True, metadata={
        "description": "Why it is rejected (optional, at most 2,000 characters)."})


class ErasureRequestOut(ma.Schema):
    id = fields.Integer(required=True)
    case_reference = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    requested_by = fields.String(required=True)
    requested_at = fields.DateTime(required=True)
    reason = fields.String(required=True)
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    done_at = fields.DateTime(allow_none=True)
    case_erased_at = fields.DateTime(allow_none=True, metadata={
        "description": "When the case's personal data was erased."})
    case = fields.Nested(CaseState, required=True)


class ErasureRequestList(ma.Schema):
    items = fields.List(fields.Nested(ErasureRequestOut), required=True)


def request_out(row: ErasureRequest) -> dict:
    case = row.case
    return {"id": row.id, "case_reference": case.reference, "status": row.status,
            "requested_by": row.requested_by, "requested_at": row.requested_at,
            "reason": row.reason, "decided_by": row.decided_by, "decided_at": row.decided_at,
            "decision_reason": row.decision_reason, "done_at": row.done_at,
            "case_erased_at": case.erased_at, "case": serialize.case_state(case)}


def load_request(request_id: int) -> ErasureRequest:
    try:
        return subject_rights.get_request(db.session, actor(), request_id)
    except NotFound:
        raise ApiError(404, "erasure_request_not_found") from None


# -- export ----------------------------------------------------------------------------------

def _export(ref: str, format: str) -> dict:
    case = load_case(ref)  # 404 the same whether missing or outside the caller's scope
    return subject_rights.export_case(db.session, actor(), case.reference, format=format)


@bp.route(REF + "/export", methods=["GET"])
@bp.response(200, SubjectExport)
@bp.errors(404, 409)
def export_json(ref):
    """Everything held about the child, as JSON (a guardian's request)

    For the officers of the agency in charge and the area's supervisors. Identity and phone
    numbers in full, photos in base64. Written to the audit log (`subject.export`)."""
    return subject_rights.as_json(_export(ref, "json"))


@bp.route(REF + "/export.html", methods=["GET"])
@bp.response(200, {"type": "string"}, content_type="text/html",
             description="A printable page in Thai.")
@bp.errors(404, 409)
def export_html(ref):
    """Everything held about the child, as a printable Thai page

    The same content as the JSON export, photos included, dates in the Buddhist era. Written
    to the audit log (`subject.export`)."""
    from handlers.console.rights import render_export_page

    data = _export(ref, "html")

    def photo_src(photo: dict) -> str:
        kind = photo["content_type"] if photo["content_type"].startswith("image/") else \
            "application/octet-stream"
        return f"data:{kind};base64,{base64.b64encode(photo['data_base64']).decode('ascii')}"

    page = render_export_page(data, photo_src)
    return Response(page, mimetype="text/html")


# -- erasure ---------------------------------------------------------------------------------

@bp.route(REF + "/erasure-requests", methods=["POST"])
@bp.arguments(ErasureRequestIn)
@bp.response(201, ErasureRequestOut)
@bp.errors(400, 404, 409, 422)
def request_erasure(body, ref):
    """Ask for the erasure of the child's personal data (a guardian's request)

    For the officers of the agency in charge and the area's supervisors. A supervisor or
    administrator of the area who did not ask approves or rejects it. Audited."""
    case = load_case(ref)
    row = subject_rights.request_erasure(db.session, actor(), case.reference, body["reason"])
    return request_out(row)


@bp.route("/erasure-requests", methods=["GET"])
@bp.response(200, ErasureRequestList)
@bp.errors(403)
def pending():
    """Erasure requests waiting for a decision (supervisors and administrators)

    Those of the caller's area, oldest first. Written to the audit log."""
    rows = subject_rights.pending_requests(db.session, actor())
    audit.record(db.session, actor(), "subject.erasure_list",
                 references=[row.case.reference for row in rows])
    return {"items": [request_out(row) for row in rows]}


@bp.route(ONE, methods=["GET"])
@bp.response(200, ErasureRequestOut)
@bp.errors(404)
def one(request_id):
    """An erasure request and its decision"""
    return request_out(load_request(request_id))


@bp.route(ONE + "/approve", methods=["POST"])
@bp.response(200, ErasureRequestOut)
@bp.errors(403, 404, 409)
def approve(request_id):
    """Approve an erasure request: the case's personal data is erased at once

    A supervisor or administrator of the case's area who did not ask. Personal fields are
    removed or coarsened, photos deleted, LINE links dropped; the case's stage, group and
    place, its timeline's kinds and the audit log stay. Every step is audited."""
    row = load_request(request_id)
    subject_rights.approve(db.session, actor(), row)
    return request_out(row)


@bp.route(ONE + "/reject", methods=["POST"])
@bp.arguments(RejectIn, required=False)
@bp.response(200, ErasureRequestOut)
@bp.errors(400, 403, 404, 409, 422)
def reject(body, request_id):
    """Reject an erasure request (nothing is erased)"""
    row = load_request(request_id)
    subject_rights.reject(db.session, actor(), row, (body or {}).get("reason"))
    return request_out(row)
