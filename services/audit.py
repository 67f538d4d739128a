"""The audit log: who read or changed what, when and from where (DESIGN.md §4).

`record` adds a row in the caller's transaction, so a change and its audit row are committed
together. Reads of a case's personal data are recorded the same way, by the adapter that shows
them (the API, the console, LINE).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from models import AuditEntry, Case, utcnow
from services.access import Actor


def record(session: Session, actor: Actor, action: str, case: Case | None = None,
           **detail) -> AuditEntry:
    """Add one audit row: `action` like `case.read`, `case.transition`, `token.create`."""
    entry = AuditEntry(
        at=utcnow(), actor=actor.name, actor_kind=actor.kind, action=action,
        case_id=case.id if case is not None else None,
        detail={"via": actor.via, **({"reference": case.reference} if case else {}), **detail},
        ip=actor.ip, user_agent=actor.user_agent,
    )
    session.add(entry)
    return entry
