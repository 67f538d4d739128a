"""Marshmallow schemas of the REST API: what requests may carry and what responses hold.

They are the OpenAPI document (flask-smorest builds it from them), so every response is dumped
through one of them. Codes are those of DESIGN.md §7; request codes the domain checks itself
(stages, services, outcomes, agencies) are documented as enums but checked by the workflow,
which answers 422 with its own error code.
"""

from __future__ import annotations

import datetime as dt
import re

import marshmallow as ma
from marshmallow import fields, validate

from services.cases import SERVICES, STAGES, TARGET_GROUPS
from services.workflow import AGENCY_LEVEL, TEXT_LIMIT, VISIT_OUTCOMES

AGENCIES = tuple(AGENCY_LEVEL)
# NUL, other C0 controls but tab and newlines, and lone surrogates: no column can hold them
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def _storable(value: str) -> None:
    if _UNSTORABLE.search(value):
        raise ma.ValidationError("Control characters are not allowed.")


class Text(fields.String):
    """A string without control characters (tab and newlines allowed)."""

    def __init__(self, *, max_length: int = TEXT_LIMIT, **kwargs):
        validators = [validate.Length(max=max_length), _storable]
        extra = kwargs.pop("validate", None)
        if extra is not None:
            validators.extend(extra if isinstance(extra, list | tuple) else [extra])
        super().__init__(validate=validators, **kwargs)


class Code(Text):
    """A short code (an agency, an area, a stage)."""

    def __init__(self, *, max_length: int = 32, **kwargs):
        super().__init__(max_length=max_length, **kwargs)


def _enum(values) -> dict:
    return {"enum": list(values)}


def _reasonable_time(value: dt.datetime) -> None:
    if not 2000 <= value.year <= 2100:
        raise ma.ValidationError("The time must be between the years 2000 and 2100.")


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


# -- errors ----------------------------------------------------------------------------------

class ErrorDetail(ma.Schema):
    code = fields.String(required=True, metadata={"description": "A stable error code."})
    message = fields.String(required=True, metadata={
        "description": "What went wrong, in the language of Accept-Language (th or en)."})
    field_errors = fields.Dict(keys=fields.String(), data_key="fields", metadata={
        "description": "Messages per invalid field (422 only)."})
    detail = fields.Dict(metadata={
        "description": "Facts behind the error (e.g. the estimate and the month's quota)."})


class Error(ma.Schema):
    error = fields.Nested(ErrorDetail, required=True)


# -- requests --------------------------------------------------------------------------------

class CaseListArgs(ma.Schema):
    stage = Code(validate=validate.OneOf(STAGES))
    group = Code(validate=validate.OneOf(TARGET_GROUPS))
    district = Code(metadata={"description": "A district code, e.g. 4007."})
    subdistrict = Code(metadata={"description": "A subdistrict code, e.g. 400701."})
    agency = Code(metadata={"description": "The owning agency's code."})
    q = Text(max_length=200, metadata={
        "description": "Part of the child's name (titles and spacing ignored), or a case "
                       "reference in any typed form (KK-2569-00042, 2569-42, Thai digits)."})
    overdue = fields.Boolean(metadata={"description": "Past the deadline and not closed."})
    referred_to_us = fields.Boolean(metadata={
        "description": "A referral to the caller's agency waits for an answer."})
    escalated = Code(validate=validate.OneOf(("district", "province")), metadata={
        "description": "Escalated to the district's supervisors (more than 7 days past the "
                       "deadline; `district` includes those gone on to the province) or to "
                       "the province (more than 21 days)."})
    stale = fields.Boolean(metadata={
        "description": "Open and untouched for 30 days (data freshness)."})
    cursor = Text(max_length=200, metadata={
        "description": "The `next_cursor` of the previous page."})
    limit = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class ReferralListArgs(ma.Schema):
    direction = Code(validate=validate.OneOf(("incoming", "outgoing")), metadata={
        "description": "Only referrals to (incoming) or from (outgoing) the caller's agency."})


class TransitionIn(Strict):
    to = Code(required=True, metadata=_enum(STAGES))
    note = Text(allow_none=True)


class ReopenIn(Strict):
    reason = Text(required=True)


class ReferralIn(Strict):
    to_agency = Code(required=True, metadata=_enum(AGENCIES))
    reason = Text(required=True)


class DeclineIn(Strict):
    reason = Text(required=True)


class ServiceIn(Strict):
    code = Code(required=True, metadata=_enum(SERVICES))
    provided_on = fields.Date(allow_none=True, metadata={
        "description": "The day the service was given (default: today)."})
    note = Text(allow_none=True)


class AppointmentIn(Strict):
    at = fields.AwareDateTime(required=True, validate=_reasonable_time, metadata={
        "description": "ISO 8601 with its offset, e.g. 2026-07-01T09:30:00+07:00."})
    place = Text(max_length=300, allow_none=True)
    purpose = Text(allow_none=True)


class VisitIn(Strict):
    outcome = Code(required=True, metadata=_enum(VISIT_OUTCOMES))
    visited_on = fields.Date(allow_none=True, metadata={
        "description": "The day of the visit (default: today)."})
    note = Text(allow_none=True)
    latitude = fields.Float(allow_none=True, validate=validate.Range(min=-90, max=90))
    longitude = fields.Float(allow_none=True, validate=validate.Range(min=-180, max=180))


class NoteIn(Strict):
    text = Text(required=True)


class WithdrawIn(Strict):
    reason = Text(metadata={"description": "How the guardian withdrew (internal note)."})


class InvitationIn(Strict):
    role = Code(required=True, validate=validate.OneOf(("volunteer", "officer")))
    subdistrict = Code(allow_none=True, metadata={
        "description": "For a volunteer: the subdistrict they report in."})
    agency = Code(allow_none=True, metadata={"description": "For an officer: the agency."})
    area = Code(allow_none=True, metadata={
        "description": "For an officer: the area scope (province, district or subdistrict)."})

    @ma.validates_schema
    def _complete(self, data, **_kwargs):
        if data.get("role") == "volunteer" and not data.get("subdistrict"):
            raise ma.ValidationError("Required for a volunteer invitation.", "subdistrict")
        if data.get("role") == "officer":
            missing = [name for name in ("agency", "area") if not data.get(name)]
            if missing:
                raise ma.ValidationError({name: ["Required for an officer invitation."]
                                          for name in missing})


# -- responses -------------------------------------------------------------------------------

class Area(ma.Schema):
    code = fields.String(required=True)
    name_th = fields.String(allow_none=True)
    name_en = fields.String(allow_none=True)


class CaseState(ma.Schema):
    """Where a case stands after a change."""

    reference = fields.String(required=True)
    stage = fields.String(required=True, metadata=_enum(STAGES))
    owner_agency = fields.String(required=True)
    owner_area_code = fields.String(required=True)
    due_at = fields.DateTime(allow_none=True)
    overdue = fields.Boolean(required=True)
    updated_at = fields.DateTime(allow_none=True)


class ReferralOut(ma.Schema):
    id = fields.Integer(required=True)
    case_reference = fields.String(required=True)
    status = fields.String(required=True, metadata={
        "enum": ["pending", "accepted", "declined", "cancelled"],
        "description": "`cancelled`: the guardian withdrew consent before it was answered."})
    from_agency = fields.String(required=True)
    from_area_code = fields.String(required=True)
    to_agency = fields.String(required=True)
    to_area_code = fields.String(required=True)
    from_stage = fields.String(required=True)
    reason = fields.String(required=True)
    created_by = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_reason = fields.String(allow_none=True)


class ReferralWithCase(ReferralOut):
    case = fields.Nested(CaseState, required=True)


class ReferralListItem(ReferralOut):
    child_name = fields.String(required=True)
    case_stage = fields.String(required=True)


class ReferralList(ma.Schema):
    items = fields.List(fields.Nested(ReferralListItem), required=True)


class CaseSummary(ma.Schema):
    reference = fields.String(required=True)
    self_reported = fields.Boolean(required=True, metadata={
        "description": "A parent asked for help for their own child on LINE."})
    needs_visit = fields.Boolean(required=True, metadata={
        "description": "Self-reported and nobody has visited the family yet: a volunteer "
                       "or officer should visit."})
    child_name = fields.String(required=True)
    group = fields.String(required=True, metadata=_enum(TARGET_GROUPS))
    stage = fields.String(required=True, metadata=_enum(STAGES))
    subdistrict = fields.Nested(Area, required=True)
    district = fields.Nested(Area, required=True)
    owner_agency = fields.String(required=True)
    owner_area_code = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    overdue = fields.Boolean(required=True)
    escalation = fields.String(allow_none=True, metadata={
        "enum": ["district", "province", None],
        "description": "Overdue so long it was escalated: to the district's supervisors "
                       "(more than 7 days past the deadline) or the province (more than 21)."})
    stale = fields.Boolean(required=True, metadata={
        "description": "Open and untouched for 30 days (data freshness)."})
    pending_referral = fields.Nested(ReferralOut, allow_none=True)


class CaseList(ma.Schema):
    items = fields.List(fields.Nested(CaseSummary), required=True)
    next_cursor = fields.String(allow_none=True, required=True, metadata={
        "description": "Pass as `cursor` for the next page; null on the last page."})


class Child(ma.Schema):
    name = fields.String(required=True)
    sex = fields.String(allow_none=True)
    birth_date = fields.Date(allow_none=True)
    birth_precision = fields.String(allow_none=True)
    age = fields.Integer(allow_none=True, metadata={"description": "Completed years today."})
    id_kind = fields.String(required=True, metadata=_enum(("citizen_id", "g_code", "none")))
    id_last4 = fields.String(allow_none=True, metadata={
        "description": "The last four characters of the identity number."})


class Guardian(ma.Schema):
    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    relation = fields.String(allow_none=True)


class Address(ma.Schema):
    village = fields.String(allow_none=True)
    village_no = fields.Integer(allow_none=True)
    subdistrict = fields.Nested(Area, required=True)
    district = fields.Nested(Area, required=True)
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)
    location_address = fields.String(allow_none=True)


PURPOSES = ("share_with_agencies", "photo", "follow_up_contact")


class ConsentPurposes(ma.Schema):
    share_with_agencies = fields.Boolean(required=True, metadata={
        "description": "The case may be shared with (and referred to) the agencies."})
    photo = fields.Boolean(required=True, metadata={
        "description": "A photo of the child may be kept and shown."})
    follow_up_contact = fields.Boolean(required=True, metadata={
        "description": "Officers may phone the guardian to follow up. False: do not contact "
                       "the guardian for follow-up."})


class ConsentRecord(ma.Schema):
    id = fields.Integer(required=True)
    guardian_name = fields.String(allow_none=True)
    purposes = fields.List(fields.String(metadata=_enum(PURPOSES)), required=True)
    statement_version = fields.String(required=True)
    channel = fields.String(required=True, metadata={
        "description": "How it was given: line_volunteer (read out by the volunteer) or "
                       "line_parent (the parent on LINE)."})
    recorded_by = fields.String(allow_none=True)
    recorded_at = fields.DateTime(required=True)
    withdrawn_at = fields.DateTime(allow_none=True)
    withdrawn_by = fields.String(allow_none=True, metadata={
        "description": "The guardian's LINE user id, or the officer who recorded it."})
    withdrawal_channel = fields.String(allow_none=True, metadata={
        "enum": ["line_parent", "console", "api", None],
        "description": "line_parent: the guardian on LINE; console, api: recorded by an "
                       "officer."})


class ConsentSummary(ma.Schema):
    active = fields.Boolean(required=True, metadata={
        "description": "A consent is recorded and not withdrawn."})
    purposes = fields.List(fields.String(metadata=_enum(PURPOSES)), required=True, metadata={
        "description": "The purposes the consents not withdrawn cover together."})
    by_purpose = fields.Nested(ConsentPurposes, required=True)
    do_not_contact = fields.Boolean(required=True, metadata={
        "description": "True: do not contact the guardian for follow-up (no consent to "
                       "follow-up contact)."})
    withdrawn = fields.Boolean(required=True, metadata={
        "description": "The guardian withdrew consent: the case is no longer shared with "
                       "other agencies and its photos are not shown."})
    statement_version = fields.String(allow_none=True)
    recorded_at = fields.DateTime(allow_none=True)
    count = fields.Integer(required=True)
    records = fields.List(fields.Nested(ConsentRecord), required=True, metadata={
        "description": "Every consent of the case, oldest first, withdrawn ones included."})


class ClosingEvidence(ma.Schema):
    service = fields.Boolean(required=True)
    visit = fields.Boolean(required=True)
    parent_confirmation = fields.Boolean(required=True)


class ServiceOut(ma.Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    agency = fields.String(required=True)
    provided_on = fields.Date(required=True)
    note = fields.String(allow_none=True)
    recorded_by = fields.String(required=True)
    recorded_at = fields.DateTime(required=True)
    confirmed_at = fields.DateTime(allow_none=True)


class AppointmentOut(ma.Schema):
    id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    place = fields.String(allow_none=True)
    purpose = fields.String(allow_none=True)
    agency = fields.String(required=True)
    created_by = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    cancelled_at = fields.DateTime(allow_none=True)


class VisitOut(ma.Schema):
    id = fields.Integer(required=True)
    visited_on = fields.Date(required=True)
    outcome = fields.String(required=True, metadata=_enum(VISIT_OUTCOMES))
    note = fields.String(allow_none=True)
    visitor = fields.String(required=True)
    visitor_kind = fields.String(required=True)
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)
    created_at = fields.DateTime(required=True)


class TimelineEntryOut(ma.Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    at = fields.DateTime(required=True)
    actor = fields.String(allow_none=True)
    public = fields.Boolean(required=True, metadata={
        "description": "False for internal entries (never shown to parents)."})
    detail = fields.Dict(keys=fields.String(), required=True)


class CaseDetail(CaseSummary):
    situations = fields.List(fields.String(), required=True)
    note = fields.String(allow_none=True)
    first_action_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    erased_at = fields.DateTime(allow_none=True, metadata={
        "description": "When the child's personal data was erased at the guardian's request "
                       "(the case can no longer be changed)."})
    child = fields.Nested(Child, required=True)
    guardian = fields.Nested(Guardian, required=True)
    address = fields.Nested(Address, required=True)
    consent = fields.Nested(ConsentSummary, required=True)
    photos_count = fields.Integer(required=True)
    closing_evidence = fields.Nested(ClosingEvidence, required=True)
    referrals = fields.List(fields.Nested(ReferralOut), required=True)
    services = fields.List(fields.Nested(ServiceOut), required=True)
    appointments = fields.List(fields.Nested(AppointmentOut), required=True)
    visits = fields.List(fields.Nested(VisitOut), required=True)
    timeline = fields.List(fields.Nested(TimelineEntryOut), required=True)


class TransitionOut(ma.Schema):
    case = fields.Nested(CaseState, required=True)
    entry = fields.Nested(TimelineEntryOut, required=True)


class ServiceWithCase(ServiceOut):
    case = fields.Nested(CaseState, required=True)


class AppointmentWithCase(AppointmentOut):
    case = fields.Nested(CaseState, required=True)


class VisitWithCase(VisitOut):
    case = fields.Nested(CaseState, required=True)


class NoteOut(TimelineEntryOut):
    case = fields.Nested(CaseState, required=True)


class CodeOut(ma.Schema):
    code = fields.String(required=True, metadata={
        "description": "Six digits, shown once, single use."})
    expires_at = fields.DateTime(required=True)


class LinkCodeOut(CodeOut):
    case_reference = fields.String(required=True)


class InvitationOut(CodeOut):
    role = fields.String(required=True)


class Count(ma.Schema):
    code = fields.String(required=True)
    count = fields.Integer(required=True)
    overdue = fields.Integer(required=True)


class NamedCount(Count):
    name_th = fields.String(allow_none=True)
    name_en = fields.String(allow_none=True)


class StatsOut(ma.Schema):
    as_of = fields.DateTime(required=True)
    total = fields.Integer(required=True)
    overdue = fields.Integer(required=True)
    with_first_action = fields.Integer(required=True)
    median_days_to_first_action = fields.Float(allow_none=True, metadata={
        "description": "Median days from the report to an officer's first action, over the "
                       "cases that had one."})
    by_stage = fields.List(fields.Nested(Count), required=True)
    by_group = fields.List(fields.Nested(Count), required=True)
    by_agency = fields.List(fields.Nested(NamedCount), required=True)
    by_district = fields.List(fields.Nested(NamedCount), required=True)
    by_subdistrict = fields.List(fields.Nested(NamedCount), required=True)


# -- agencies and deadlines ------------------------------------------------------------------

_DAYS = {"validate": validate.Range(min=1, max=365), "allow_none": True, "strict": True}


class DeadlinesIn(Strict):
    verify = fields.Integer(**_DAYS, metadata={
        "description": "Days to check a report, from the report (default 7)."})
    referral = fields.Integer(**_DAYS, metadata={
        "description": "Days to answer a referral sent to this agency (default 7)."})
    first_action = fields.Integer(**_DAYS, metadata={
        "description": "Days to act after accepting a referral (default 14)."})
    visit = fields.Integer(**_DAYS, metadata={
        "description": "Days between home visits while helping or following up (default 30)."})


class Deadlines(ma.Schema):
    agency = fields.String(required=True)
    verify = fields.Integer(required=True)
    referral = fields.Integer(required=True)
    first_action = fields.Integer(required=True)
    visit = fields.Integer(required=True)
    own = fields.List(fields.String(), required=True, metadata={
        "description": "The deadlines this agency set itself (the rest are the defaults)."})


class DeadlinesOut(Deadlines):
    cases_changed = fields.Integer(required=True, metadata={
        "description": "Open cases whose deadline moved with this change."})


class AgencyOut(ma.Schema):
    code = fields.String(required=True)
    name_th = fields.String(allow_none=True)
    name_en = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    deadlines = fields.Nested(Deadlines, required=True)


class AgencyList(ma.Schema):
    items = fields.List(fields.Nested(AgencyOut), required=True)


# -- announcements ---------------------------------------------------------------------------

class AnnouncementIn(Strict):
    text = fields.String(required=True, validate=validate.Length(min=1, max=5000), metadata={
        "description": "The announcement, sent as written (LINE's limit: 5,000 characters)."})
    audience = fields.List(Code(validate=validate.OneOf(("volunteers", "parents",
                                                         "officers"))),
                           required=True, validate=validate.Length(min=1, max=3))
    area = Code(required=True, metadata={
        "description": "A province (40), district (4007) or subdistrict (400701) inside your "
                       "scope; province-wide announcements wait for a supervisor's approval."})
    send_at = fields.AwareDateTime(metadata={
        "description": "When to send it (with its offset); without it, now. A scheduled "
                       "announcement also waits for QUIET_HOURS to end."})
    link = fields.String(validate=validate.Length(max=1000), metadata={
        "description": "An optional document link (http or https)."})
    group = Code(validate=validate.OneOf(("early_childhood", "out_of_school")), metadata={
        "description": "Parents only of children in this group."})
    confirm = fields.Boolean(load_default=False, metadata={
        "description": "Go ahead although the month's remaining budget runs low, or LINE "
                       "could not say what is left (checked again when it goes)."})


class QuotaOut(ma.Schema):
    limit = fields.Integer(allow_none=True, metadata={
        "description": "The month's push messages (null: no limit, or LINE unreachable)."})
    used = fields.Integer(required=True, metadata={
        "description": "Counted by LINE this month (0 for a later month: not known yet)."})
    reserved = fields.Integer(required=True, metadata={
        "description": "Estimated for announcements composed for that month, not sent yet."})
    sending = fields.Integer(required=True, metadata={
        "description": "In batches of announcements still sending, not taken by LINE yet."})
    remaining = fields.Integer(allow_none=True, metadata={
        "description": "limit - used - sending - reserved (null: no limit, or unknown)."})
    known = fields.Boolean(required=True, metadata={
        "description": "False when LINE could not be asked."})
    month = fields.String(required=True, metadata={
        "description": "The month (YYYY-MM, Khon Kaen's time) the budget is for."})
    ahead = fields.Boolean(required=True, metadata={
        "description": "A later month than this one (for an announcement scheduled then)."})


class AnnouncementOut(ma.Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"enum": [
        "awaiting_approval", "scheduled", "sending", "sent", "cancelled", "failed",
        "refused"], "description": "refused: at its send time the month's LINE budget could "
                                   "not carry it; nothing was sent."})
    text = fields.String(required=True)
    link = fields.String(allow_none=True)
    audience = fields.List(fields.String(), required=True)
    group = fields.String(allow_none=True)
    area = fields.String(required=True)
    send_at = fields.DateTime(required=True)
    estimate = fields.Integer(required=True)
    recipients = fields.Integer(required=True, metadata={
        "description": "Everyone the audience matched when it went (resolved at send time): "
                       "sent + failed + skipped_blocked + cancelled + pending."})
    sent = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    skipped_blocked = fields.Integer(required=True, metadata={
        "description": "Users of the audience who had blocked Samoe, when it went or by the "
                       "time their batch went (not sent to)."})
    cancelled = fields.Integer(required=True, metadata={
        "description": "Users in batches not sent because it was cancelled."})
    pending = fields.Integer(required=True)
    awaiting_approval = fields.Boolean(required=True)
    paused_for_quota = fields.Boolean(required=True, metadata={
        "description": "LINE's monthly limit was reached: the rest waits for it to lift."})
    paused_since = fields.DateTime(allow_none=True)
    created_by = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    approved_by = fields.String(allow_none=True)
    cancelled_by = fields.String(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    quota = fields.Nested(QuotaOut)


class AnnouncementList(ma.Schema):
    items = fields.List(fields.Nested(AnnouncementOut), required=True)
