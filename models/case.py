"""Cases: a child reported for help, with the guardian's consent, photos, a timeline, parent
link codes; plus anonymous counts (reports without consent) and the per-year reference counter.

Codes (target groups, stages, situations, ...) are the ones of DESIGN.md §7; they are listed
and checked in services.cases, not here. JSON lists and objects are stored as text (the same on
SQLite and PostgreSQL) and read back as Python lists and dicts; a list column is mutable in
place (`case.situations.append(...)` is saved), a timeline entry's `detail` is not (assign it).
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from sqlalchemy.ext.mutable import MutableList
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, only_on, utcnow
from models.crypto import EncryptedBytes, EncryptedText
from models.inbox import BigId


class JSONText(sa.types.TypeDecorator):
    """A JSON value stored as text (compact, UTF-8 kept readable)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return json.loads(value)


JSONList = MutableList.as_mutable(JSONText())


class Case(Base):
    """A child reported for help: who, where, why, which stage, and which agency owns it."""

    __tablename__ = "cases"
    __table_args__ = (
        sa.Index("ix_cases_subdistrict_stage", "subdistrict_code", "stage"),
        sa.Index("ix_cases_owner_queue", "owner_agency_code", "owner_area_code", "stage"),
        sa.Index("ix_cases_reporter_created", "reporter_id", "created_at"),
        sa.Index("ix_cases_stage_updated", "stage", "updated_at"),
        # the console's queue over a province's cases (handlers/console/listing.py,
        # bench/console.py): an officer's district in id or deadline order; the deadline
        # order of a province; and the chips' counts per stage, read from the index alone
        # on PostgreSQL (the filters' columns are INCLUDEd)
        sa.Index("ix_cases_district_id", "district_code", "id"),
        sa.Index("ix_cases_district_due", "district_code", "due_at", "id",
                 postgresql_include=["stage", "owner_agency_code"]),
        sa.Index("ix_cases_due", "due_at", "id",
                 postgresql_include=["stage", "district_code", "owner_agency_code"]),
        sa.Index("ix_cases_queue_district", "district_code", "stage", "id",
                 postgresql_include=["owner_agency_code", "target_group", "subdistrict_code",
                                     "due_at", "updated_at", "escalation", "erased_at"]),
        sa.Index("ix_cases_queue_stage", "stage", "id",
                 postgresql_include=["district_code", "owner_agency_code", "target_group",
                                     "subdistrict_code", "due_at", "updated_at",
                                     "escalation", "erased_at"]),
        # a name typed anywhere in the child's name (LIKE '%...%'): trigrams, PostgreSQL only
        only_on(sa.Index("ix_cases_name_trgm", "child_name_norm", postgresql_using="gin",
                         postgresql_ops={"child_name_norm": "gin_trgm_ops"}), "postgresql"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(sa.String(20), unique=True)  # KK-2569-00042
    # the reporting draft's key: a second confirm of the same draft finds this case
    submission_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    target_group: Mapped[str] = mapped_column(sa.String(20))  # early_childhood | out_of_school
    # the child
    child_name: Mapped[str] = mapped_column(sa.String(200))
    child_name_norm: Mapped[str] = mapped_column(sa.String(200), index=True)
    sex: Mapped[str | None] = mapped_column(sa.String(8))  # male | female
    birth_date: Mapped[dt.date | None]
    birth_precision: Mapped[str | None] = mapped_column(sa.String(8))  # day|month|year|age
    id_kind: Mapped[str] = mapped_column(sa.String(12), default="none")  # citizen_id|g_code|none
    id_number: Mapped[str | None] = mapped_column(EncryptedText)  # encrypted at rest
    id_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)  # keyed HMAC-SHA256
    # the guardian
    guardian_name: Mapped[str | None] = mapped_column(sa.String(200))
    guardian_phone: Mapped[str | None] = mapped_column(EncryptedText)  # encrypted at rest
    guardian_relation: Mapped[str | None] = mapped_column(sa.String(40))
    # where the child lives
    village: Mapped[str | None] = mapped_column(sa.String(200))
    village_no: Mapped[int | None]
    subdistrict_code: Mapped[str] = mapped_column(sa.ForeignKey("areas.code"))
    district_code: Mapped[str] = mapped_column(sa.ForeignKey("areas.code"))
    situations: Mapped[list[str]] = mapped_column(JSONList, default=list)
    note: Mapped[str | None] = mapped_column(sa.Text)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    location_address: Mapped[str | None] = mapped_column(sa.String(500))
    # workflow and ownership
    stage: Mapped[str] = mapped_column(sa.String(16), default="received")
    owner_agency_code: Mapped[str] = mapped_column(sa.ForeignKey("agencies.code"))
    owner_area_code: Mapped[str] = mapped_column(sa.ForeignKey("areas.code"))
    reporter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("line_users.id"))
    self_reported: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # the first thing an officer did (a transition, referral, service, visit, appointment)
    first_action_at: Mapped[dt.datetime | None]
    # when the next step is due (services.workflow sets it on each change); past it = overdue
    due_at: Mapped[dt.datetime | None]  # indexed by ix_cases_due (with the id)
    closed_at: Mapped[dt.datetime | None]
    # escalation of an overdue case: 0 none, 1 the district's supervisors (> 7 days past the
    # deadline), 2 the province (> 21 days); back to 0 when the deadline moves ahead
    escalation: Mapped[int] = mapped_column(sa.SmallInteger, default=0, server_default="0")
    # the morning the volunteer was last reminded of a due home visit
    visit_reminded_on: Mapped[dt.date | None]
    # personal fields removed after the retention period (services.retention)
    pseudonymised_at: Mapped[dt.datetime | None]
    # personal data erased at the guardian's request (services.subject_rights): never changed
    # again; its stage, group and place stay for the province's figures
    erased_at: Mapped[dt.datetime | None]

    photos: Mapped[list[CasePhoto]] = relationship(
        back_populates="case", order_by="CasePhoto.id", cascade="all, delete-orphan")
    consents: Mapped[list[Consent]] = relationship(
        back_populates="case", order_by="Consent.id", cascade="all, delete-orphan")
    timeline: Mapped[list[TimelineEntry]] = relationship(
        back_populates="case", order_by=lambda: (TimelineEntry.at, TimelineEntry.id),
        cascade="all, delete-orphan")
    referrals: Mapped[list[Referral]] = relationship(
        back_populates="case", order_by="Referral.id", cascade="all, delete-orphan")


class CasePhoto(Base):
    """A photo of the child, copied from LINE into the database (LINE deletes its copy)."""

    __tablename__ = "case_photos"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    data: Mapped[bytes] = mapped_column(EncryptedBytes)  # encrypted at rest
    size: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="photos")


class Consent(Base):
    """The guardian's consent as data: who, for which purposes, under which statement, when."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    guardian_name: Mapped[str | None] = mapped_column(sa.String(200))
    # share_with_agencies | photo | follow_up_contact
    purposes: Mapped[list[str]] = mapped_column(JSONList, default=list)
    statement_version: Mapped[str] = mapped_column(sa.String(20))
    channel: Mapped[str] = mapped_column(sa.String(20))  # line_volunteer | line_parent | ...
    recorded_by: Mapped[str | None] = mapped_column(sa.String(64))  # a LINE user id
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None]
    # who recorded the withdrawal (the guardian's LINE user id, or the officer's username),
    # and through which channel: line_parent (the guardian on LINE), console or api (an
    # officer recording what the guardian said by phone or in person)
    withdrawn_by: Mapped[str | None] = mapped_column(sa.String(64))
    withdrawal_channel: Mapped[str | None] = mapped_column(sa.String(20))

    case: Mapped[Case] = relationship(back_populates="consents")


class TimelineEntry(Base):
    """One event in a case's life. Entries that are not `public` are never shown to parents."""

    __tablename__ = "timeline_entries"
    __table_args__ = (sa.Index("ix_timeline_entries_case_at", "case_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    # created | duplicate_report | verified | referred | accepted | declined | service | visit
    # | appointment | status | reopened | note | consent | link_code | confirmation
    # | referral_cancelled | ... (services.cases.TIMELINE_KINDS)
    kind: Mapped[str] = mapped_column(sa.String(20))
    actor: Mapped[str | None] = mapped_column(sa.String(64))  # LINE user id or officer username
    public: Mapped[bool] = mapped_column(default=False)
    detail: Mapped[dict] = mapped_column(JSONText, default=dict)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="timeline")


class AnonymousReport(Base):
    """A report made without the guardian's consent: counted, nothing about the child kept.

    `submission_key` is the reporting draft's random key, kept only so that a double-tapped
    confirm counts once; it says nothing about the child or the reporter."""

    __tablename__ = "anonymous_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subdistrict_code: Mapped[str] = mapped_column(sa.ForeignKey("areas.code"), index=True)
    target_group: Mapped[str] = mapped_column(sa.String(20))
    submission_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CaseCounter(Base):
    """The last reference number given in a Buddhist-era year."""

    __tablename__ = "case_counters"

    year_be: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


class LinkCode(Base):
    """A single-use, expiring 6-digit code a parent types to link LINE to a case (hash only)."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by: Mapped[str] = mapped_column(sa.String(64))  # LINE user id or officer username
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    used_by: Mapped[str | None] = mapped_column(sa.String(64))


class CaseGuardian(Base):
    """A parent's LINE account linked to a child's case (through a one-time link code)."""

    __tablename__ = "case_guardians"
    __table_args__ = (sa.UniqueConstraint("case_id", "line_user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    line_user_id: Mapped[int] = mapped_column(sa.ForeignKey("line_users.id"), index=True)
    linked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    link_code_id: Mapped[int | None] = mapped_column(sa.ForeignKey("link_codes.id"))
    unlinked_at: Mapped[dt.datetime | None]


class Referral(Base):
    """Agency A asks agency B to take a case; B accepts (and becomes the owner) or declines."""

    __tablename__ = "referrals"
    __table_args__ = (
        sa.Index("ix_referrals_to_status", "to_agency_code", "status"),
        # the cases referred to an agency and waiting (an officer's scope, "referred to us")
        sa.Index("ix_referrals_pending_to", "to_agency_code", "case_id",
                 postgresql_where=sa.text("status = 'pending'"),
                 sqlite_where=sa.text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    from_agency_code: Mapped[str] = mapped_column(sa.ForeignKey("agencies.code"))
    from_area_code: Mapped[str] = mapped_column(sa.ForeignKey("areas.code"))
    to_agency_code: Mapped[str] = mapped_column(sa.ForeignKey("agencies.code"))
    to_area_code: Mapped[str] = mapped_column(sa.ForeignKey("areas.code"))
    from_stage: Mapped[str] = mapped_column(sa.String(16))  # the stage a decline returns to
    reason: Mapped[str] = mapped_column(sa.Text)
    # pending | accepted | declined | cancelled (the guardian withdrew consent while it was
    # pending: services.workflow.cancel_for_withdrawal)
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(sa.String(64))
    decided_at: Mapped[dt.datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(sa.Text)

    case: Mapped[Case] = relationship(back_populates="referrals")


class CaseService(Base):
    """A service given to the child (codes of DESIGN.md §7), by which agency, on which day."""

    __tablename__ = "case_services"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(32))
    agency_code: Mapped[str] = mapped_column(sa.ForeignKey("agencies.code"))
    provided_on: Mapped[dt.date]
    note: Mapped[str | None] = mapped_column(sa.Text)
    recorded_by: Mapped[str] = mapped_column(sa.String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[dt.datetime | None]  # the parent said it was received
    confirmed_by: Mapped[str | None] = mapped_column(sa.String(64))


class Appointment(Base):
    """A dated appointment for the child and family (at an office, a school, a clinic)."""

    __tablename__ = "appointments"
    __table_args__ = (sa.Index("ix_appointments_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    at: Mapped[dt.datetime]
    place: Mapped[str | None] = mapped_column(sa.String(300))
    purpose: Mapped[str | None] = mapped_column(sa.Text)
    agency_code: Mapped[str] = mapped_column(sa.ForeignKey("agencies.code"))
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[dt.datetime | None]
    reminded_at: Mapped[dt.datetime | None]


class Visit(Base):
    """A home visit: when, what was found, by whom (an officer or a volunteer)."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    visited_on: Mapped[dt.date]
    # found | not_found | moved | back_in_school | needs_more_help
    outcome: Mapped[str] = mapped_column(sa.String(20))
    note: Mapped[str | None] = mapped_column(sa.Text)
    visitor: Mapped[str] = mapped_column(sa.String(64))  # officer username or LINE user id
    visitor_kind: Mapped[str] = mapped_column(sa.String(12))  # officer | volunteer
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    photo_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_photos.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
