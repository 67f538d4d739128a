"""Small builders for tests: LINE users, cases (through the real reporting service) and
officer accounts with tokens. Each commits what it makes, so the app sees it at once."""

from __future__ import annotations

import datetime as dt
import itertools

from models import LineUser, Officer
from services import accounts, cases
from services.access import Actor

NAM_PHONG = "400701"  # ตำบลน้ำพอง, อำเภอน้ำพอง (4007)
WANG_CHAI = "400702"  # ตำบลวังชัย, อำเภอน้ำพอง (4007)
CHONNABOT = "401801"  # ตำบลชนบท, อำเภอชนบท (4018)

_serial = itertools.count(1)


def line_user(session, role: str = "volunteer", subdistrict: str = NAM_PHONG,
              language: str = "th", name: str | None = None) -> LineUser:
    n = next(_serial)
    user = LineUser(line_user_id=f"U{n:032x}", role=role, language=language,
                    full_name=name or f"ผู้ใช้ {n}", subdistrict_code=subdistrict,
                    display_name=name or f"user {n}")
    session.add(user)
    session.commit()
    return user


def report(session, secret: str, reporter: LineUser, *, group: str = "out_of_school",
           subdistrict: str = NAM_PHONG, name: str | None = None,
           birth: dt.date | None = None, now: dt.datetime | None = None, **changes):
    """A case reported by `reporter` with consent (a new child each call)."""
    n = next(_serial)
    if birth is None:
        birth = dt.date(2011, 5, 1) if group == "out_of_school" else dt.date(2023, 3, 1)
    draft = cases.CaseDraft(
        target_group=group, child_name=name or f"เด็กชายทดสอบ{n} ใจดี",
        subdistrict_code=subdistrict, submission_key=f"factory-{n}", sex="male",
        birth_date=birth, birth_precision="day", guardian_name="บัวพันธ์ ใจดี",
        guardian_phone="0812345678", guardian_relation="mother", village="บ้านโนน",
        village_no=3, situations=["dropped_out"], consent=True, **changes)
    result = cases.submit_report(session, secret, reporter, draft,
                                 now=now or dt.datetime.now(dt.UTC))
    session.commit()
    return result.case


def officer(session, role: str = "officer", agency: str = "LEARN", area: str = "4007",
            username: str | None = None, line: LineUser | None = None) -> Officer:
    n = next(_serial)
    account = accounts.create_officer(session, username or f"officer{n}", "correct horse 1",
                                      role, agency, area)
    if line is not None:
        account.line_user_id = line.id
    session.commit()
    return account


def token(session, account: Officer, days: float = 30) -> str:
    value, _row = accounts.create_token(session, account, valid_for=dt.timedelta(days=days))
    session.commit()
    return value


def actor(account: Officer) -> Actor:
    return Actor.for_officer(account, via="test", ip="127.0.0.1")
