"""Fixtures of the REST API tests: a small world of cases and officers, made through the real
services in committed transactions, and a client that speaks to /api/v1 with a token."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from bot.extensions import db
from models import ApiToken, Case, LineUser
from services import accounts, cases

NAM_PHONG = "400701"  # ตำบลน้ำพอง, อำเภอน้ำพอง (4007)
WANG_CHAI = "400702"  # ตำบลวังชัย, อำเภอน้ำพอง (4007)
CHONNABOT = "401801"  # ตำบลชนบท, อำเภอชนบท (4018)

_serial = itertools.count(1)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Api:
    """The Flask test client with an officer's bearer token."""

    def __init__(self, client, token: str | None, language: str = "en"):
        self.client = client
        self.token = token
        self.language = language

    def headers(self, **extra) -> dict:
        headers = {"Accept-Language": self.language}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra)
        return headers

    def get(self, path: str, **params):
        return self.client.get("/api/v1" + path, query_string=params, headers=self.headers())

    def post(self, path: str, body=None, **kwargs):
        return self.client.post("/api/v1" + path, json=body, headers=self.headers(), **kwargs)

    def put(self, path: str, body=None, **kwargs):
        return self.client.put("/api/v1" + path, json=body, headers=self.headers(), **kwargs)


@dataclass
class World:
    """Makes LINE users, cases and officers, each committed at once."""

    app: object
    client: object
    made: list = field(default_factory=list)

    @property
    def secret(self) -> str:
        return self.app.config["SECRET_KEY"]

    def reporter(self, subdistrict: str = NAM_PHONG) -> int:
        n = next(_serial)
        with self.app.app_context():
            user = LineUser(line_user_id=f"U{n:032x}", role="volunteer", language="th",
                            full_name=f"volunteer {n}", subdistrict_code=subdistrict)
            db.session.add(user)
            db.session.commit()
            user_id = user.id
            db.session.remove()
        return user_id

    def case(self, *, group: str = "out_of_school", subdistrict: str = NAM_PHONG,
             name: str | None = None, created: dt.datetime | None = None,
             reporter: int | None = None, **changes) -> str:
        """A reported case (with consent); returns its reference."""
        n = next(_serial)
        reporter = reporter or self.reporter(subdistrict)
        birth = dt.date(2011, 5, 1) if group == "out_of_school" else dt.date(2023, 3, 1)
        draft = cases.CaseDraft(
            target_group=group, child_name=name or f"เด็กชายทดสอบ{n} ใจดี",
            subdistrict_code=subdistrict, submission_key=f"api-test-{n}", sex="male",
            birth_date=birth, birth_precision="day", guardian_name="บัวพันธ์ ใจดี",
            guardian_phone="0812345678", guardian_relation="mother", village="บ้านโนน",
            village_no=3, situations=["dropped_out"], consent=True, **changes)
        with self.app.app_context():
            user = db.session.get(LineUser, reporter)
            result = cases.submit_report(db.session, self.secret, user, draft,
                                         now=created or now())
            reference = result.case.reference
            db.session.commit()
            db.session.remove()
        return reference

    def update_case(self, reference: str, **values) -> None:
        with self.app.app_context():
            db.session.execute(sa.update(Case).where(Case.reference == reference)
                               .values(**values))
            db.session.commit()
            db.session.remove()

    def officer(self, role: str = "officer", agency: str = "LEARN", area: str = "4007",
                token_days: float = 30) -> tuple[str, str]:
        """A new account and a token for it: (username, token)."""
        n = next(_serial)
        with self.app.app_context():
            account = accounts.create_officer(db.session, f"officer{n}", "correct horse 1",
                                              role, agency, area)
            token, _row = accounts.create_token(db.session, account,
                                                valid_for=dt.timedelta(days=token_days))
            username = account.username
            db.session.commit()
            db.session.remove()
        return username, token

    def api(self, role: str = "officer", agency: str = "LEARN", area: str = "4007",
            language: str = "en") -> Api:
        username, token = self.officer(role, agency, area)
        api = Api(self.client, token, language)
        api.username = username
        return api

    def anonymous(self) -> Api:
        return Api(self.client, None)

    def revoke_all(self, username: str) -> None:
        with self.app.app_context():
            account = accounts.find_officer(db.session, username)
            for row in db.session.scalars(sa.select(ApiToken)
                                          .where(ApiToken.officer_id == account.id)):
                accounts.revoke_token(db.session, row.id)
            db.session.commit()
            db.session.remove()


@pytest.fixture
def world(app, client) -> World:
    return World(app, client)


@pytest.fixture
def learn(world) -> Api:
    """An officer of the district learning office (LEARN) of Nam Phong (4007)."""
    return world.api("officer", "LEARN", "4007")


def error_of(response) -> dict:
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["message"], body
    return body["error"]
