"""Every case-work action of the console changes a case exactly as the same action of the
REST API does (the same domain service): two twin cases, one worked through the API and one
through the console, end up alike — stage, owner, timeline, outbox messages and audit rows
(the console's marked `via: console`). Refused input comes back in Thai with what was typed."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from models import BANGKOK, AuditEntry, Case, LinkCode, OutboxMessage, Referral, TimelineEntry
from services import workflow
from tests import factories as f
from tests.console.conftest import Console

TODAY = dt.datetime.now(BANGKOK).date()
SOON = TODAY + dt.timedelta(days=3)


def _close(session, who, case):
    workflow.transition(session, who, case, "in_support")
    workflow.record_service(session, who, case, "learn_enrolment")
    workflow.record_visit(session, who, case, "found")
    workflow.transition(session, who, case, "closed")


def _refer(session, who, case):
    workflow.refer(session, who, case, "SOCIAL", "needs a welfare grant")


#: name: (set-up through the services, the API call, the console call, who acts)
ACTIONS = {
    "transition": (None, ("transitions", {"to": "verifying", "note": "checked by phone"}),
                   ("transition", {"to": "verifying", "note": "checked by phone",
                                   "confirm": "1"}), "learn"),
    "close": (lambda s, w, c: (workflow.transition(s, w, c, "in_support"),
                               workflow.record_service(s, w, c, "learn_enrolment"),
                               workflow.record_visit(s, w, c, "found")),
              ("transitions", {"to": "closed"}), ("transition", {"to": "closed", "confirm": "1"}),
              "learn"),
    "reopen": (_close, ("reopen", {"reason": "moved back home"}),
               ("reopen", {"reason": "moved back home", "confirm": "1"}), "learn"),
    "refer": (None, ("referrals", {"to_agency": "SOCIAL", "reason": "needs a welfare grant"}),
              ("refer", {"to_agency": "SOCIAL", "reason": "needs a welfare grant",
                         "confirm": "1"}), "learn"),
    "accept": (_refer, ("accept", {}), ("accept", {"confirm": "1"}), "social"),
    "decline": (_refer, ("decline", {"reason": "not in our area"}),
                ("decline", {"reason": "not in our area", "confirm": "1"}), "social"),
    "service": (None, ("services", {"code": "scholarship", "provided_on": TODAY.isoformat(),
                                    "note": "ทุนเสมอภาค 😊"}),
                ("services", {"code": "scholarship", "provided_on": TODAY.isoformat(),
                              "note": "ทุนเสมอภาค 😊", "confirm": "1"}), "learn"),
    "appointment": (None, ("appointments", {"at": f"{SOON.isoformat()}T09:30:00+07:00",
                                            "place": "ศกร.น้ำพอง", "purpose": "enrol"}),
                    ("appointments", {"day": SOON.isoformat(), "time": "09:30",
                                      "place": "ศกร.น้ำพอง", "purpose": "enrol",
                                      "confirm": "1"}), "learn"),
    "visit": (None, ("visits", {"outcome": "found", "visited_on": TODAY.isoformat(),
                                "note": "at home"}),
              ("visits", {"outcome": "found", "visited_on": TODAY.isoformat(),
                          "note": "at home", "confirm": "1"}), "learn"),
    "note": (None, ("notes", {"text": "called the mother"}),
             ("notes", {"text": "called the mother", "confirm": "1"}), "learn"),
    "withdraw": (None, ("consent/withdraw", {"reason": "by phone"}),
                 ("consent/withdraw", {"reason": "by phone", "confirm": "1"}), "learn"),
    "link_code": (None, ("link-codes", None), ("link-code", {"confirm": "1"}), "learn"),
}


def outcome(session, case_id: int) -> dict:
    """What an action left on a case, without ids, times or the channel."""
    session.expire_all()
    case = session.get(Case, case_id)
    timeline = [(e.kind, e.public, {k: v for k, v in (e.detail or {}).items()
                                    if not k.endswith("_id")
                                    and k not in ("at", "expires_at", "reference", "channel")})
                for e in session.scalars(sa.select(TimelineEntry).where(
                    TimelineEntry.case_id == case_id).order_by(TimelineEntry.id))]
    audit = [(a.action, {k: v for k, v in (a.detail or {}).items()
                         if k not in ("via", "reference", "expires_at", "channel")
                         and not k.endswith("_id")})
             for a in session.scalars(sa.select(AuditEntry).where(
                 AuditEntry.case_id == case_id,
                 AuditEntry.action.not_in(("case.read", "case.list", "case.reveal")))
                 .order_by(AuditEntry.id))]
    vias = {a.detail.get("via") for a in session.scalars(sa.select(AuditEntry).where(
        AuditEntry.case_id == case_id))}
    return {
        "stage": case.stage, "owner": (case.owner_agency_code, case.owner_area_code),
        "closed": case.closed_at is not None, "due": case.due_at is not None,
        "first_action": case.first_action_at is not None,
        "timeline": timeline, "audit": audit, "vias": vias,
        "outbox": sorted((m.kind, m.recipient) for m in session.scalars(
            sa.select(OutboxMessage)) if case.reference in (m.payload or "")
            or f'"case_id": {case_id},' in (m.payload or "")),
        "referrals": [(r.status, r.to_agency_code) for r in session.scalars(
            sa.select(Referral).where(Referral.case_id == case_id))],
        "link_codes": session.scalar(sa.select(sa.func.count(LinkCode.id))
                                     .where(LinkCode.case_id == case_id)),
    }


@pytest.mark.parametrize("name", list(ACTIONS))
def test_each_action_changes_the_case_like_the_api(app, client, session, volunteer, name):
    setup, (api_path, api_body), (console_path, form), who = ACTIONS[name]
    secret = app.config["SECRET_KEY"]
    learn = f.officer(session, agency="LEARN", area="4007", username="learn.np")
    social = f.officer(session, agency="SOCIAL", area="40", username="social.kk")
    officer = learn if who == "learn" else social
    twins = [f.report(session, secret, volunteer, name=f"เด็กชายแฝด{n} ใจดี") for n in (1, 2)]
    if setup:
        for case in twins:
            setup(session, f.actor(learn), case)
        session.commit()
    by_api, by_console = twins

    token = f.token(session, officer)
    if name in ("accept", "decline"):
        referral = session.scalar(sa.select(Referral.id).where(Referral.case_id == by_api.id))
        url = f"/api/v1/referrals/{referral}/{api_path}"
    else:
        url = f"/api/v1/cases/{by_api.reference}/{api_path}"
    response = client.post(url, json=api_body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (200, 201), response.get_json()

    console = Console(app.test_client(), officer)
    if name in ("accept", "decline"):
        referral = session.scalar(sa.select(Referral.id).where(
            Referral.case_id == by_console.id))
        path = f"/console/referrals/{referral}/{console_path}"
    else:
        path = f"/console/cases/{by_console.reference}/{console_path}"
    unconfirmed = {k: v for k, v in form.items() if k != "confirm"}
    if "confirm" in form:  # asked once more first, and nothing changes until confirmed
        before = outcome(session, by_console.id)
        asked = console.post(path, unconfirmed)
        assert asked.status_code == 200
        assert 'name="confirm" value="1"' in asked.get_data(as_text=True)
        assert outcome(session, by_console.id) == before
    done = console.post(path, form)
    assert done.status_code in (200, 302), done.get_data(as_text=True)
    if name == "link_code":
        code = re.search(r'id="link-code">(\d{6})<', done.get_data(as_text=True))
        assert code, done.get_data(as_text=True)

    api_result, console_result = outcome(session, by_api.id), outcome(session, by_console.id)
    assert api_result.pop("vias") <= {"api", "test"}
    assert console_result.pop("vias") <= {"console", "test"}
    assert console_result == api_result
    changed = outcome(session, by_console.id)
    changed.pop("vias")
    assert changed["audit"], "the change is audited"


def test_a_refused_change_says_why_in_thai_and_keeps_what_was_typed(console, session, a_case):
    long_note = "บันทึกยาว " + "ก" * 5000
    url = f"/console/cases/{a_case.reference}"
    before = outcome(session, a_case.id)
    before.pop("vias")

    response = console.post(url + "/notes", {"text": long_note})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "ข้อความยาวเกินไป" in page or "ยาวเกิน" in page
    assert long_note in page  # nothing lost: the text is still in the form

    closing = console.post(url + "/transition", {"to": "closed", "confirm": "1"})
    assert closing.status_code == 409
    assert "ปิดเคส" not in closing.get_data(as_text=True).split("<main>")[0]

    bad_date = console.post(url + "/services", {"code": "scholarship",
                                                "provided_on": "31/2/2569", "note": "ok"})
    assert bad_date.status_code == 422
    assert "ยังอ่านวันที่นี้ไม่ออกค่ะ" in bad_date.get_data(as_text=True)
    future = console.post(url + "/visits", {"outcome": "found", "visited_on": "1/1/2600"})
    assert future.status_code == 422
    past = console.post(url + "/appointments", {"day": "1/1/2560", "time": "09:00"})
    assert past.status_code == 422
    bad_time = console.post(url + "/appointments", {"day": SOON.isoformat(), "time": "9 โมง",
                                                    "place": "อบต."})
    assert bad_time.status_code == 422
    assert "ยังอ่านเวลานี้ไม่ออกค่ะ" in bad_time.get_data(as_text=True)
    assert 'value="อบต."' in bad_time.get_data(as_text=True)
    no_choice = console.post(url + "/services", {"code": "", "note": "x"})
    assert no_choice.status_code == 422
    assert "กรุณาเลือกความช่วยเหลือที่ให้ค่ะ" in no_choice.get_data(as_text=True)
    after = outcome(session, a_case.id)
    assert after.pop("vias") == {"console"}  # each page shown again was a read, audited
    assert after == before


def test_thai_digits_emoji_and_buddhist_era_dates_are_taken(console, session, a_case):
    url = f"/console/cases/{a_case.reference}"
    today = dt.datetime.now(BANGKOK).date()
    typed = f"{today.day}/{today.month}/{today.year + 543}".translate(
        str.maketrans("0123456789", "".join(chr(0x0E50 + i) for i in range(10))))
    asked = console.post(url + "/visits", {"outcome": "found", "visited_on": typed,
                                           "note": "น้องยิ้ม 😊 สบายดี"})
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert f"{today.day} " in page and f" {today.year + 543}</dd>" in page  # Buddhist era
    assert f'name="visited_on" value="{today.isoformat()}"' in page  # read, then kept
    response = console.post(url + "/visits", {"outcome": "found", "visited_on": typed,
                                              "note": "น้องยิ้ม 😊 สบายดี", "confirm": "1"})
    assert response.status_code == 302
    session.expire_all()
    visit_note = session.scalar(sa.select(TimelineEntry.detail).where(
        TimelineEntry.case_id == a_case.id, TimelineEntry.kind == "note"))
    assert visit_note["text"] == "น้องยิ้ม 😊 สบายดี"
    flash = console.get(url).get_data(as_text=True)
    assert "บันทึกการเยี่ยมบ้านแล้วค่ะ" in flash


# -- records are confirmed too -----------------------------------------------------------------

def facts(page: str) -> dict[str, str]:
    """The confirmation page's list: label -> value."""
    import html

    return {html.unescape(k): html.unescape(v) for k, v in re.findall(
        r"<dt>([^<]*)</dt><dd class=\"pre\">([^<]*)</dd>", page)}


def kept(page: str) -> dict[str, str]:
    """The values the confirmation's form carries (hidden), without its token and way back."""
    import html

    form = page.split('id="confirm"')[1].split("</form>")[0]
    return {name: html.unescape(value) for name, value in re.findall(
        r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', form)
        if name not in ("csrf_token", "back_to")}


RECORDS = {
    # path, typed, what the confirmation page says (label: value), what is kept
    "service": ("services", {"code": "scholarship", "provided_on": "", "note": "ทุนเสมอภาค"},
                {"ความช่วยเหลือ": "ทุนการศึกษา", "หมายเหตุ": "ทุนเสมอภาค"},
                {"code": "scholarship", "provided_on": TODAY.isoformat(), "note": "ทุนเสมอภาค"}),
    "visit": ("visits", {"outcome": "found", "visited_on": "", "note": ""},
              {"ผลการเยี่ยมบ้าน": "พบน้องที่บ้าน", "หมายเหตุ": "–"},
              {"outcome": "found", "visited_on": TODAY.isoformat(), "note": ""}),
    "appointment": ("appointments", {"day": f"{SOON.day}/{SOON.month}/{SOON.year + 543}",
                                     "time": "9.30", "place": "ศกร.น้ำพอง", "purpose": ""},
                    {"เวลา": "09:30 น.", "สถานที่นัด": "ศกร.น้ำพอง", "เรื่องที่นัด": "–"},
                    {"day": SOON.isoformat(), "time": "09:30", "place": "ศกร.น้ำพอง",
                     "purpose": ""}),
    "note": ("notes", {"text": "โทรคุยกับแม่แล้ว"}, {"บันทึกภายใน": "โทรคุยกับแม่แล้ว"},
             {"text": "โทรคุยกับแม่แล้ว"}),
}


@pytest.mark.parametrize("name", list(RECORDS))
def test_a_record_is_shown_in_words_and_saved_only_once_confirmed(console, session, a_case,
                                                                  name):
    path, typed, says, keeps = RECORDS[name]
    url = f"/console/cases/{a_case.reference}"
    before = outcome(session, a_case.id)
    before.pop("vias")

    asked = console.post(f"{url}/{path}", typed)
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert "ยังไม่บันทึกจนกว่าจะกดยืนยันค่ะ" in page
    shown = facts(page)
    for label, value in says.items():
        assert shown[label] == value, (label, shown)
    day = {"service": TODAY, "visit": TODAY, "appointment": SOON}.get(name)
    if day:  # the day in words and the Buddhist era, the empty date as today
        from bot.thai_text import thai_date

        assert thai_date(day) in shown.values()
    assert kept(page) == keeps
    assert 'name="confirm" value="1"' in page and "ย้อนกลับไปแก้ไข" in page
    after = outcome(session, a_case.id)
    after.pop("vias")
    assert after == before  # nothing saved, nothing audited but the reads

    # back: the case page with what was typed in the form, still nothing saved
    back = console.post(f"{url}/back", {**keeps, "back_to": name})
    assert back.status_code == 200
    form = back.get_data(as_text=True).split(f'id="{name}-form"')[1].split("</form>")[0]
    for value in keeps.values():
        if value:
            assert value in form
    assert " autofocus" in form
    after = outcome(session, a_case.id)
    after.pop("vias")
    assert after == before

    done = console.post(f"{url}/{path}", {**keeps, "confirm": "1"})
    assert done.status_code == 302
    after = outcome(session, a_case.id)
    assert len(after["timeline"]) > len(before["timeline"])
    assert [a for a, _d in after["audit"]][len(before["audit"]):] == [f"case.{name}"]


def test_a_record_that_would_be_refused_gets_no_confirmation_page(console, session, a_case):
    url = f"/console/cases/{a_case.reference}"
    refused = console.post(url + "/visits", {"outcome": "found", "visited_on": "1/1/2600",
                                             "note": "ไปบ้านแล้ว"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert 'name="confirm"' not in page and "ไปบ้านแล้ว" in page
    assert session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(
        AuditEntry.action == "case.visit")) == 0

