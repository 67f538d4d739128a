"""Demo data for the emulator's chat page and for trying Samoe out."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import LineUser, utcnow

DEMO_USERS = Path(__file__).resolve().parent / "data" / "demo_users.json"
REGISTRATION = ("full_name", "phone", "village", "village_no", "subdistrict_code",
                "agency_code", "area_code")


def _load() -> list[dict]:
    return json.loads(DEMO_USERS.read_text(encoding="utf-8"))


def seed(session: Session) -> int:
    """Create the demo LINE users (registered, so they can try every journey) that do not
    exist yet; return how many were created."""
    created = 0
    for spec in _load():
        exists = session.scalar(
            sa.select(LineUser.id).where(LineUser.line_user_id == spec["userId"])
        )
        if exists:
            continue
        registered = {key: spec[key] for key in REGISTRATION if key in spec}
        session.add(
            LineUser(
                line_user_id=spec["userId"],
                display_name=spec["displayName"],
                role=spec.get("role"),
                language=spec.get("language", "th"),
                followed=True,
                followed_at=utcnow(),
                registered_at=utcnow() if registered else None,
                **registered,
            )
        )
        created += 1
    return created


def emulator_users(session: Session) -> list[dict]:
    """The demo users as the emulator's user list wants them."""
    return [
        {"userId": spec["userId"], "displayName": spec["displayName"],
         "language": spec.get("language", "th")}
        for spec in _load()
    ]
