"""Invitation codes: issued by an administrator, redeemed once by a LINE user to register.

Codes are 6 random digits, single use and expiring; only a keyed hash is stored. Wrong
guesses are counted per LINE user: after `MAX_FAILURES` the user waits `LOCK_FOR`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Agency, Area, Invitation, LineUser, utcnow

ROLES = ("volunteer", "officer")
VALID_FOR = dt.timedelta(days=14)
MAX_FAILURES = 5
LOCK_FOR = dt.timedelta(hours=1)


class InvitationError(ValueError):
    """The invitation cannot be issued as asked (the message says why)."""


@dataclass(frozen=True)
class Redemption:
    """The outcome of typing a code: the invitation, or why not (`locked`, `unknown`, `used`,
    `expired`, `revoked`), with when a locked user may try again."""

    invitation: Invitation | None = None
    reason: str | None = None
    retry_at: dt.datetime | None = None


def code_hash(secret: str, code: str) -> str:
    """The keyed hash under which a code is stored."""
    return hmac.new(secret.encode(), code.encode(), hashlib.sha256).hexdigest()


def issue(session: Session, secret: str, role: str, *, subdistrict: str | None = None,
          agency: str | None = None, area: str | None = None,
          valid_for: dt.timedelta = VALID_FOR,
          officer_id: int | None = None) -> tuple[str, Invitation]:
    """Create an invitation; return the code (shown once) and the row. An officer invitation
    may name the console account (`officer_id`) the LINE user will be linked to."""
    if role not in ROLES:
        raise InvitationError(f"role must be one of {', '.join(ROLES)}")
    if role == "volunteer":
        place = session.get(Area, subdistrict or "")
        if place is None or place.level != "subdistrict":
            raise InvitationError(f"unknown subdistrict code {subdistrict!r}")
    else:
        if session.get(Agency, agency or "") is None:
            raise InvitationError(f"unknown agency code {agency!r}")
        if session.get(Area, area or "") is None:
            raise InvitationError(f"unknown area code {area!r}")
    for _attempt in range(20):
        code = f"{secrets.randbelow(1_000_000):06d}"
        invitation = Invitation(
            code_hash=code_hash(secret, code), role=role, subdistrict_code=subdistrict,
            agency_code=agency, area_code=area, expires_at=utcnow() + valid_for,
            officer_id=officer_id if role == "officer" else None,
        )
        try:
            with session.begin_nested():
                session.add(invitation)
        except IntegrityError:
            continue  # this code was issued before: draw another
        return code, invitation
    raise InvitationError("could not draw an unused code")


def redeem(session: Session, secret: str, user: LineUser, code: str) -> Redemption:
    """Use a code for `user` (atomically: a code is used once), counting wrong guesses."""
    now = utcnow()
    if user.code_locked_until is not None and user.code_locked_until > now:
        return Redemption(reason="locked", retry_at=user.code_locked_until)
    hashed = code_hash(secret, code)
    taken = session.execute(
        sa.update(Invitation)
        .where(Invitation.code_hash == hashed, Invitation.used_at.is_(None),
               Invitation.revoked_at.is_(None), Invitation.expires_at > now)
        .values(used_at=now, used_by=user.line_user_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    invitation = session.scalar(sa.select(Invitation).where(Invitation.code_hash == hashed))
    if taken == 1:
        user.code_failures = 0
        return Redemption(invitation=invitation)
    if invitation is None:
        user.code_failures += 1
        if user.code_failures >= MAX_FAILURES:
            user.code_failures = 0
            user.code_locked_until = now + LOCK_FOR
            return Redemption(reason="locked", retry_at=user.code_locked_until)
        return Redemption(reason="unknown")
    if invitation.revoked_at is not None:
        return Redemption(reason="revoked")
    if invitation.used_at is not None:
        return Redemption(reason="used")
    return Redemption(reason="expired")


def status(invitation: Invitation, now: dt.datetime | None = None) -> str:
    """`active` (may still be used), `used`, `revoked` or `expired`."""
    now = now or utcnow()
    if invitation.used_at is not None:
        return "used"
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.expires_at <= now:
        return "expired"
    return "active"


def revoke(session: Session, invitation: Invitation, now: dt.datetime | None = None) -> bool:
    """Revoke an unused code (atomically: a code being redeemed at this moment is either used
    or revoked, never both). False when it was used or revoked already."""
    now = now or utcnow()
    taken = session.execute(
        sa.update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.used_at.is_(None),
               Invitation.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(invitation)
    return taken == 1
