"""A case in the console: personal data masked until revealed (the reveal audited), photo and
location only then, the same 404 for a case outside the scope as for a missing one."""

from __future__ import annotations

import sqlalchemy as sa

from models import AuditEntry, Referral
from tests import factories as f
from tests.console.conftest import Console

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35"
       b"\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")


def actions(session) -> list[tuple[str, dict]]:
    rows = session.execute(sa.select(AuditEntry.action, AuditEntry.detail)
                           .order_by(AuditEntry.id))
    return [(action, detail) for action, detail in rows]


def test_personal_data_is_masked_until_revealed(app, console, session, volunteer):
    case = f.report(session, app.config["SECRET_KEY"], volunteer, name="เด็กชายต้นกล้า ใจดี",
                    id_kind="citizen_id", id_number="1103700012346", latitude=16.7,
                    longitude=102.85, photo=("image/png", PNG))
    url = f"/console/cases/{case.reference}"
    page = console.get(url).get_data(as_text=True)
    assert "ต้นกล้า จ." in page and "ใจดี" not in page
    assert "••••• 2346" in page and "1103700012346" not in page
    assert "••••• 5678" in page and "0812345678" not in page
    assert "บ้านโนน" not in page and "หมู่ที่ 3" not in page  # the village too
    assert "บัวพันธ์ จ." in page  # the guardian, masked the same way
    assert "google.com/maps" not in page and "/photos/" not in page
    assert "แสดงข้อมูล" in page
    assert actions(session)[-1][0] == "case.read"
    assert actions(session)[-1][1]["revealed"] is False

    revealed = console.post(url + "/reveal")
    assert revealed.status_code == 302
    assert [a for a, _ in actions(session)][-1] == "case.reveal"
    page = console.get(url).get_data(as_text=True)
    assert "เด็กชายต้นกล้า ใจดี" in page and "1103700012346" in page
    assert "0812345678" in page and "บ้านโนน หมู่ที่ 3" in page
    assert 'href="https://www.google.com/maps?q=16.7,102.85"' in page
    assert actions(session)[-1][1]["revealed"] is True
    photo_id = session.execute(sa.text("select id from case_photos")).scalar()
    photo_url = f"{url}/photos/{photo_id}"
    assert photo_url in page
    photo = console.get(photo_url)
    assert photo.status_code == 200 and photo.data == PNG and photo.mimetype == "image/png"
    assert photo.headers["Cache-Control"] == "no-store"
    assert actions(session)[-1][0] == "case.photo"

    console.post(url + "/reveal", {"hide": "1"})
    page = console.get(url).get_data(as_text=True)
    assert "1103700012346" not in page
    assert console.get(photo_url).status_code == 404  # hidden again: no photo either


def test_a_case_outside_the_scope_is_the_same_404_as_a_missing_one(
        app, client, session, volunteer):
    far = f.report(session, app.config["SECRET_KEY"], volunteer, subdistrict=f.CHONNABOT)
    other_agency = f.report(session, app.config["SECRET_KEY"], volunteer,
                            group="early_childhood")
    console = Console(client, f.officer(session, agency="LEARN", area="4007",
                                        username="learn.np"))
    missing = console.get("/console/cases/KK-2569-99999")
    assert missing.status_code == 404
    for case in (far, other_agency):
        response = console.get(f"/console/cases/{case.reference}")
        assert response.status_code == 404
        assert response.get_data(as_text=True).replace(case.reference, "KK-2569-99999") \
            == missing.get_data(as_text=True)
        assert console.post(f"/console/cases/{case.reference}/reveal").status_code == 404
        assert console.post(f"/console/cases/{case.reference}/notes",
                            {"text": "x"}).status_code == 404
    assert console.get("/console/cases/not-a-reference").status_code == 404
    assert not [a for a, _ in actions(session) if a in ("case.read", "case.reveal")]


def test_the_reference_may_be_typed_as_people_type_it(console, a_case):
    number = a_case.reference.split("-")[-1].lstrip("0")
    year = a_case.reference.split("-")[1]
    assert console.get(f"/console/cases/{year} {number}").status_code == 200


def test_an_officer_of_another_agency_with_a_referral_sees_but_only_answers(
        app, client, session, a_case, learn_officer):
    from services import workflow

    social = f.officer(session, agency="SOCIAL", area="40", username="social.kk")
    workflow.refer(session, f.actor(learn_officer), a_case, "SOCIAL", "needs a grant")
    session.commit()
    console = Console(client, social)
    page = console.get(f"/console/cases/{a_case.reference}").get_data(as_text=True)
    assert "รับเรื่อง" in page and "needs a grant" in page
    assert "บันทึกความช่วยเหลือ" not in page  # no forms to change a case it does not own
    refused = console.post(f"/console/cases/{a_case.reference}/notes", {"text": "hello"})
    assert refused.status_code == 409
    assert "เฉพาะหน่วยงานที่ดูแลเรื่องนี้เท่านั้นที่แก้ไขได้ค่ะ" in refused.get_data(as_text=True)


def test_the_case_page_in_english(console, a_case):
    console.post("/console/language", {"lang": "en"})
    page = console.get(f"/console/cases/{a_case.reference}").get_data(as_text=True)
    assert "Show personal data" in page and "Timeline" in page and "Case received" in page


def test_who_sees_personal_data_is_one_rule_on_the_page_and_in_exports(
        app, client, session, a_case, learn_officer):
    """The officers of the owning agency and the area's supervisors may show a case's
    personal data and export it in full; an agency with only a referral waiting, and an
    administrator, see it masked in both; once the guardian withdrew consent, nobody."""
    import csv
    import io

    from services import consent, workflow

    url = f"/console/cases/{a_case.reference}"
    workflow.refer(session, f.actor(learn_officer), a_case, "SOCIAL", "needs a grant")
    session.commit()
    accounts = {
        "owner": learn_officer,
        "referred": f.officer(session, agency="SOCIAL", area="40", username="social.kk"),
        "supervisor": f.officer(session, role="supervisor", agency="SOCIAL", area="4007",
                                username="boss.np"),
        "admin": f.officer(session, role="admin", agency="EDU", area="40",
                           username="admin.kk"),
    }

    def what(account) -> tuple[bool, bool, bool]:
        """(the page offers the reveal, the reveal shows the data, the export is in full)"""
        console = Console(app.test_client(), account)
        offered = 'id="reveal"' in console.get(url).get_data(as_text=True)
        answer = console.post(url + "/reveal")
        shown = "1103700012346" in console.get(url).get_data(as_text=True)
        with console.get("/console/exports/cases.csv") as response:
            rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True)
                                                   .lstrip("\ufeff"))))
        [row] = [r for r in rows if r["เลขที่เรื่อง"] == a_case.reference]
        full = row["ข้อมูลส่วนบุคคล"] == "แสดง"
        assert full == ("1103700012346" in str(row))
        assert answer.status_code == (302 if offered else 403)
        return offered, shown, full

    assert {name: what(a) for name, a in accounts.items()} == {
        "owner": (True, True, True), "referred": (False, False, False),
        "supervisor": (True, True, True), "admin": (False, False, False)}
    refused = Console(app.test_client(), accounts["referred"]).post(url + "/reveal")
    assert "รับเรื่องแล้ว" in Console(app.test_client(), accounts["referred"]).get(
        url).get_data(as_text=True)
    assert refused.status_code == 403
    reveals = [d for a, d in actions(session) if a == "case.reveal"]
    assert len(reveals) == 2  # the owner's and the supervisor's; a refusal is no reveal

    # after the answer, the agency that took the case is its owner
    referral = session.scalar(sa.select(sa.func.max(Referral.id)))
    Console(app.test_client(), accounts["referred"]).post(
        f"/console/referrals/{referral}/accept", {"confirm": "1"})
    assert what(accounts["referred"]) == (True, True, True)

    # the guardian withdrew consent: nobody, on the page or in a file
    session.expire_all()  # the case changed owner in the app
    consent.withdraw(session, f.actor(accounts["referred"]), a_case, "by phone")
    session.commit()
    for name in ("referred", "supervisor"):
        assert what(accounts[name]) == (False, False, False), name
    page = Console(app.test_client(), accounts["supervisor"]).get(url).get_data(as_text=True)
    assert "ผู้ปกครองถอนความยินยอมแล้ว" in page

