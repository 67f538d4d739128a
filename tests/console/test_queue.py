"""The case queue: the officer's scope only, masked names, filters and their counts, the
orders and keyset pages, and the audit row of each listing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from models import AuditEntry, Case
from services import workflow
from tests import factories as f

REF = re.compile(r'href="/console/cases/(KK-\d{4}-\d{5})"')


def refs(response) -> list[str]:
    assert response.status_code == 200, response.status_code
    return REF.findall(response.get_data(as_text=True))


@pytest.fixture
def cases(app, session, volunteer):
    """Four cases LEARN of อำเภอน้ำพอง sees, one it does not (another district)."""
    secret = app.config["SECRET_KEY"]
    made = {
        "tonkla": f.report(session, secret, volunteer, name="เด็กชายต้นกล้า ใจดี"),
        "mali": f.report(session, secret, volunteer, name="มะลิ หอมดี", subdistrict=f.WANG_CHAI),
        "young": f.report(session, secret, volunteer, name="น้ำใส ใจงาม", group="early_childhood"),
        "far": f.report(session, secret, volunteer, name="ไกล บ้านไกล", subdistrict=f.CHONNABOT),
    }
    made["young_learn"] = f.report(session, secret, volunteer, name="ข้าวหอม มีสุข")
    return made


def test_the_queue_lists_the_officers_scope_newest_first_with_masked_names(
        console, session, cases):
    response = console.get("/console/cases")
    page = response.get_data(as_text=True)
    shown = refs(response)
    c = cases
    assert shown == [c["young_learn"].reference, c["mali"].reference, c["tonkla"].reference]
    assert c["far"].reference not in page and c["young"].reference not in page  # not ours
    assert "ต้นกล้า จ." in page and "ใจดี" not in page and "หอมดี" not in page
    row = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case.list")
                          .order_by(AuditEntry.id.desc())).first()
    assert row.actor == "learn.np" and row.detail["via"] == "console"
    assert row.detail["references"] == shown


def test_filters_and_their_counts(console, session, cases):
    c = cases
    learn = f.officer(session, agency="LEARN", area="4007", username="learn.other")
    workflow.transition(session, f.actor(learn), c["mali"], "verifying")
    session.execute(sa.update(Case).where(Case.id == c["tonkla"].id).values(
        due_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2)))
    session.commit()

    page = console.get("/console/cases")
    text = page.get_data(as_text=True)
    assert re.search(r"ทั้งหมด <b>3</b>", text)
    assert re.search(r"เลยกำหนด <b>1</b>", text)
    assert re.search(r"ตรวจสอบข้อมูล <b>1</b>", text) and re.search(r"รับเรื่อง <b>2</b>", text)

    assert refs(console.get("/console/cases?stage=verifying")) == [c["mali"].reference]
    assert refs(console.get("/console/cases?overdue=1")) == [c["tonkla"].reference]
    assert refs(console.get("/console/cases?subdistrict=400702")) == [c["mali"].reference]
    assert refs(console.get("/console/cases?district=4007&q=%E0%B8%95%E0%B9%89%E0%B8%99"
                            "%E0%B8%81%E0%B8%A5%E0%B9%89%E0%B8%B2")) == [c["tonkla"].reference]
    typed = c["mali"].reference.replace("KK-", "").replace("-", " ")
    assert refs(console.get("/console/cases", query_string={"q": typed})) == \
        [c["mali"].reference]
    assert refs(console.get("/console/cases?group=early_childhood")) == []
    assert refs(console.get("/console/cases?district=4018")) == []  # not ours: nothing
    # unknown values are ignored, never an error
    assert len(refs(console.get("/console/cases?stage=nope&district=x&sort=';--"))) == 3
    with_counts = console.get("/console/cases?stage=verifying").get_data(as_text=True)
    assert re.search(r"ทั้งหมด <b>3</b>", with_counts)  # a stage chip counts every stage


def test_referred_to_us(app, client, session, cases):
    from tests.console.conftest import Console

    learn = f.officer(session, agency="LEARN", area="4007", username="learn.np")
    social = f.officer(session, agency="SOCIAL", area="40", username="social.kk")
    workflow.refer(session, f.actor(learn), cases["mali"], "SOCIAL", "needs a grant")
    session.commit()
    console = Console(client, social)
    page = console.get("/console/cases")
    assert refs(page) == [cases["mali"].reference]
    assert re.search(r"ส่งต่อมาถึงเรา <b>1</b>", page.get_data(as_text=True))
    assert refs(console.get("/console/cases?referred_to_us=1")) == [cases["mali"].reference]


@pytest.mark.parametrize("sort", ["newest", "oldest", "due_soon", "due_late"])
def test_every_order_pages_by_keyset_without_repeats_or_gaps(
        app, console, session, volunteer, monkeypatch, sort):
    monkeypatch.setattr("handlers.console.pages.PAGE_SIZE", 2)
    secret = app.config["SECRET_KEY"]
    made = [f.report(session, secret, volunteer) for _ in range(5)]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    dues = [now + dt.timedelta(days=3), now + dt.timedelta(days=1), None,
            now + dt.timedelta(days=1), now + dt.timedelta(days=2)]
    for case, due in zip(made, dues, strict=True):
        session.execute(sa.update(Case).where(Case.id == case.id).values(due_at=due))
    session.commit()
    ids = {case.reference: (case.id, due) for case, due in zip(made, dues, strict=True)}

    seen, url = [], f"/console/cases?sort={sort}"
    while url:
        response = console.get(url)
        seen += refs(response)
        found = re.search(r'href="([^"]+)" rel="next"', response.get_data(as_text=True))
        url = found.group(1).replace("&amp;", "&") if found else None
    assert sorted(seen) == sorted(ids) and len(seen) == 5

    def key(ref):
        case_id, due = ids[ref]
        if sort == "newest":
            return -case_id
        if sort == "oldest":
            return case_id
        if sort == "due_soon":
            return (due is None, due or now, case_id)
        return (due is None, -(due or now).timestamp(), -case_id)

    assert seen == sorted(ids, key=key)


def test_a_cursor_that_is_not_ours_starts_again(console, cases):
    response = console.get("/console/cases?sort=due_soon&cursor=bm90LWEtY3Vyc29y")
    assert len(refs(response)) == 3
    assert "หน้าแรก" in response.get_data(as_text=True)


def test_the_queue_needs_no_javascript(console, cases):
    page = console.get("/console/cases").get_data(as_text=True)
    assert '<form method="get" action="/console/cases"' in page
    assert 'type="submit"' in page
