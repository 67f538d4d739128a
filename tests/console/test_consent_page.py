"""The guardian's consent on the console's case page: each purpose given or not, "do not
contact the guardian for follow-up" without that purpose, a withdrawal recorded in the console
(who and how), no referral form once sharing has stopped, and a referral cancelled by a
withdrawal refused to the agency it was sent to with the reason, not "not found"."""

from __future__ import annotations

import sqlalchemy as sa

from models import Consent, Referral
from services import workflow
from tests import factories as f
from tests.console.conftest import Console


def test_each_purpose_and_the_do_not_contact_warning(app, console, session, volunteer):
    case = f.report(session, app.config["SECRET_KEY"], volunteer,
                    purposes=("share_with_agencies", "photo"))
    page = console.get(f"/console/cases/{case.reference}").get_data(as_text=True)
    assert "✓ ส่งข้อมูลให้หน่วยงานที่ช่วยเหลือเด็ก" in page
    assert "✓ เก็บรูปถ่ายของน้อง" in page
    assert "✗ ติดต่อครอบครัวเพื่อติดตามผล" in page
    assert "ห้ามติดต่อผู้ปกครองเพื่อติดตามผล" in page
    assert 'id="refer-agency"' in page  # sharing is consented: the case may be referred
    other = f.report(session, app.config["SECRET_KEY"], volunteer)  # all three
    page = console.get(f"/console/cases/{other.reference}").get_data(as_text=True)
    assert "✓ ติดต่อครอบครัวเพื่อติดตามผล" in page
    assert "ห้ามติดต่อผู้ปกครองเพื่อติดตามผล" not in page


def test_a_withdrawal_recorded_in_the_console_says_who_and_how(app, console, session,
                                                               a_case, learn_officer):
    url = f"/console/cases/{a_case.reference}"
    done = console.post(url + "/consent/withdraw", {"reason": "แม่โทรมา", "confirm": "1"})
    assert done.status_code == 302
    record = session.scalar(sa.select(Consent).where(Consent.case_id == a_case.id))
    assert (record.withdrawn_by, record.withdrawal_channel) == ("learn.np", "console")
    page = console.get(url).get_data(as_text=True)
    assert "เจ้าหน้าที่บันทึกในระบบเจ้าหน้าที่ (learn.np)" in page
    assert "✗ ส่งข้อมูลให้หน่วยงานที่ช่วยเหลือเด็ก" in page
    assert 'id="refer-agency"' not in page
    assert "ผู้ปกครองถอนความยินยอมแล้ว: เรื่องนี้ไม่ส่งต่อหน่วยงานอื่นแล้ว" in page


def test_a_cancelled_referral_is_refused_to_its_agency_with_the_reason(app, console, session,
                                                                       a_case, learn_officer):
    social = f.officer(session, agency="SOCIAL", area="40", username="social.kk")
    referral = workflow.refer(session, f.actor(learn_officer), a_case, "SOCIAL", "ทุน")
    session.commit()
    receiver = Console(app.test_client(), social)
    assert receiver.get(f"/console/cases/{a_case.reference}").status_code == 200
    url = f"/console/cases/{a_case.reference}"
    console.post(url + "/consent/withdraw", {"confirm": "1"})
    session.expire_all()
    assert session.get(Referral, referral.id).status == "cancelled"
    for path, data in (("accept", {"confirm": "1"}), ("decline", {"reason": "x"})):
        answer = receiver.post(f"/console/referrals/{referral.id}/{path}", data)
        assert answer.status_code == 409, path
        page = answer.get_data(as_text=True)
        assert "เรื่องส่งต่อนี้ยกเลิกแล้ว" in page and "ผู้ปกครองถอนความยินยอมแล้ว" in page
    assert receiver.get(url).status_code == 404  # the case is no longer theirs to see
    stranger = Console(app.test_client(), f.officer(session, agency="HEALTH", area="4007"))
    assert stranger.post(f"/console/referrals/{referral.id}/accept",
                         {"confirm": "1"}).status_code == 404
    page = console.get(url).get_data(as_text=True)
    assert "ยกเลิก: ผู้ปกครองถอนความยินยอม" in page  # in the case's referrals
    assert "ยกเลิกการส่งต่อ (ถอนความยินยอม)" in page  # and on its timeline
