"""GET /api/v1/cases and /cases/{ref}: scope, audit, pagination, filters, the full case."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from models import AuditEntry, Case

from .conftest import CHONNABOT, NAM_PHONG, WANG_CHAI, error_of, now

THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


def references(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [item["reference"] for item in response.get_json()["items"]]


# -- scope: 404 alike for out of scope and missing ----------------------------------------------

def _calls(reference: str):
    """Every route naming a case, with a body valid for it."""
    at = (now() + dt.timedelta(days=3)).isoformat()
    return [
        ("get", f"/cases/{reference}", None),
        ("post", f"/cases/{reference}/transitions", {"to": "verifying"}),
        ("post", f"/cases/{reference}/reopen", {"reason": "new facts"}),
        ("post", f"/cases/{reference}/referrals", {"to_agency": "SOCIAL", "reason": "help"}),
        ("post", f"/cases/{reference}/services", {"code": "scholarship"}),
        ("post", f"/cases/{reference}/appointments", {"at": at, "place": "office"}),
        ("post", f"/cases/{reference}/visits", {"outcome": "found"}),
        ("post", f"/cases/{reference}/notes", {"text": "a note"}),
        ("post", f"/cases/{reference}/link-codes", None),
    ]


def test_a_case_outside_the_scope_is_404_exactly_like_a_missing_one(world, learn, session):
    elsewhere = world.case(subdistrict=CHONNABOT)  # district 4018, LEARN owns it there
    year = elsewhere.split("-")[1]
    missing = f"KK-{year}-99999"
    for (method, path, body), (_m, missing_path, _b) in zip(_calls(elsewhere),
                                                           _calls(missing), strict=True):
        out_of_scope = getattr(learn, method)(path, body) if body is not None else \
            getattr(learn, method)(path)
        absent = getattr(learn, method)(missing_path, body) if body is not None else \
            getattr(learn, method)(missing_path)
        assert out_of_scope.status_code == absent.status_code == 404, path
        assert out_of_scope.get_json() == absent.get_json(), path
        assert error_of(out_of_scope)["code"] == "case_not_found"
    # nothing happened to the case, and its reads were not audited as reads
    case = session.scalar(sa.select(Case).where(Case.reference == elsewhere))
    assert case.stage == "received" and len(case.timeline) == 2
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                          .where(AuditEntry.case_id == case.id)) == 0


def test_another_agency_s_case_in_the_same_district_is_404_too(world, learn):
    local_case = world.case(group="early_childhood")  # owned by LOCAL of 400701
    response = learn.get(f"/cases/{local_case}")
    assert response.status_code == 404
    assert references(learn.get("/cases")) == []
    supervisor = world.api("supervisor", "LEARN", "4007")
    assert supervisor.get(f"/cases/{local_case}").status_code == 200


def test_a_referral_outside_the_scope_is_404_like_a_missing_one(world, learn):
    chonnabot = world.api("officer", "LEARN", "4018")
    elsewhere = world.case(subdistrict=CHONNABOT)
    made = chonnabot.post(f"/cases/{elsewhere}/referrals", {"to_agency": "SOCIAL",
                                                            "reason": "welfare"})
    assert made.status_code == 201
    referral_id = made.get_json()["id"]
    for action, body in (("accept", None), ("decline", {"reason": "no"})):
        hidden = learn.post(f"/referrals/{referral_id}/{action}", body)
        missing = learn.post(f"/referrals/{referral_id + 1000}/{action}", body)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.get_json() == missing.get_json()
        assert error_of(hidden)["code"] == "referral_not_found"
    huge = learn.post("/referrals/99999999999999999999999/accept")
    assert huge.status_code == 404
    assert learn.get("/referrals").get_json()["items"] == []


@pytest.mark.parametrize("form", ["plain", "no_prefix", "thai_digits", "short_number",
                                  "lower_spaces"])
def test_the_url_accepts_a_reference_as_people_type_it(world, learn, form):
    reference = world.case()
    _kk, year, number = reference.split("-")
    typed = {"plain": reference, "no_prefix": f"{year}-{number}",
             "thai_digits": f"{year}-{number}".translate(THAI_DIGITS),
             "short_number": f"{year}-{int(number)}",
             "lower_spaces": f"kk {year} {number}"}[form]
    response = learn.get(f"/cases/{typed}")
    assert response.status_code == 200
    assert response.get_json()["reference"] == reference


def test_nonsense_in_place_of_a_reference_is_404(learn):
    for typed in ("hello", "0", "KK-2569-00000", "%00"):
        response = learn.get(f"/cases/{typed}")
        assert response.status_code == 404
        assert error_of(response)["code"] == "case_not_found"


# -- the full case and its audit row ----------------------------------------------------------

def test_a_case_in_full_with_its_internal_timeline(world, learn, session):
    reference = world.case(subdistrict=WANG_CHAI, name="ด.ญ. มะลิ ศรีสุข", id_kind="citizen_id",
                           id_number="1-1037-02071-65-5")
    assert learn.post(f"/cases/{reference}/notes", {"text": "mother works nights"}
                      ).status_code == 201
    response = learn.get(f"/cases/{reference}")
    assert response.status_code == 200
    case = response.get_json()
    assert case["reference"] == reference
    assert case["child"]["name"] == "ด.ญ. มะลิ ศรีสุข"
    assert case["child"]["id_kind"] == "citizen_id" and case["child"]["id_last4"] == "1655"
    assert case["child"]["age"] >= 14
    assert case["guardian"] == {"name": "บัวพันธ์ ใจดี", "phone": "0812345678",
                                "relation": "mother"}
    assert case["address"]["subdistrict"] == {"code": WANG_CHAI, "name_th": "วังชัย",
                                              "name_en": "Wang Chai"}
    assert case["address"]["district"]["code"] == "4007"
    assert case["address"]["district"]["name_en"] == "Nam Phong"
    assert case["address"]["village_no"] == 3
    assert case["group"] == "out_of_school" and case["situations"] == ["dropped_out"]
    assert case["stage"] == "received" and case["owner_agency"] == "LEARN"
    assert case["owner_area_code"] == "4007"
    assert case["overdue"] is False and case["due_at"] is not None
    assert case["consent"]["active"] is True
    assert case["consent"]["purposes"] == ["share_with_agencies", "photo", "follow_up_contact"]
    assert case["consent"]["by_purpose"] == {"share_with_agencies": True, "photo": True,
                                             "follow_up_contact": True}
    assert case["consent"]["do_not_contact"] is False
    [record] = case["consent"]["records"]
    assert (record["statement_version"], record["channel"]) == ("2569-2", "line_volunteer")
    assert (record["withdrawn_at"], record["withdrawn_by"], record["withdrawal_channel"]) == (
        None, None, None)
    assert case["photos_count"] == 0 and case["pending_referral"] is None
    assert case["services"] == [] and case["appointments"] == [] and case["visits"] == []
    assert case["closing_evidence"] == {"service": False, "visit": False,
                                        "parent_confirmation": False}
    kinds = [(entry["kind"], entry["public"]) for entry in case["timeline"]]
    assert kinds == [("created", True), ("consent", False), ("note", False)]
    assert case["timeline"][-1]["detail"] == {"text": "mother works nights"}
    assert case["timeline"][-1]["actor"] == learn.username
    row = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case.read")).one()
    assert row.actor == learn.username and row.actor_kind == "officer"
    assert row.ip == "127.0.0.1"
    assert row.case_id == session.scalar(sa.select(Case.id).where(Case.reference == reference))
    assert row.detail["via"] == "api" and row.detail["reference"] == reference


def test_each_list_request_writes_one_audit_row_with_what_it_returned(world, learn, session):
    first, second = world.case(), world.case(subdistrict=WANG_CHAI)
    world.case(subdistrict=CHONNABOT)
    response = learn.get("/cases", subdistrict=WANG_CHAI, limit=10)
    assert references(response) == [second]
    response = learn.get("/cases")
    assert references(response) == [second, first]
    rows = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case.list")
                           .order_by(AuditEntry.id)).all()
    assert len(rows) == 2
    assert [row.actor for row in rows] == [learn.username] * 2
    assert all(row.ip == "127.0.0.1" and row.case_id is None for row in rows)
    assert rows[0].detail["references"] == [second]
    assert rows[0].detail["filters"] == {"subdistrict": WANG_CHAI}
    assert rows[1].detail["references"] == [second, first]
    assert rows[1].detail["filters"] == {}


def test_a_failed_request_writes_no_audit_row(world, learn, session):
    assert learn.get("/cases", stage="nope").status_code == 422
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


# -- pagination -------------------------------------------------------------------------------

def test_pages_follow_the_cursor_without_repeats_or_gaps(world, learn):
    made = [world.case() for _ in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = learn.get("/cases", **params)
        page = response.get_json()
        seen += references(response)
        pages += 1
        if pages == 1:
            world.case()  # a case added meanwhile does not shift the following pages
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == 3
    assert pages == 3
    assert seen == list(reversed(made))
    assert learn.get("/cases", limit=3, cursor=cursor or "").status_code == 200


def test_the_same_cursor_gives_the_same_page(world, learn):
    for _ in range(4):
        world.case()
    cursor = learn.get("/cases", limit=2).get_json()["next_cursor"]
    first = references(learn.get("/cases", limit=2, cursor=cursor))
    again = references(learn.get("/cases", limit=2, cursor=cursor))
    assert first == again and len(first) == 2


@pytest.mark.parametrize("cursor", ["garbage", "eyJ2IjoxfQ", "eyJ2IjoxLCJiZWZvcmUiOiJ4In0",
                                    "eyJ2IjoxLCJiZWZvcmUiOi0xfQ", "%%%"])
def test_a_cursor_not_made_by_the_api_is_400(learn, cursor):
    response = learn.get("/cases", cursor=cursor)
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_cursor"


@pytest.mark.parametrize("limit", [0, 101, -1, "ten"])
def test_limit_is_between_1_and_100(learn, limit):
    response = learn.get("/cases", limit=limit)
    assert response.status_code == 422
    assert "limit" in error_of(response)["fields"]


def test_the_default_page_is_25(world, learn, app):
    for _ in range(26):
        world.case()
    page = learn.get("/cases").get_json()
    assert len(page["items"]) == 25 and page["next_cursor"] is not None


# -- filters ----------------------------------------------------------------------------------

def test_filters_by_stage_group_place_and_agency(world):
    supervisor = world.api("supervisor", "LEARN", "4007")
    learn_case = world.case()
    verifying = world.case(subdistrict=WANG_CHAI)
    local_case = world.case(group="early_childhood")
    assert supervisor.post(f"/cases/{verifying}/transitions", {"to": "verifying"}
                           ).status_code == 200
    assert references(supervisor.get("/cases", stage="verifying")) == [verifying]
    assert references(supervisor.get("/cases", stage="received")) == [local_case, learn_case]
    assert references(supervisor.get("/cases", group="early_childhood")) == [local_case]
    assert references(supervisor.get("/cases", agency="LOCAL")) == [local_case]
    assert references(supervisor.get("/cases", agency="LEARN")) == [verifying, learn_case]
    assert references(supervisor.get("/cases", subdistrict=WANG_CHAI)) == [verifying]
    assert references(supervisor.get("/cases", district="4007")) == [local_case, verifying,
                                                                      learn_case]
    assert references(supervisor.get("/cases", district="4018")) == []
    assert references(supervisor.get("/cases", stage="received", group="out_of_school")
                      ) == [learn_case]


@pytest.mark.parametrize(("name", "value"), [("stage", "archived"), ("group", "adults"),
                                             ("overdue", "perhaps")])
def test_unknown_filter_values_are_422(learn, name, value):
    response = learn.get("/cases", **{name: value})
    assert response.status_code == 422
    assert name in error_of(response)["fields"]


def test_q_finds_a_thai_name_however_it_is_typed(world, learn):
    malee = world.case(name="ด.ญ. มะลิ ศรีสุข")
    world.case(name="เด็กชายสมชาย ใจดี")
    for typed in ("มะลิ", "มะลิ  ศรีสุข", "เด็กหญิงมะลิ", "ศรีสุข", "น้องมะลิ"):
        assert references(learn.get("/cases", q=typed)) == [malee], typed
    assert references(learn.get("/cases", q="ดวงใจ")) == []
    assert references(learn.get("/cases", q="%")) == []


def test_q_finds_a_reference_in_any_typed_form(world, learn):
    first = world.case()
    world.case()
    _kk, year, number = first.split("-")
    for typed in (first, f"{year}-{int(number)}", f"{year}-{number}".translate(THAI_DIGITS)):
        assert references(learn.get("/cases", q=typed)) == [first], typed


def test_overdue_filter(world, learn):
    late = world.case(created=now() - dt.timedelta(days=30))  # due 7 days after the report
    on_time = world.case()
    closed_late = world.case(created=now() - dt.timedelta(days=40))
    world.update_case(closed_late, stage="closed")
    assert references(learn.get("/cases", overdue="true")) == [late]
    assert references(learn.get("/cases", overdue="false")) == [closed_late, on_time]
    listed = learn.get("/cases").get_json()["items"]
    assert {item["reference"]: item["overdue"] for item in listed} == {
        late: True, on_time: False, closed_late: False}


def test_referred_to_us_filter(world, learn):
    local = world.api("officer", "LOCAL", NAM_PHONG)
    referred = world.case(group="early_childhood")
    world.case(group="early_childhood")
    ours = world.case()
    response = local.post(f"/cases/{referred}/referrals", {"to_agency": "LEARN",
                                                           "reason": "older than thought"})
    assert response.status_code == 201
    assert references(learn.get("/cases", referred_to_us="true")) == [referred]
    assert references(learn.get("/cases", referred_to_us="false")) == [ours]
    assert references(learn.get("/cases")) == [ours, referred]
    item = learn.get("/cases", referred_to_us="true").get_json()["items"][0]
    assert item["pending_referral"]["to_agency"] == "LEARN"
    assert item["owner_agency"] == "LOCAL" and item["stage"] == "referred"
