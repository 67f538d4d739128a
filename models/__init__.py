"""SQLAlchemy 2 typed models of Samoe. Nothing else of the project is imported here."""

from models.announcement import Announcement
from models.base import BANGKOK, Base, UTCDateTime, utcnow
from models.case import (
    AnonymousReport,
    Appointment,
    Case,
    CaseCounter,
    CaseGuardian,
    CasePhoto,
    CaseService,
    Consent,
    LinkCode,
    Referral,
    TimelineEntry,
    Visit,
)
from models.conversation import ConversationState
from models.dashboard import DashboardSnapshot, PublicSnapshot
from models.inbox import InboxEvent, InboxLease
from models.invitation import Invitation
from models.line_user import LineUser
from models.officer import ApiToken, AuditEntry, Officer
from models.outbox import OutboxMessage, SchedulerRun, ServiceState
from models.reference import Agency, Area
from models.rights import ErasureRequest

__all__ = [
    "BANGKOK",
    "Agency",
    "Announcement",
    "AnonymousReport",
    "ApiToken",
    "Appointment",
    "AuditEntry",
    "Area",
    "Base",
    "Case",
    "CaseCounter",
    "CaseGuardian",
    "CasePhoto",
    "CaseService",
    "Consent",
    "ConversationState",
    "DashboardSnapshot",
    "ErasureRequest",
    "InboxEvent",
    "InboxLease",
    "Invitation",
    "LineUser",
    "LinkCode",
    "Officer",
    "OutboxMessage",
    "PublicSnapshot",
    "Referral",
    "SchedulerRun",
    "ServiceState",
    "TimelineEntry",
    "UTCDateTime",
    "Visit",
    "utcnow",
]
