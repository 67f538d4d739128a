"""SQLAlchemy 2 typed models of Samoe. Nothing else of the project is imported here."""

from models.base import Base, UTCDateTime, utcnow
from models.inbox import InboxEvent, InboxLease
from models.line_user import LineUser
from models.outbox import OutboxMessage, ServiceState
from models.reference import Agency, Area

__all__ = [
    "Agency",
    "Area",
    "Base",
    "InboxEvent",
    "InboxLease",
    "LineUser",
    "OutboxMessage",
    "ServiceState",
    "UTCDateTime",
    "utcnow",
]
