"""GET /api/v1/agencies and PUT /agencies/{code}/deadlines; the cases list's follow-up filters
(escalated, stale) and fields."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from models import AuditEntry, Case

from .conftest import error_of, now


def test_every_agency_is_listed_with_the_deadlines_that_apply(world, learn):
    response = learn.get("/agencies")
    assert response.status_code == 200
    items = {a["code"]: a for a in response.get_json()["items"]}
    assert set(items) == {"EDU", "OBEC", "HEALTH", "PHC", "SOCIAL", "LOCAL", "LEARN", "KKU",
                          "EEF"}
    assert items["LEARN"]["deadlines"] == {"agency": "LEARN", "verify": 7, "referral": 7,
                                           "first_action": 14, "visit": 30, "own": []}


def test_an_administrator_sets_deadlines_and_open_cases_follow(world, session):
    admin = world.api("admin", "EDU", "40")
    created = now() - dt.timedelta(days=2)
    reference = world.case(created=created)
    response = admin.put("/agencies/learn/deadlines", {"verify": 3, "visit": None})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["verify"], body["visit"], body["own"], body["cases_changed"]) == (
        3, 30, ["verify"], 1)
    due = session.scalar(sa.select(Case.due_at).where(Case.reference == reference))
    assert abs(due - (created + dt.timedelta(days=3))) < dt.timedelta(seconds=1)
    listed = admin.get("/agencies").get_json()["items"]
    assert next(a for a in listed if a["code"] == "LEARN")["deadlines"]["verify"] == 3
    actions = session.scalars(sa.select(AuditEntry.action)
                              .where(AuditEntry.action == "agency.deadlines")).all()
    assert actions == ["agency.deadlines"]


def test_deadlines_refuse_other_roles_bad_values_and_unknown_agencies(world, learn):
    supervisor = world.api("supervisor", "LEARN", "4007", language="th")
    refused = supervisor.put("/agencies/LEARN/deadlines", {"verify": 3})
    assert refused.status_code == 403
    assert error_of(refused)["message"] == "เฉพาะผู้ดูแลระบบเท่านั้นที่ทำรายการนี้ได้"
    assert learn.put("/agencies/LEARN/deadlines", {"verify": 3}).status_code == 403
    admin = world.api("admin", "EDU", "40")
    for body in ({"verify": 0}, {"verify": 366}, {"verify": "soon"}, {"visit": 1.5},
                 {"sleep": 3}):
        response = admin.put("/agencies/LEARN/deadlines", body)
        assert response.status_code == 422, body
    assert admin.put("/agencies/NOPE/deadlines", {"verify": 3}).status_code == 404
    bad_json = admin.client.put("/api/v1/agencies/LEARN/deadlines", data="{verify",
                                headers={**admin.headers(), "Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert admin.get("/agencies").get_json()["items"][6]["deadlines"]["own"] == []


def test_the_cases_list_filters_escalated_and_stale_cases(world):
    supervisor = world.api("supervisor", "LEARN", "4007")
    escalated = world.case()
    stale = world.case()
    fresh = world.case()
    world.update_case(escalated, escalation=1, due_at=now() - dt.timedelta(days=9))
    world.update_case(stale, updated_at=now() - dt.timedelta(days=31))

    def refs(**params):
        response = supervisor.get("/cases", **params)
        assert response.status_code == 200, response.get_json()
        return {item["reference"]: item for item in response.get_json()["items"]}

    assert set(refs(escalated="district")) == {escalated}
    assert set(refs(escalated="province")) == set()
    assert set(refs(stale="true")) == {stale}
    assert set(refs(stale="false")) == {escalated, fresh}
    items = refs()
    assert items[escalated]["escalation"] == "district" and items[escalated]["overdue"]
    assert items[stale]["stale"] is True and items[fresh]["stale"] is False
    assert items[fresh]["escalation"] is None
    assert supervisor.get("/cases", escalated="county").status_code == 422
