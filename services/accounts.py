"""Officer accounts: creating them, passwords (argon2id), API tokens, and the LINE link.

Tokens are 32 random bytes shown once (`smo_` + URL-safe text); only their SHA-256 is kept
(a random token needs no slow hash). A token works until it expires or is revoked.
Console sessions end with `end_sessions` (a password set, a scope changed, an account
deactivated or reactivated end them too); wrong passwords are counted in one atomic UPDATE.
Every function works in the caller's transaction and never commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from models import Agency, ApiToken, Area, Invitation, LineUser, Officer, utcnow

ROLES = ("officer", "supervisor", "admin")
TOKEN_PREFIX = "smo_"
TOKEN_VALID_FOR = dt.timedelta(days=90)
MAX_LOGIN_FAILURES = 5
LOGIN_LOCK_FOR = dt.timedelta(minutes=15)
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10

_hasher = PasswordHasher()


class AccountError(ValueError):
    """An account or token cannot be made as asked (the message says why, in English)."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(officer: Officer, password: str) -> bool:
    """True when `password` is the officer's; rehashes in place when the parameters aged."""
    if not officer.password_hash:
        return False
    try:
        _hasher.verify(officer.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if _hasher.check_needs_rehash(officer.password_hash):
        officer.password_hash = _hasher.hash(password)
    return True


def create_officer(session: Session, username: str, password: str | None, role: str,
                   agency: str, area: str, full_name: str | None = None) -> Officer:
    """A new account; the username is lower-cased and must be unused."""
    username = (username or "").strip().lower()
    if not USERNAME.match(username):
        raise AccountError("username: 2-64 of a-z, 0-9, '.', '_' or '-', starting with a "
                           "letter or digit")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if session.get(Agency, agency or "") is None:
        raise AccountError(f"unknown agency code {agency!r}")
    place = session.get(Area, area or "")
    if place is None:
        raise AccountError(f"unknown area code {area!r}")
    if password is not None and len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    if session.scalar(sa.select(Officer.id).where(Officer.username == username)) is not None:
        raise AccountError(f"username {username!r} is taken")
    officer = Officer(username=username, role=role, agency_code=agency, area_code=area,
                      full_name=full_name,
                      password_hash=hash_password(password) if password else None)
    session.add(officer)
    session.flush()
    return officer


def find_officer(session: Session, username: str) -> Officer | None:
    return session.scalar(sa.select(Officer).where(Officer.username == username.strip().lower()))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, officer: Officer, name: str | None = None,
                 valid_for: dt.timedelta = TOKEN_VALID_FOR) -> tuple[str, ApiToken]:
    """A new bearer token for `officer`: the token (shown once) and its row."""
    if not officer.active:
        raise AccountError(f"account {officer.username!r} is deactivated")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(officer_id=officer.id, token_hash=_token_hash(token), prefix=token[:10],
                   name=name, expires_at=utcnow() + valid_for)
    session.add(row)
    session.flush()
    return token, row


def revoke_token(session: Session, token_id: int) -> bool:
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True


def officer_for_token(session: Session, token: str) -> Officer | None:
    """The active officer a valid (unexpired, unrevoked) token belongs to, else None."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    now = utcnow()
    row = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    officer = row.officer
    if not officer.active:
        return None
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=5):
        row.last_used_at = now  # coarse, so a busy client does not write on every request
    return officer


def officer_for_line_user(session: Session, user: LineUser) -> Officer | None:
    if user is None or user.id is None:
        return None
    return session.scalar(sa.select(Officer).where(Officer.line_user_id == user.id,
                                                   Officer.active.is_(True)))


def link_line_officer(session: Session, user: LineUser, invitation: Invitation) -> Officer:
    """Link a LINE user who redeemed an officer invitation to a console account.

    The invitation's named account if it has one; else the account already linked to this
    LINE user; else a new LINE-only account (no password until an administrator sets one)
    with the invitation's agency and area."""
    linked = officer_for_line_user(session, user)
    officer = session.get(Officer, invitation.officer_id) if invitation.officer_id else None
    if officer is None:
        officer = linked
    if officer is None:
        base = f"line-{user.line_user_id[-8:].lower()}"
        username, n = base, 1
        while find_officer(session, username) is not None:
            n += 1
            username = f"{base}-{n}"
        officer = create_officer(session, username, None, "officer", invitation.agency_code,
                                 invitation.area_code, full_name=user.full_name)
    # one LINE user, one account: release it from any other (a deactivated one included)
    for other in session.scalars(sa.select(Officer).where(Officer.line_user_id == user.id,
                                                          Officer.id != officer.id)):
        other.line_user_id = None
    session.flush()
    officer.line_user_id = user.id
    if user.full_name and not officer.full_name:
        officer.full_name = user.full_name
    return officer


# -- administration (the console's admin pages; each change is audited by the caller) -----

#: Letters and digits that cannot be mistaken for each other when read aloud or copied.
_TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def temporary_password() -> str:
    """A random password to hand over once (three groups of four, e.g. "k7pm-x3qa-9tfe")."""
    groups = ("".join(secrets.choice(_TEMPORARY_ALPHABET) for _ in range(4))
              for _group in range(3))
    return "-".join(groups)


def set_password(officer: Officer, password: str) -> None:
    """A new password (at least MIN_PASSWORD characters); any lockout ends with it, and so
    does every console session of the account (`end_sessions`)."""
    if password is None or len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    officer.password_hash = hash_password(password)
    clear_lockout(officer)
    end_sessions(officer)


def end_sessions(officer: Officer) -> None:
    """End every console session of the account: its session number goes up (in SQL, so two
    changes at once both count), and a session cookie with the old number no longer signs
    anyone in (handlers/console/security.py). Takes effect when the caller commits."""
    officer.session_generation = Officer.session_generation + 1


# -- wrong passwords, counted in the database ------------------------------------------------
#
# Counted with one UPDATE ... SET failed_logins = failed_logins + 1 ... RETURNING, never read,
# added to and written back: two wrong passwords at once would then count as one. A sign-in
# attempt is counted before its password is checked, so parallel attempts each get their own
# number and no more than MAX_LOGIN_FAILURES passwords are tried before the lock, however many
# arrive at once; a right one sets the count back to 0.

def _returning(session: Session, officer: Officer, where, values: dict):
    row = session.execute(
        sa.update(Officer).where(Officer.id == officer.id, where).values(**values)
        .returning(Officer.failed_logins, Officer.locked_until)
        .execution_options(synchronize_session=False)).first()
    session.expire(officer, ["failed_logins", "locked_until"])
    return row


def begin_attempt(session: Session, officer: Officer, now: dt.datetime) -> int | None:
    """Count a sign-in attempt before its password is checked: its number since the last
    success or lock (1 for the first), or None when the account is locked. An attempt past
    MAX_LOGIN_FAILURES is not to be checked (`lock` it)."""
    row = _returning(session, officer,
                     sa.or_(Officer.locked_until.is_(None), Officer.locked_until <= now),
                     {"failed_logins": Officer.failed_logins + 1})
    return None if row is None else int(row.failed_logins)


def signed_in(session: Session, officer: Officer, now: dt.datetime) -> None:
    """A right password: the count of failures starts again."""
    _returning(session, officer, sa.true(), {"failed_logins": 0, "locked_until": None})
    officer.last_login_at = now


def lock(session: Session, officer: Officer, now: dt.datetime) -> None:
    """Too many wrong passwords: no sign-in for LOGIN_LOCK_FOR (the count starts again)."""
    _returning(session, officer, sa.true(),
               {"failed_logins": 0, "locked_until": now + LOGIN_LOCK_FOR})


def count_failure(session: Session, officer: Officer, now: dt.datetime) -> bool:
    """A wrong password typed by someone already signed in (changing their password): count
    it, and lock the account (ending its sessions) when it is the MAX_LOGIN_FAILURES-th.
    True when this one locked it."""
    row = _returning(session, officer, sa.true(),
                     {"failed_logins": Officer.failed_logins + 1})
    if row is None or row.failed_logins < MAX_LOGIN_FAILURES:
        return False
    lock(session, officer, now)
    end_sessions(officer)
    return True


def change_scope(session: Session, officer: Officer, role: str, agency: str,
                 area: str) -> dict:
    """Set an account's role, agency and area; returns {field: [before, after]} of what
    changed (empty when nothing did)."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if session.get(Agency, agency or "") is None:
        raise AccountError(f"unknown agency code {agency!r}")
    if session.get(Area, area or "") is None:
        raise AccountError(f"unknown area code {area!r}")
    changes = {}
    for name, value in (("role", role), ("agency_code", agency), ("area_code", area)):
        if getattr(officer, name) != value:
            changes[name] = [getattr(officer, name), value]
            setattr(officer, name, value)
    if changes:  # a session signed in under the old scope ends (the cookie held its number)
        end_sessions(officer)
    return changes


def set_active(officer: Officer, active: bool) -> bool:
    """Deactivate (no sign-in, no API token, no LINE officer menu) or reactivate an account;
    False when it already was so."""
    if bool(officer.active) == active:
        return False
    officer.active = active
    if active:
        clear_lockout(officer)
    end_sessions(officer)
    return True


def clear_lockout(officer: Officer) -> bool:
    """End a lockout after wrong passwords (and forget the count); False when none."""
    locked = officer.locked_until is not None or bool(officer.failed_logins)
    officer.locked_until = None
    officer.failed_logins = 0
    return locked
