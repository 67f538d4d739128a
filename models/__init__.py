"""SQLAlchemy 2 typed models of Samoe. Nothing else of the project is imported here."""

from models.base import BANGKOK, Base, UTCDateTime, utcnow
from models.case import (
    AnonymousReport,
    Case,
    CaseCounter,
    CasePhoto,
    Consent,
    LinkCode,
    TimelineEntry,
)
from models.conversation import ConversationState
from models.inbox import InboxEvent, InboxLease
from models.invitation import Invitation
from models.line_user import LineUser
from models.outbox import OutboxMessage, ServiceState
from models.reference import Agency, Area

__all__ = [
    "BANGKOK",
    "Agency",
    "AnonymousReport",
    "Area",
    "Base",
    "Case",
    "CaseCounter",
    "CasePhoto",
    "Consent",
    "ConversationState",
    "InboxEvent",
    "InboxLease",
    "Invitation",
    "LineUser",
    "LinkCode",
    "OutboxMessage",
    "ServiceState",
    "TimelineEntry",
    "UTCDateTime",
    "utcnow",
]
