"""Errors of the REST API: always `{"error": {"code": ..., "message": ...}}` (plus `fields`
for invalid values), in the request's language.

Statuses: 400 malformed request, 401 no valid token, 404 not found or outside the caller's
scope (the same answer for both, so existence does not leak), 405 method not allowed,
409 conflict with the case's state or a refused action, 422 invalid values.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from bot.i18n import gettext
from services.access import NotFound
from services.workflow import WorkflowError

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated when an error is answered."""
    return message


#: Messages by error code; a code missing here answers with the service's English message.
MESSAGES = {
    "bad_request": N_("The request is malformed."),
    "bad_json": N_("The request body is not valid JSON."),
    "bad_cursor": N_("The cursor is not valid: start again without it."),
    "unauthorized": N_("A valid bearer token is required."),
    "invalid_token": N_("The token is not valid: it is unknown, expired or revoked."),
    "not_found": N_("Not found."),
    "case_not_found": N_("No such case."),
    "referral_not_found": N_("No such referral."),
    "area_not_found": N_("No such area within your scope."),
    "method_not_allowed": N_("This method is not allowed here."),
    "invalid": N_("Some values are not valid."),
    "internal_error": N_("Something went wrong on our side."),
    "not_allowed": N_("Your role may not do this."),
    # services.workflow
    "unknown_stage": N_("Unknown stage."),
    "use_referral": N_("A case is referred with a referral, not a transition."),
    "same_stage": N_("The case is already at that stage."),
    "case_closed": N_("The case is closed: reopen it first."),
    "transition_not_allowed": N_("The case cannot move to that stage from its current stage."),
    "referral_pending": N_("A referral of this case is waiting for an answer."),
    "evidence_required": N_("Closing needs a recorded service and, after it, a home visit or "
                            "the parent's confirmation."),
    "not_closed": N_("Only a closed case can be reopened."),
    "not_owner": N_("Only the agency that owns the case can change it."),
    "unknown_agency": N_("Unknown agency code."),
    "same_agency": N_("The case already belongs to that agency."),
    "not_receiver": N_("Only the receiving agency can answer a referral."),
    "referral_not_pending": N_("The referral has already been answered."),
    "unknown_service": N_("Unknown service code."),
    "date_in_future": N_("The date is in the future."),
    "date_in_past": N_("An appointment is set for a time to come."),
    "naive_time": N_("Give the time with its offset, e.g. +07:00."),
    "unknown_outcome": N_("Unknown visit outcome."),
    "date_before_report": N_("The date is before the report."),
    "reason_required": N_("A reason is required."),
    "text_required": N_("The text is required."),
    "reason_too_long": N_("The reason is too long."),
    "note_too_long": N_("The note is too long."),
    "text_too_long": N_("The text is too long."),
    "place_too_long": N_("The place is too long."),
    "purpose_too_long": N_("The purpose is too long."),
    "invitation_refused": N_("The invitation cannot be issued with these values."),
    "admin_only": N_("Only an administrator may do this."),
    "forbidden": N_("Only an administrator may do this."),
    "days_out_of_range": N_("A deadline is a whole number of days from 1 to 365."),
    "unknown_deadline": N_("Unknown deadline."),
    "consent_withdrawn": N_("The guardian has withdrawn consent: the case is no longer shared "
                            "with other agencies."),
    "no_sharing_consent": N_("The guardian has not consented to sharing the case with other "
                             "agencies."),
    # services.subject_rights
    "case_erased": N_("This case's personal data was erased at the guardian's request: it "
                      "can no longer be changed."),
    "not_in_charge": N_("Only the agency in charge of the case and the supervisors of its area "
                        "can do this."),
    "already_erased": N_("This case's personal data was erased already."),
    "erasure_pending": N_("A request to erase this case is already waiting for a supervisor."),
    "erasure_request_not_found": N_("No such erasure request."),
    "not_supervisor": N_("Only a supervisor or an administrator of the case's area can approve "
                         "or reject an erasure."),
    "own_request": N_("You asked for this erasure yourself: another supervisor approves or "
                      "rejects it."),
    "already_decided": N_("This erasure request has already been approved or rejected."),
    "reason_invalid": N_("The reason holds characters that cannot be saved. Please remove "
                         "them."),
    # services.announcements
    "text_invalid": N_("The text holds characters that cannot be sent."),
    "link_invalid": N_("The link must be an http or https address of at most 1,000 "
                       "characters."),
    "audience_invalid": N_("Choose the audience: volunteers, parents or officers."),
    "group_invalid": N_("The group is early_childhood or out_of_school."),
    "no_recipients": N_("Nobody in that area and audience follows Samoe on LINE yet."),
    "quota_exceeded": N_("This announcement needs more messages than remain in the LINE "
                         "budget of the month it goes in. Choose a smaller area or audience, "
                         "or send it next month."),
    "quota_unknown": N_("LINE could not say just now how many messages are left this month. "
                        "It is checked again when the announcement goes, and not sent if too "
                        "few are left then. Send it again with \"confirm\": true to go "
                        "ahead."),
    "quota_confirm": N_("This announcement would use most of this month's remaining LINE "
                        "budget. Send it again with \"confirm\": true to go ahead."),
    "second_person": N_("A province-wide announcement is approved by a second person."),
    "not_awaiting_approval": N_("The announcement is not waiting for approval."),
    "not_cancellable": N_("The announcement has already been sent or cancelled."),
    "date_out_of_range": N_("The date is too far ahead."),
    "announcement_not_found": N_("No such announcement."),
}

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 422: "invalid", 500: "internal_error"}


class ApiError(Exception):
    """An error answered as JSON: an HTTP status, a code, and optionally a message (else the
    code's message from MESSAGES), field errors and headers."""

    def __init__(self, status: int, code: str, message: str | None = None,
                 fields: dict | None = None, headers: dict | None = None,
                 detail: dict | None = None):
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers or {}
        self.detail = detail


def message_for(code: str, fallback: str | None = None) -> str:
    if code not in MESSAGES and fallback:
        return fallback
    message = MESSAGES.get(code) or MESSAGES["bad_request"]
    return gettext(message)  # a variable: the extractor takes the msgids from N_() above


def error_response(status: int, code: str, message: str | None = None,
                   fields: dict | None = None, headers: dict | None = None,
                   detail: dict | None = None):
    body = {"code": code, "message": message or message_for(code)}
    if fields:
        body["fields"] = fields
    if detail:
        body["detail"] = detail
    response = jsonify(error=body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def in_api() -> bool:
    path = request.path
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def _field_errors(messages) -> dict | None:
    """webargs' {location: {field: [messages]}} flattened to {field: [messages]}."""
    if not isinstance(messages, dict):
        return None
    flat: dict = {}
    for location, errors in messages.items():
        if isinstance(errors, dict):
            flat.update(errors)
        else:
            flat[location] = errors
    return flat or None


def handle_http_exception(error: HTTPException):
    """flask-smorest's and Flask's HTTP errors inside /api/v1 in our shape; elsewhere the
    app's usual answer (the error itself)."""
    if not in_api():
        return error
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if status == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    code = _HTTP_CODES.get(status, "error")
    fields = None
    if status == 422:
        fields = _field_errors(data.get("messages") or data.get("errors"))
    message = None if code != "error" else error.description
    if status >= 500:
        log.error("API error %s on %s %s", status, request.method, request.path)
    return error_response(status, code, message, fields, headers)


def handle_api_error(error: ApiError):
    return error_response(error.status, error.code, error.message or message_for(error.code),
                          error.fields, error.headers, error.detail)


def handle_workflow_error(error: WorkflowError):
    return error_response(error.status, error.code, message_for(error.code, error.message))


def handle_not_found(_error: NotFound):
    return error_response(404, "not_found")


def register_on_blueprint(bp) -> None:
    """The domain's exceptions, answered by the blueprints that raise them."""
    bp.register_error_handler(ApiError, handle_api_error)
    bp.register_error_handler(WorkflowError, handle_workflow_error)
    bp.register_error_handler(NotFound, handle_not_found)


def register(app: Flask) -> None:
    """App-wide: HTTP errors (those outside /api/v1 answered as before)."""
    app.register_error_handler(HTTPException, handle_http_exception)
