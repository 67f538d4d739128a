"""Demo data for the emulator's chat page and for trying Samoe out (`flask seed-demo`).

- `seed`: three LINE users, registered so each can try their journeys: a village health
  volunteer, a parent and an officer of LEARN in district 4007 (data/demo_users.json).
- `seed_console`: the officer's console account, linked to his LINE user, so "my work" on
  LINE and the console show his work.
- `seed_cases`: a few cases the volunteer reported in his district (data/demo_cases.json),
  through the real reporting service: new ones and an overdue one; the parent follows her
  grandchild's case, linked with a link code as a parent would be.

Each step creates only what is missing, so running it again changes nothing (except setting
the console password back to the one given).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import Case, LineUser, Officer, utcnow
from services import accounts, cases, guardians

DATA = Path(__file__).resolve().parent / "data"
DEMO_USERS = DATA / "demo_users.json"
DEMO_CASES = DATA / "demo_cases.json"
REGISTRATION = ("full_name", "phone", "village", "village_no", "subdistrict_code",
                "agency_code", "area_code")
#: Who the timeline and link codes say made the demo data.
DEMO_ACTOR = "demo"


def _load(path: Path = DEMO_USERS) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def _line_user(session: Session, line_user_id: str) -> LineUser | None:
    return session.scalar(sa.select(LineUser).where(LineUser.line_user_id == line_user_id))


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
    session.flush()
    return created


def console_username() -> str | None:
    """The demo officer's console username (None when the demo data has none)."""
    for spec in _load():
        if spec.get("console"):
            return spec["console"]["username"]
    return None


def seed_console(session: Session, password: str | None) -> Officer | None:
    """The demo officer's console account (his agency and area), linked to his LINE user,
    with `password` (None: no password, no console login). Returns it, or None when the
    demo LINE user is missing (run `seed` first) or already linked to another account."""
    account = None
    for spec in _load():
        console = spec.get("console")
        if not console:
            continue
        user = _line_user(session, spec["userId"])
        if user is None:
            return None
        account = accounts.find_officer(session, console["username"])
        if account is None:
            account = accounts.create_officer(
                session, console["username"], password, console.get("role", "officer"),
                spec["agency_code"], spec["area_code"], full_name=spec.get("full_name"))
        elif password is not None and not accounts.check_password(account, password):
            account.password_hash = accounts.hash_password(password)
        if account.line_user_id is None:
            other = session.scalar(sa.select(Officer.id).where(Officer.line_user_id == user.id))
            if other is not None:
                return None
            account.line_user_id = user.id
    session.flush()
    return account


def seed_cases(session: Session, secret: str, now: dt.datetime | None = None) -> int:
    """Report the demo cases that are not there yet (as the demo volunteer, with the
    guardian's consent, dated the given number of days ago) and link the parent who follows
    one; return how many cases were created."""
    now = now or utcnow()
    created = 0
    for spec in _load(DEMO_CASES):
        reporter = _line_user(session, spec["reporter"])
        if reporter is None:
            continue
        reported_at = now - dt.timedelta(days=spec.get("reported_days_ago", 0))
        today = reported_at.date()
        draft = cases.CaseDraft(
            target_group=spec["target_group"], child_name=spec["child_name"],
            subdistrict_code=spec["subdistrict_code"], submission_key=spec["key"],
            sex=spec.get("sex"), birth_date=dt.date(today.year - spec["age"], 1, 15),
            birth_precision="day", guardian_name=spec.get("guardian_name"),
            guardian_phone=spec.get("guardian_phone"),
            guardian_relation=spec.get("guardian_relation"), village=spec.get("village"),
            village_no=spec.get("village_no"), situations=spec.get("situations", []),
            note=spec.get("note"), consent=True)
        result = cases.submit_report(session, secret, reporter, draft, now=reported_at)
        created += int(result.created)
        parent = _line_user(session, spec["guardian_user"]) if "guardian_user" in spec else None
        if parent is not None and result.case is not None:
            _follow(session, secret, parent, result.case)
    session.flush()
    return created


def _follow(session: Session, secret: str, parent: LineUser, case: Case) -> None:
    """Link the parent to the case the way a parent is linked: with a link code."""
    if any(linked.id == case.id for linked in guardians.linked_cases(session, parent)):
        return
    code = cases.issue_link_code(session, secret, case, DEMO_ACTOR)
    guardians.redeem_link_code(session, secret, parent, code)


def emulator_users(session: Session) -> list[dict]:
    """The demo users as the emulator's user list wants them."""
    return [
        {"userId": spec["userId"], "displayName": spec["displayName"],
         "language": spec.get("language", "th")}
        for spec in _load()
    ]
