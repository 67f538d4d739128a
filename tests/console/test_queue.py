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


# -- the counts of the group, district and subdistrict options ---------------------------------

SELECT = re.compile(r'<select name="(\w+)"[^>]*>(.*?)</select>', re.S)
OPTION = re.compile(r'<option value="(\w+)"[^>]*>[^<(]*?(?: \(([^)]*)\))?</option>')


def option_counts(response) -> dict[str, dict[str, str | None]]:
    """Each select of the filters: option value -> the count it shows (None: no count)."""
    page = response.get_data(as_text=True)
    return {name: {value: count or None for value, count in OPTION.findall(body)}
            for name, body in SELECT.findall(page) if name in ("group", "district",
                                                                "subdistrict", "stage")}


def check_each_option_lists_as_many_as_it_says(console, query: dict) -> None:
    """Every option's count is the number of cases the queue lists with it chosen."""
    shown = option_counts(console.get("/console/cases", query_string=query))
    for name in ("group", "district", "subdistrict"):
        for value, count in shown[name].items():
            chosen = {**query, name: value}
            if name == "district":
                chosen.pop("subdistrict", None)
            listed = refs(console.get("/console/cases", query_string=chosen))
            assert count == f"{len(listed):,}", (query, name, value, count, listed)


def test_the_options_say_how_many_cases_each_would_list(app, client, session, cases):
    from tests.console.conftest import Console

    c = cases
    learn = f.officer(session, agency="LEARN", area="4007", username="learn.np")
    workflow.transition(session, f.actor(learn), c["mali"], "verifying")
    session.commit()
    boss = Console(client, f.officer(session, role="supervisor", agency="EDU", area="4007",
                                     username="boss.np"))
    shown = option_counts(boss.get("/console/cases"))
    assert shown["group"] == {"early_childhood": "1", "out_of_school": "3"}
    assert shown["district"] == {"4007": "4"}
    assert shown["subdistrict"]["400701"] == "3" and shown["subdistrict"]["400702"] == "1"
    assert set(shown["subdistrict"].values()) == {"0", "1", "3"}
    assert shown["stage"]["received"] == "3" and shown["stage"]["verifying"] == "1"
    page = boss.get("/console/cases").get_data(as_text=True)
    assert "เด็กเล็ก 0-6 ปี (1)</option>" in page and "น้ำพอง (3)</option>" in page

    # the group filter finds its case; the options count with it, their own filter aside
    assert refs(boss.get("/console/cases?group=early_childhood")) == [c["young"].reference]
    chosen = option_counts(boss.get("/console/cases?group=early_childhood"))
    assert chosen["group"] == {"early_childhood": "1", "out_of_school": "3"}
    assert chosen["district"] == {"4007": "1"} and chosen["subdistrict"]["400701"] == "1"
    assert chosen["subdistrict"]["400702"] == "0"

    for query in ({}, {"group": "out_of_school"}, {"stage": "received"},
                  {"district": "4007", "subdistrict": "400702"}, {"q": "ใจ"},
                  {"q": c["mali"].reference}, {"q": "ไม่มีชื่อนี้"}):
        check_each_option_lists_as_many_as_it_says(boss, query)
    # a search counts the options from the matches (one read): the same figures
    searched = option_counts(boss.get("/console/cases", query_string={"q": "ใจ"}))
    assert searched["group"] == {"early_childhood": "1", "out_of_school": "1"}  # ใจดี, ใจงาม
    assert searched["subdistrict"]["400701"] == "2" and searched["subdistrict"]["400702"] == "0"

    # a province's supervisor: every district, with the other filters as they are
    province = Console(app.test_client(), f.officer(session, role="supervisor", agency="EDU",
                                                    area="40", username="boss.kk"))
    districts = option_counts(province.get("/console/cases"))["district"]
    assert len(districts) == 26 and districts["4007"] == "4" and districts["4018"] == "1"
    assert option_counts(province.get("/console/cases?group=early_childhood"))[
        "district"]["4018"] == "0"
    check_each_option_lists_as_many_as_it_says(province, {"stage": "received"})
    # an officer: the scope's own counts (LEARN's cases of its district)
    mine = option_counts(Console(app.test_client(), learn).get("/console/cases"))
    assert mine["group"] == {"early_childhood": "0", "out_of_school": "3"}


def test_option_counts_only_when_they_are_exact_and_cheap(app, console, session, cases,
                                                          monkeypatch):
    """The lists count from one read of the officer's scope when it holds at most
    SCOPE_READ cases (or of a name's matches, at most COUNT_CAP): never a guess."""
    from handlers.console import listing

    monkeypatch.setattr(listing, "SCOPE_READ", 3)  # LEARN's three cases: read whole
    shown = option_counts(console.get("/console/cases?stage=received"))
    assert shown["group"]["out_of_school"] == "3"
    assert shown["subdistrict"] == {**{code: "0" for code in shown["subdistrict"]},
                                    "400701": "2", "400702": "1"}
    monkeypatch.setattr(listing, "SCOPE_READ", 2)  # one more than may be read: no counts
    response = console.get("/console/cases?stage=received")
    shown = option_counts(response)
    assert {count for select in ("group", "district", "subdistrict")
            for count in shown[select].values()} == {None}
    page = response.get_data(as_text=True)
    assert 'id="no-option-counts"' in page and re.search(r"ทั้งหมด <b>3</b>", page)
    # a name searched counts its matches, up to the chips' cap
    searched = option_counts(console.get("/console/cases", query_string={"q": "ดี"}))
    assert searched["group"] == {"early_childhood": "0", "out_of_school": "2"}  # ใจดี, หอมดี
    monkeypatch.setattr(listing, "COUNT_CAP", 1)
    searched = option_counts(console.get("/console/cases", query_string={"q": "ดี"}))
    assert set(searched["group"].values()) == {None}
