"""The write routes: stages, reopening, the referral handshake, services, appointments,
visits, notes, link codes and invitations; 409 and 422 as the workflow decides."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from models import BANGKOK, AuditEntry, Case, Invitation, LinkCode, TimelineEntry

from .conftest import CHONNABOT, NAM_PHONG, error_of, now


def stage_of(session, reference: str) -> str:
    return session.scalar(sa.select(Case.stage).where(Case.reference == reference))


def actions(session) -> list[str]:
    return list(session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))


# -- stages -----------------------------------------------------------------------------------

def test_a_transition_moves_the_case_and_says_where_it_stands(world, learn, session):
    reference = world.case()
    response = learn.post(f"/cases/{reference}/transitions",
                          {"to": "verifying", "note": "called the mother"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["case"]["stage"] == "verifying" and body["case"]["reference"] == reference
    assert body["entry"]["kind"] == "verified" and isinstance(body["entry"]["id"], int)
    assert body["entry"]["detail"] == {"from": "received", "to": "verifying"}
    assert stage_of(session, reference) == "verifying"
    notes = session.scalars(sa.select(TimelineEntry.detail).join(Case)
                            .where(Case.reference == reference, TimelineEntry.kind == "note"))
    assert [note["text"] for note in notes] == ["called the mother"]
    assert actions(session) == ["case.transition"]


@pytest.mark.parametrize(("to", "code"), [("archived", "unknown_stage"),
                                          ("referred", "use_referral")])
def test_a_stage_that_cannot_be_asked_for_is_422(world, learn, session, to, code):
    reference = world.case()
    response = learn.post(f"/cases/{reference}/transitions", {"to": to})
    assert response.status_code == 422
    assert error_of(response)["code"] == code
    assert stage_of(session, reference) == "received"


@pytest.mark.parametrize(("to", "code"), [("follow_up", "transition_not_allowed"),
                                          ("closed", "transition_not_allowed"),
                                          ("received", "same_stage")])
def test_a_move_the_rules_forbid_is_409(world, learn, session, to, code):
    reference = world.case()
    response = learn.post(f"/cases/{reference}/transitions", {"to": to})
    assert response.status_code == 409
    assert error_of(response)["code"] == code
    assert stage_of(session, reference) == "received"
    assert actions(session) == []


def test_closing_needs_a_service_and_a_confirming_visit(world, learn, session):
    reference = world.case()
    assert learn.post(f"/cases/{reference}/transitions", {"to": "in_support"}
                      ).status_code == 200
    refused = learn.post(f"/cases/{reference}/transitions", {"to": "closed"})
    assert refused.status_code == 409
    assert error_of(refused)["code"] == "evidence_required"
    service = learn.post(f"/cases/{reference}/services", {"code": "learn_enrolment",
                                                          "note": "enrolled at LEARN"})
    assert service.status_code == 201
    assert learn.post(f"/cases/{reference}/transitions", {"to": "closed"}
                      ).status_code == 409
    assert learn.post(f"/cases/{reference}/visits", {"outcome": "back_in_school"}
                      ).status_code == 201
    evidence = learn.get(f"/cases/{reference}").get_json()["closing_evidence"]
    assert evidence == {"service": True, "visit": True, "parent_confirmation": False}
    closed = learn.post(f"/cases/{reference}/transitions", {"to": "closed"})
    assert closed.status_code == 200
    assert closed.get_json()["case"]["stage"] == "closed"
    assert closed.get_json()["case"]["due_at"] is None
    moved = learn.post(f"/cases/{reference}/transitions", {"to": "in_support"})
    assert moved.status_code == 409 and error_of(moved)["code"] == "case_closed"
    late = learn.post(f"/cases/{reference}/services", {"code": "scholarship"})
    assert late.status_code == 409 and error_of(late)["code"] == "case_closed"


def test_reopen_takes_a_closed_case_back_to_verifying(world, learn, session):
    reference = world.case()
    not_closed = learn.post(f"/cases/{reference}/reopen", {"reason": "more to do"})
    assert not_closed.status_code == 409 and error_of(not_closed)["code"] == "not_closed"
    world.update_case(reference, stage="closed", closed_at=now())
    missing = learn.post(f"/cases/{reference}/reopen", {})
    assert missing.status_code == 422 and "reason" in error_of(missing)["fields"]
    blank = learn.post(f"/cases/{reference}/reopen", {"reason": "   "})
    assert blank.status_code == 422 and error_of(blank)["code"] == "reason_required"
    response = learn.post(f"/cases/{reference}/reopen", {"reason": "dropped out again"})
    assert response.status_code == 200
    assert response.get_json()["case"]["stage"] == "verifying"
    assert response.get_json()["entry"]["kind"] == "reopened"
    assert isinstance(response.get_json()["entry"]["id"], int)
    assert stage_of(session, reference) == "verifying"


def test_a_refused_change_leaves_nothing_behind(world, learn, session):
    reference = world.case()
    before = session.scalar(sa.select(sa.func.count()).select_from(TimelineEntry))
    assert learn.post(f"/cases/{reference}/transitions", {"to": "closed", "note": "done"}
                      ).status_code == 409
    assert session.scalar(sa.select(sa.func.count()).select_from(TimelineEntry)) == before


# -- services, appointments, visits, notes ------------------------------------------------------

def test_a_service_is_recorded(world, learn, session):
    reference = world.case()
    day = (now() - dt.timedelta(days=2)).date().isoformat()
    response = learn.post(f"/cases/{reference}/services",
                          {"code": "scholarship", "provided_on": day, "note": "EEF grant"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["code"] == "scholarship" and body["provided_on"] == day
    assert body["agency"] == "LEARN" and body["recorded_by"] == learn.username
    assert body["case"]["reference"] == reference
    listed = learn.get(f"/cases/{reference}").get_json()["services"]
    assert [s["id"] for s in listed] == [body["id"]]
    assert "case.service" in actions(session)


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"code": "pony"}, "unknown_service", None),
    ({"code": "scholarship", "provided_on": "2026-13-45"}, "invalid", "provided_on"),
    ({"code": "scholarship", "provided_on": "yesterday"}, "invalid", "provided_on"),
    ({"code": "scholarship", "provided_on": "2099-01-01"}, "date_in_future", None),
    ({}, "invalid", "code"),
    ({"code": "scholarship", "note": "x" * 2001}, "invalid", "note"),
    ({"code": "scholarship", "note": "nul \x00 byte"}, "invalid", "note"),
])
def test_bad_service_values_are_422(world, learn, session, body, code, field):
    reference = world.case()
    response = learn.post(f"/cases/{reference}/services", body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == code
    if field:
        assert field in error["fields"]
    assert learn.get(f"/cases/{reference}").get_json()["services"] == []


def test_an_appointment_is_set_with_its_offset(world, learn):
    reference = world.case()
    at = (now() + dt.timedelta(days=5)).astimezone(dt.timezone(dt.timedelta(hours=7)))
    at = at.replace(microsecond=0)
    response = learn.post(f"/cases/{reference}/appointments",
                          {"at": at.isoformat(), "place": "LEARN office", "purpose": "enrol"})
    assert response.status_code == 201
    body = response.get_json()
    assert dt.datetime.fromisoformat(body["at"]) == at
    assert body["place"] == "LEARN office" and body["purpose"] == "enrol"
    assert learn.get(f"/cases/{reference}").get_json()["appointments"][0]["id"] == body["id"]


@pytest.mark.parametrize(("at", "code"), [
    ("2026-07-01T09:30:00", "invalid"),  # no offset
    ("tomorrow", "invalid"),
    ("9999-12-31T23:00:00-05:00", "invalid"),
    ("2020-01-01T09:00:00+07:00", "date_in_past"),
])
def test_bad_appointment_times_are_422(world, learn, at, code):
    reference = world.case()
    response = learn.post(f"/cases/{reference}/appointments", {"at": at})
    assert response.status_code == 422
    assert error_of(response)["code"] == code


def test_a_visit_is_recorded(world, learn):
    reference = world.case()
    response = learn.post(f"/cases/{reference}/visits", {
        "outcome": "found", "note": "family at home", "latitude": 16.7, "longitude": 102.85})
    assert response.status_code == 201
    body = response.get_json()
    assert body["outcome"] == "found" and body["visitor"] == learn.username
    assert body["visitor_kind"] == "officer" and body["latitude"] == 16.7
    # the visit is dated in Khon Kaen's day, a day ahead of UTC from 17:00 UTC
    assert body["visited_on"] == now().astimezone(BANGKOK).date().isoformat()


@pytest.mark.parametrize(("body", "code"), [
    ({"outcome": "abducted"}, "unknown_outcome"),
    ({"outcome": "found", "latitude": 91}, "invalid"),
    ({"outcome": "found", "visited_on": "2000-01-01"}, "date_before_report"),
])
def test_bad_visit_values_are_422(world, learn, body, code):
    reference = world.case()
    response = learn.post(f"/cases/{reference}/visits", body)
    assert response.status_code == 422
    assert error_of(response)["code"] == code


def test_a_note_is_added_and_stays_internal(world, learn):
    reference = world.case()
    response = learn.post(f"/cases/{reference}/notes", {"text": "father is abroad"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["kind"] == "note" and body["public"] is False
    assert body["detail"] == {"text": "father is abroad"} and body["id"] > 0
    blank = learn.post(f"/cases/{reference}/notes", {"text": ""})
    assert blank.status_code == 422 and error_of(blank)["code"] == "text_required"


# -- referrals --------------------------------------------------------------------------------

def test_the_referral_handshake_accepted(world, learn, session):
    local = world.api("officer", "LOCAL", NAM_PHONG)
    reference = world.case(group="early_childhood")
    assert learn.get(f"/cases/{reference}").status_code == 404
    made = local.post(f"/cases/{reference}/referrals",
                      {"to_agency": "LEARN", "reason": "the child is 7 and out of school"})
    assert made.status_code == 201
    referral = made.get_json()
    assert referral["status"] == "pending" and referral["from_agency"] == "LOCAL"
    assert referral["to_agency"] == "LEARN" and referral["to_area_code"] == "4007"
    assert referral["case"]["stage"] == "referred"
    assert referral["case"]["owner_agency"] == "LOCAL"
    # both agencies see it pending; the owner has not changed
    incoming = learn.get("/referrals", direction="incoming").get_json()["items"]
    outgoing = local.get("/referrals", direction="outgoing").get_json()["items"]
    assert [r["id"] for r in incoming] == [r["id"] for r in outgoing] == [referral["id"]]
    assert learn.get("/referrals", direction="outgoing").get_json()["items"] == []
    assert [r["id"] for r in local.get("/referrals").get_json()["items"]] == [referral["id"]]
    assert incoming[0]["child_name"] and incoming[0]["case_stage"] == "referred"
    seen = learn.get(f"/cases/{reference}").get_json()
    assert seen["owner_agency"] == "LOCAL" and seen["pending_referral"]["id"] == referral["id"]
    # the receiver may not work the case before accepting, the sender may not accept
    early = learn.post(f"/cases/{reference}/notes", {"text": "mine now?"})
    assert early.status_code == 409 and error_of(early)["code"] == "not_owner"
    wrong = local.post(f"/referrals/{referral['id']}/accept")
    assert wrong.status_code == 409 and error_of(wrong)["code"] == "not_receiver"
    again = local.post(f"/cases/{reference}/referrals", {"to_agency": "SOCIAL", "reason": "x"})
    assert again.status_code == 409 and error_of(again)["code"] == "referral_pending"
    accepted = learn.post(f"/referrals/{referral['id']}/accept")
    assert accepted.status_code == 200
    body = accepted.get_json()
    assert body["status"] == "accepted" and body["decided_by"] == learn.username
    assert body["case"]["owner_agency"] == "LEARN" and body["case"]["owner_area_code"] == "4007"
    twice = learn.post(f"/referrals/{referral['id']}/accept")
    assert twice.status_code == 409 and error_of(twice)["code"] == "referral_not_pending"
    # the old owner no longer sees the case; the new one works it
    assert local.get(f"/cases/{reference}").status_code == 404
    assert learn.post(f"/cases/{reference}/transitions", {"to": "in_support"}
                      ).status_code == 200
    assert learn.get("/referrals").get_json()["items"] == []
    assert {"referral.create", "referral.accept", "referral.list"} <= set(actions(session))


def test_the_referral_handshake_declined(world, learn, session):
    local = world.api("officer", "LOCAL", NAM_PHONG)
    reference = world.case(group="early_childhood")
    assert local.post(f"/cases/{reference}/transitions", {"to": "verifying"}).status_code == 200
    referral = local.post(f"/cases/{reference}/referrals",
                          {"to_agency": "LEARN", "reason": "older"}).get_json()
    no_reason = learn.post(f"/referrals/{referral['id']}/decline", {})
    assert no_reason.status_code == 422 and "reason" in error_of(no_reason)["fields"]
    declined = learn.post(f"/referrals/{referral['id']}/decline",
                          {"reason": "the child is 5: early childhood"})
    assert declined.status_code == 200
    body = declined.get_json()
    assert body["status"] == "declined"
    assert body["decision_reason"] == "the child is 5: early childhood"
    assert body["case"]["stage"] == "verifying" and body["case"]["owner_agency"] == "LOCAL"
    assert stage_of(session, reference) == "verifying"
    assert learn.get(f"/cases/{reference}").status_code == 404
    case = local.get(f"/cases/{reference}").get_json()
    assert case["pending_referral"] is None
    assert [r["status"] for r in case["referrals"]] == ["declined"]
    assert learn.post(f"/referrals/{referral['id']}/decline", {"reason": "again"}
                      ).status_code == 404  # no longer in LEARN's scope


@pytest.mark.parametrize(("body", "code"), [
    ({"to_agency": "NASA", "reason": "space"}, "unknown_agency"),
    ({"to_agency": "LEARN", "reason": "ourselves"}, "same_agency"),
    ({"to_agency": "SOCIAL", "reason": ""}, "reason_required"),
    ({"to_agency": "SOCIAL"}, "invalid"),
])
def test_bad_referrals_are_422(world, learn, session, body, code):
    reference = world.case()
    response = learn.post(f"/cases/{reference}/referrals", body)
    assert response.status_code == 422
    assert error_of(response)["code"] == code
    assert stage_of(session, reference) == "received"


# -- link codes -------------------------------------------------------------------------------

def test_the_owner_issues_a_parent_link_code(world, learn, session):
    reference = world.case()
    response = learn.post(f"/cases/{reference}/link-codes")
    assert response.status_code == 201
    body = response.get_json()
    assert re.fullmatch(r"\d{6}", body["code"]) and body["case_reference"] == reference
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(days=6, hours=23) < expires - now() <= dt.timedelta(days=7)
    row = session.scalars(sa.select(LinkCode)).one()
    assert row.created_by == learn.username and body["code"] not in row.code_hash
    audit = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case.link_code")
                            ).one()
    assert audit.actor == learn.username and audit.case_id == row.case_id


def test_only_the_owner_or_a_supervisor_issues_link_codes(world, learn, session):
    local = world.api("officer", "LOCAL", NAM_PHONG)
    reference = world.case(group="early_childhood")
    local.post(f"/cases/{reference}/referrals", {"to_agency": "LEARN", "reason": "older"})
    refused = learn.post(f"/cases/{reference}/link-codes")
    assert refused.status_code == 409 and error_of(refused)["code"] == "not_owner"
    supervisor = world.api("supervisor", "EDU", "40")
    assert supervisor.post(f"/cases/{reference}/link-codes").status_code == 201
    assert session.scalar(sa.select(sa.func.count()).select_from(LinkCode)) == 1


# -- invitations ------------------------------------------------------------------------------

def test_a_supervisor_invites_a_volunteer_of_their_area(world, session):
    supervisor = world.api("supervisor", "LEARN", "4007")
    response = supervisor.post("/invitations", {"role": "volunteer",
                                                "subdistrict": NAM_PHONG})
    assert response.status_code == 201
    body = response.get_json()
    assert re.fullmatch(r"\d{6}", body["code"]) and body["role"] == "volunteer"
    assert dt.datetime.fromisoformat(body["expires_at"]) > now() + dt.timedelta(days=13)
    row = session.scalars(sa.select(Invitation)).one()
    assert row.subdistrict_code == NAM_PHONG and row.role == "volunteer"
    audit = session.scalars(sa.select(AuditEntry)
                            .where(AuditEntry.action == "invitation.create")).one()
    assert audit.actor == supervisor.username and audit.detail["invitation_id"] == row.id


def test_officer_invitations_by_supervisors_and_admins(world, session):
    supervisor = world.api("supervisor", "LEARN", "4007")
    ok = supervisor.post("/invitations", {"role": "officer", "agency": "LEARN",
                                          "area": "400702"})
    assert ok.status_code == 201
    other_agency = supervisor.post("/invitations", {"role": "officer", "agency": "HEALTH",
                                                    "area": "4007"})
    assert other_agency.status_code == 409
    assert error_of(other_agency)["code"] == "not_allowed"
    admin = world.api("admin", "EDU", "40")
    assert admin.post("/invitations", {"role": "officer", "agency": "HEALTH", "area": "4018"}
                      ).status_code == 201
    assert session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 2


def test_invitations_outside_the_area_or_by_an_officer_are_refused(world, learn, session):
    supervisor = world.api("supervisor", "LEARN", "4007")
    outside = supervisor.post("/invitations", {"role": "volunteer", "subdistrict": CHONNABOT})
    assert outside.status_code == 404 and error_of(outside)["code"] == "area_not_found"
    wider = supervisor.post("/invitations", {"role": "officer", "agency": "LEARN",
                                             "area": "40"})
    assert wider.status_code == 404
    by_officer = learn.post("/invitations", {"role": "volunteer", "subdistrict": NAM_PHONG})
    assert by_officer.status_code == 409 and error_of(by_officer)["code"] == "not_allowed"
    unknown = supervisor.post("/invitations", {"role": "volunteer", "subdistrict": "400799"})
    assert unknown.status_code == 422 and error_of(unknown)["code"] == "invitation_refused"
    incomplete = supervisor.post("/invitations", {"role": "officer", "agency": "LEARN"})
    assert incomplete.status_code == 422 and "area" in error_of(incomplete)["fields"]
    parent = supervisor.post("/invitations", {"role": "parent", "subdistrict": NAM_PHONG})
    assert parent.status_code == 422 and "role" in error_of(parent)["fields"]
    assert session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 0
