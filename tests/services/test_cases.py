"""services.cases on each database: references, routing, ages, reporting (new, repeated,
duplicate, anonymous), a reporter's list and link codes."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time

import pytest
import sqlalchemy as sa

from bot.extensions import db
from models import (
    AnonymousReport,
    Base,
    Case,
    CaseCounter,
    CasePhoto,
    Consent,
    LineUser,
    LinkCode,
    TimelineEntry,
)
from services import cases
from services.invitations import code_hash

NAM_PHONG = "400701"  # ตำบลน้ำพอง, อำเภอน้ำพอง (4007)
WANG_CHAI = "400702"
NOW = dt.datetime(2026, 6, 15, 3, 0, tzinfo=dt.UTC)
PHOTO = ("image/jpeg", b"\xff\xd8\xff\xe0" + b"photo" * 100)


def _secret(app) -> str:
    return app.config["SECRET_KEY"]


def _user(session, name: str, role: str = "volunteer") -> int:
    user = LineUser(line_user_id="U" + name.ljust(32, "0"), role=role, full_name=name,
                    subdistrict_code=NAM_PHONG)
    session.add(user)
    session.commit()
    return user.id


@pytest.fixture
def volunteer(session) -> int:
    return _user(session, "a")


@pytest.fixture
def other_volunteer(session) -> int:
    return _user(session, "b")


def _draft(**changes) -> cases.CaseDraft:
    values = dict(
        target_group="early_childhood", child_name="ด.ช. สมชาย ใจดี", sex="male",
        birth_date=dt.date(2023, 3, 1), birth_precision="day", id_kind="none", id_number=None,
        guardian_name="บัวพันธ์ ใจดี", guardian_phone="0812345678", guardian_relation="mother",
        village="บ้านโนนสวรรค์", village_no=3, subdistrict_code=NAM_PHONG,
        situations=["poverty"], note=None, latitude=None, longitude=None,
        location_address=None, photo=None, consent=True, submission_key="key-1",
    )
    values.update(changes)
    return cases.CaseDraft(**values)


def _submit(app, user_id: int, draft: cases.CaseDraft, now=NOW) -> tuple[cases.ReportResult, int]:
    """Submit in one committed transaction; return the result and the case id."""
    with app.app_context():
        reporter = db.session.get(LineUser, user_id)
        result = cases.submit_report(db.session, _secret(app), reporter, draft, now=now)
        case_id = result.case.id if result.case else None
        db.session.commit()
        db.session.remove()
    return result, case_id


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


# --------------------------------------------------------------------------------------------
# Names, ages, routing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", [
    "ด.ช. สมชาย ใจดี", "เด็กชายสมชาย ใจดี", "ด.ช.สมชาย  ใจดี", "  สมชาย\u200b ใจดี ",
    "น้องสมชาย ใจดี", "เด็กชาย น้อง สมชาย ใจดี", "สมชาย\tใจดี",
])
def test_names_are_compared_without_titles_spaces_or_invisible_characters(typed):
    assert cases.normalise_name(typed) == "สมชาย ใจดี"


def test_a_title_is_kept_when_it_is_the_start_of_a_word_or_the_whole_name():
    assert cases.normalise_name("นายิกา") == "นายิกา"  # a name beginning with นาย
    assert cases.normalise_name("น้อง") == "น้อง"
    assert cases.normalise_name("นางสาวมาลี") == "มาลี"
    assert cases.normalise_name("Somchai  JAIDEE") == "somchai jaidee"


def test_identity_numbers_are_normalised_before_hashing():
    assert cases.normalise_id("citizen_id", "๑-๑๐๓๗-๐๐๑๒๓-๔๕-๖") == "1103700123456"
    assert cases.normalise_id("g_code", "g 1234 5678 9012") == "G123456789012"
    assert cases.normalise_id("none", "123") is None
    assert (cases.id_hash("k", "citizen_id", "1 1037 00123 45 6")
            == cases.id_hash("k", "citizen_id", "1-1037-00123-45-6"))
    assert cases.id_hash("k", "citizen_id", "1103700123456") != cases.id_hash(
        "other", "citizen_id", "1103700123456")


def test_age_checks_per_group():
    today = dt.date(2026, 6, 15)
    six = dt.date(2020, 1, 1)
    assert cases.check_age("early_childhood", six, today) is None  # a 6-year-old fits both
    assert cases.check_age("out_of_school", six, today) is None
    assert cases.check_age("early_childhood", dt.date(2019, 6, 15), today) == "too_old"  # 7
    assert cases.check_age("early_childhood", dt.date(2019, 6, 16), today) is None  # 6 still
    assert cases.check_age("early_childhood", dt.date(2026, 6, 15), today) is None  # newborn
    assert cases.check_age("out_of_school", dt.date(2001, 6, 15), today) == "too_old"  # 25
    assert cases.check_age("out_of_school", dt.date(2001, 6, 16), today) is None  # 24
    assert cases.check_age("out_of_school", dt.date(2021, 1, 1), today) == "too_young"  # 5
    assert cases.check_age("out_of_school", None, today) is None
    assert cases.age_on(dt.date(2020, 2, 29), dt.date(2021, 2, 28)) == 0
    assert cases.age_on(dt.date(2020, 2, 29), dt.date(2021, 3, 1)) == 1
    assert cases.AGE_RANGES == {"early_childhood": (0, 6), "out_of_school": (6, 24)}


def test_routing_for_each_group(app):
    with app.app_context():
        assert cases.route(db.session, "early_childhood", NAM_PHONG) == ("LOCAL", NAM_PHONG)
        assert cases.route(db.session, "out_of_school", NAM_PHONG) == ("LEARN", "4007")
        assert cases.route(db.session, "out_of_school", "400101") == ("LEARN", "4001")
        for group, place in (("early_childhood", "4007"), ("early_childhood", "999999"),
                             ("adults", NAM_PHONG)):
            with pytest.raises(cases.CaseError):
                cases.route(db.session, group, place)
        db.session.remove()


def test_code_lists_follow_the_design():
    assert cases.STAGES == ("received", "verifying", "referred", "in_support", "follow_up",
                            "closed")
    assert "dropped_out" in cases.SITUATIONS and len(cases.SITUATIONS) == 9
    assert "ecd_centre_place" in cases.SERVICES and len(cases.SERVICES) == 11


# --------------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------------


def test_references_count_per_buddhist_era_year_in_bangkok(app, session):
    with app.app_context():
        first = cases.next_reference(db.session, NOW)
        second = cases.next_reference(db.session, NOW)
        # 31 December 17:30 UTC is already 1 January in Bangkok: a new year, a new count
        new_year = cases.next_reference(db.session, dt.datetime(2026, 12, 31, 17, 30,
                                                                tzinfo=dt.UTC))
        old_year = cases.next_reference(db.session, dt.datetime(2026, 12, 31, 16, 59,
                                                                tzinfo=dt.UTC))
        db.session.commit()
        db.session.remove()
    assert (first, second, new_year, old_year) == (
        "KK-2569-00001", "KK-2569-00002", "KK-2570-00001", "KK-2569-00003")
    assert re.fullmatch(r"KK-\d{4}-\d{5}", first)
    assert dict(session.execute(sa.select(CaseCounter.year_be, CaseCounter.last)).all()) == {
        2569: 3, 2570: 1}


def test_a_rolled_back_reference_is_given_again(app):
    with app.app_context():
        assert cases.next_reference(db.session, NOW) == "KK-2569-00001"
        db.session.rollback()
        assert cases.next_reference(db.session, NOW) == "KK-2569-00001"
        db.session.commit()
        db.session.remove()


def test_concurrent_creators_never_get_the_same_number(app):
    got: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def creator():
        try:
            with app.app_context():
                start.wait()
                for _ in range(10):
                    reference = cases.next_reference(db.session, NOW)
                    db.session.commit()
                    got.append(reference)
                db.session.remove()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=creator) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(got) == [f"KK-2569-{n:05d}" for n in range(1, 41)]


def test_a_second_creator_waits_for_the_first_to_finish(app):
    """Two open transactions: the second blocks on the counter until the first commits, then
    gets the next number (never the same one)."""
    second: list[str] = []

    def later():
        with app.app_context():
            second.append(cases.next_reference(db.session, NOW))
            db.session.commit()
            db.session.remove()

    with app.app_context():
        # the year row exists before the race, so the second creator's wait is on the update
        cases.next_reference(db.session, NOW)
        db.session.commit()
        first = cases.next_reference(db.session, NOW)
        thread = threading.Thread(target=later)
        thread.start()
        time.sleep(0.5)
        assert second == []  # still waiting for our transaction
        db.session.commit()
        db.session.remove()
    thread.join(30)
    assert (first, second) == ("KK-2569-00002", ["KK-2569-00003"])


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def test_a_report_creates_the_case_with_consent_photo_and_timeline(app, session, volunteer):
    draft = _draft(id_kind="citizen_id", id_number="1-1037-00123-45-6", photo=PHOTO,
                   situations=["poverty", "health", "poverty"], note="พ่อแม่ไปทำงานต่างจังหวัด",
                   latitude=16.7, longitude=102.85, location_address="น้ำพอง ขอนแก่น")
    result, case_id = _submit(app, volunteer, draft)
    assert (result.created, result.duplicate, result.anonymous) == (True, False, False)
    case = session.get(Case, case_id)
    assert case.reference == "KK-2569-00001"
    assert (case.target_group, case.stage) == ("early_childhood", "received")
    assert (case.owner_agency_code, case.owner_area_code) == ("LOCAL", NAM_PHONG)
    assert (case.subdistrict_code, case.district_code) == (NAM_PHONG, "4007")
    assert (case.child_name, case.child_name_norm) == ("ด.ช. สมชาย ใจดี", "สมชาย ใจดี")
    assert case.birth_date == dt.date(2023, 3, 1) and case.birth_precision == "day"
    assert (case.id_kind, case.id_number) == ("citizen_id", "1103700123456")
    assert case.id_hash == cases.id_hash(_secret(app), "citizen_id", "1103700123456")
    assert "1103700123456" not in case.id_hash
    assert case.situations == ["poverty", "health"]
    assert (case.latitude, case.longitude) == (16.7, 102.85)
    assert case.reporter_id == volunteer and case.self_reported is False
    assert case.submission_key == "key-1"
    assert case.created_at == NOW and case.village_no == 3

    consent = session.scalars(sa.select(Consent)).one()
    assert consent.case_id == case.id
    assert consent.purposes == ["share_with_agencies", "photo", "follow_up_contact"]
    assert consent.statement_version == cases.CONSENT_STATEMENT_VERSION == "2569-2"
    assert (consent.channel, consent.recorded_by) == ("line_volunteer", "U" + "a".ljust(32, "0"))
    assert consent.guardian_name == "บัวพันธ์ ใจดี" and consent.withdrawn_at is None

    photo = session.scalars(sa.select(CasePhoto)).one()
    assert (photo.case_id, photo.content_type, photo.data, photo.size) == (
        case.id, "image/jpeg", PHOTO[1], len(PHOTO[1]))

    entries = session.scalars(sa.select(TimelineEntry).order_by(TimelineEntry.id)).all()
    assert [(e.kind, e.public) for e in entries] == [("created", True), ("consent", False)]
    assert entries[0].detail["reference"] == case.reference
    assert entries[0].actor == consent.recorded_by
    with app.app_context():
        visible = cases.public_timeline(db.session, db.session.get(Case, case_id))
        assert [e.kind for e in visible] == ["created"]
        db.session.remove()


def test_an_out_of_school_report_goes_to_the_district_learning_office(app, session, volunteer):
    draft = _draft(target_group="out_of_school", child_name="นายต้น ศรีสุข",
                   birth_date=dt.date(2011, 1, 1), situations=["dropped_out"])
    _result, case_id = _submit(app, volunteer, draft)
    case = session.get(Case, case_id)
    assert (case.owner_agency_code, case.owner_area_code) == ("LEARN", "4007")
    assert _count(session, CasePhoto) == 0


@pytest.mark.parametrize(("version", "purposes", "photo", "recorded", "photos"), [
    # a yes to the statement read now covers its three purposes
    ("2569-2", None, PHOTO, ["share_with_agencies", "photo", "follow_up_contact"], 1),
    # some only: no photo kept without the photo purpose
    ("2569-2", ("follow_up_contact", "share_with_agencies"), PHOTO,
     ["share_with_agencies", "follow_up_contact"], 0),
    ("2569-2", ("share_with_agencies", "photo"), PHOTO, ["share_with_agencies", "photo"], 1),
    # the statement read until 2569-2: sharing, and photos when one was attached
    ("2569-1", None, PHOTO, ["share_with_agencies", "photo"], 1),
    ("2569-1", None, None, ["share_with_agencies"], 0),
    # a parent asking for help agrees to sharing and follow-up (no photo in that flow)
    ("parent-2569-1", None, None, ["share_with_agencies", "follow_up_contact"], 0),
])
def test_each_purpose_is_recorded_and_no_photo_is_kept_without_it(
        app, session, volunteer, version, purposes, photo, recorded, photos):
    _result, case_id = _submit(app, volunteer, _draft(statement_version=version,
                                                      purposes=purposes, photo=photo))
    consent = session.scalars(sa.select(Consent)).one()
    assert (consent.purposes, consent.statement_version) == (recorded, version)
    assert _count(session, CasePhoto) == photos
    [entry] = session.scalars(sa.select(TimelineEntry).where(TimelineEntry.kind == "consent"))
    assert entry.detail == {"purposes": recorded, "statement_version": version}


def test_without_consent_to_sharing_only_a_count_is_kept(app, session, volunteer):
    result, case_id = _submit(app, volunteer, _draft(purposes=("photo", "follow_up_contact"),
                                                     photo=PHOTO))
    assert (result.anonymous, case_id) == (True, None)
    assert _count(session, Case) == _count(session, Consent) == _count(session, CasePhoto) == 0
    assert _count(session, AnonymousReport) == 1


@pytest.mark.parametrize(("changes", "code"), [
    ({"purposes": ("share_with_agencies", "marketing")}, "unknown_purpose"),
    ({"statement_version": "1999-9"}, "unknown_statement"),
])
def test_unknown_purposes_and_statements_are_refused(app, session, volunteer, changes, code):
    with pytest.raises(cases.CaseError) as refused:
        _submit(app, volunteer, _draft(**changes))
    assert refused.value.code == code


def test_a_parent_reporting_their_own_child_is_self_reported(app, session):
    parent = _user(session, "p", role="parent")
    _result, case_id = _submit(app, parent, _draft())
    assert session.get(Case, case_id).self_reported is True
    assert session.scalars(sa.select(Consent.channel)).one() == "line_parent"


def test_the_same_submission_twice_makes_one_case(app, session, volunteer):
    first, first_id = _submit(app, volunteer, _draft(photo=PHOTO))
    again, again_id = _submit(app, volunteer, _draft(photo=PHOTO))
    assert (first.created, again.created, again.duplicate) == (True, False, False)
    assert first_id == again_id
    assert (_count(session, Case), _count(session, CasePhoto), _count(session, Consent)) == (
        1, 1, 1)
    assert session.scalar(sa.select(CaseCounter.last)) == 1  # no number spent on the repeat


def test_a_duplicate_by_identity_number_updates_the_existing_case(app, session, volunteer,
                                                                   other_volunteer):
    _first, case_id = _submit(app, volunteer, _draft(
        id_kind="citizen_id", id_number="1103700123456", note="ไม่มีรายได้"))
    # another volunteer, another spelling and birth date, the same ID typed differently
    second = _draft(child_name="สมชาย", birth_date=dt.date(2023, 1, 1), id_kind="citizen_id",
                    id_number="1 1037 00123 45 6", submission_key="key-2", photo=PHOTO,
                    latitude=16.7, longitude=102.85, note="ป่วยบ่อย",
                    situations=["poverty", "health"])
    result, dup_id = _submit(app, other_volunteer, second)
    assert (result.created, result.duplicate, result.anonymous) == (False, True, False)
    assert dup_id == case_id
    assert _count(session, Case) == 1
    case = session.get(Case, case_id)
    assert case.child_name == "ด.ช. สมชาย ใจดี"  # what the case had is kept
    assert case.note == "ไม่มีรายได้\n\nป่วยบ่อย"
    assert (case.latitude, case.longitude) == (16.7, 102.85)
    assert case.situations == ["poverty", "health"]
    assert session.scalars(sa.select(CasePhoto.case_id)).all() == [case_id]
    assert _count(session, Consent) == 2  # the second guardian's consent is recorded too
    entry = session.scalars(sa.select(TimelineEntry)
                            .where(TimelineEntry.kind == "duplicate_report")).one()
    assert entry.actor == "U" + "b".ljust(32, "0") and entry.public is False
    assert set(entry.detail["filled"]) >= {"photo", "location", "note", "situations"}
    assert case.reporter_id == volunteer  # the first reporter still owns the report

    # the second volunteer's confirm delivered again: nothing more is added
    repeat, repeat_id = _submit(app, other_volunteer, second)
    assert (repeat.duplicate, repeat_id) == (True, case_id)
    assert _count(session, Consent) == 2
    assert _count(session, TimelineEntry) == 3  # created, consent, duplicate_report
    assert session.get(Case, case_id).note == "ไม่มีรายได้\n\nป่วยบ่อย"


def test_a_duplicate_by_name_birth_date_and_subdistrict(app, session, volunteer):
    _first, case_id = _submit(app, volunteer, _draft(child_name="ด.ช. สมชาย  ใจดี"))
    same = _draft(child_name="เด็กชายสมชาย\u200b ใจดี", submission_key="key-2",
                  guardian_phone=None, village="บ้านใหม่")
    result, dup_id = _submit(app, volunteer, same)
    assert result.duplicate and dup_id == case_id
    assert session.get(Case, case_id).village == "บ้านโนนสวรรค์"  # not overwritten

    # another subdistrict, another birth date: other children
    elsewhere, elsewhere_id = _submit(app, volunteer, _draft(subdistrict_code=WANG_CHAI,
                                                             submission_key="key-3"))
    younger, younger_id = _submit(app, volunteer, _draft(birth_date=dt.date(2024, 3, 1),
                                                         submission_key="key-4"))
    assert elsewhere.created and younger.created
    assert len({case_id, elsewhere_id, younger_id}) == 3


def test_different_identity_numbers_are_different_children(app, session, volunteer):
    _first, first_id = _submit(app, volunteer, _draft(id_kind="citizen_id",
                                                      id_number="1103700123456"))
    result, second_id = _submit(app, volunteer, _draft(id_kind="g_code",
                                                       id_number="G123456789012",
                                                       submission_key="key-2"))
    assert result.created and first_id != second_id
    # a report without a number still finds the first by name, birth date and subdistrict
    found, found_id = _submit(app, volunteer, _draft(submission_key="key-3"))
    assert found.duplicate and found_id == first_id


def test_without_consent_only_an_anonymous_count_is_kept(app, session, volunteer):
    draft = _draft(consent=False, id_kind="citizen_id", id_number="1103700123456",
                   photo=PHOTO, note="บ้านหลังวัด", latitude=16.7, longitude=102.85)
    result, case_id = _submit(app, volunteer, draft)
    assert result == cases.ReportResult(None, created=False, duplicate=False, anonymous=True)
    assert case_id is None
    again, _ = _submit(app, volunteer, draft)  # a double-tapped confirm counts once
    assert again.anonymous
    row = session.scalars(sa.select(AnonymousReport)).one()
    assert (row.subdistrict_code, row.target_group) == (NAM_PHONG, "early_childhood")
    assert set(AnonymousReport.__table__.columns.keys()) == {
        "id", "subdistrict_code", "target_group", "submission_key", "created_at"}
    for model in (Case, CasePhoto, Consent, TimelineEntry, LinkCode, CaseCounter):
        assert _count(session, model) == 0, model.__tablename__
    # nothing said about the child is in any table
    secret_bits = ["สมชาย", "บัวพันธ์", "0812345678", "1103700123456", "หลังวัด", "โนนสวรรค์",
                   "16.7", cases.id_hash(_secret(app), "citizen_id", "1103700123456")]
    for table in Base.metadata.sorted_tables:
        for values in session.execute(sa.select(table)).all():
            text = repr(tuple(values))
            assert not [bit for bit in secret_bits if bit in text], table.name


def test_a_draft_with_unknown_codes_is_refused(app, volunteer):
    with app.app_context():
        reporter = db.session.get(LineUser, volunteer)
        for draft in (_draft(situations=["hungry"]), _draft(target_group="adults"),
                      _draft(subdistrict_code="4007"), _draft(sex="x"), _draft(child_name=" "),
                      _draft(child_name="ก" * 201), _draft(guardian_phone="0" * 21),
                      _draft(id_kind="citizen_id", id_number="1" * 21)):
            with pytest.raises(cases.CaseError):
                cases.submit_report(db.session, _secret(app), reporter, draft, now=NOW)
        db.session.rollback()
        db.session.remove()


# --------------------------------------------------------------------------------------------
# A reporter's cases, link codes
# --------------------------------------------------------------------------------------------


def test_a_reporter_pages_through_their_own_cases_newest_first(app, volunteer,
                                                               other_volunteer):
    mine = []
    for n in range(7):
        _result, case_id = _submit(
            app, volunteer, _draft(child_name=f"เด็ก {n}", submission_key=f"a{n}"),
            now=NOW + dt.timedelta(minutes=n))
        mine.append(case_id)
    _result, theirs = _submit(app, other_volunteer, _draft(child_name="คนอื่น",
                                                           submission_key="b0"))
    with app.app_context():
        page0, more0 = cases.cases_reported_by(db.session, volunteer)
        page1, more1 = cases.cases_reported_by(db.session, volunteer, page=1)
        page2, more2 = cases.cases_reported_by(db.session, volunteer, page=2)
        assert [c.id for c in page0] == mine[::-1][:5] and more0 is True
        assert [c.id for c in page1] == mine[::-1][5:] and more1 is False
        assert (page2, more2) == ([], False)
        three, more = cases.cases_reported_by(db.session, volunteer, page=0, per_page=7)
        assert len(three) == 7 and more is False
        assert [c.id for c in cases.cases_reported_by(db.session, other_volunteer)[0]] == [
            theirs]
        assert cases.get_reported_case(db.session, volunteer, mine[0]).id == mine[0]
        assert cases.get_reported_case(db.session, other_volunteer, mine[0]) is None
        assert cases.get_reported_case(db.session, volunteer, theirs) is None
        assert cases.get_reported_case(db.session, volunteer, 0) is None
        db.session.remove()


def test_a_link_code_is_six_digits_stored_as_a_keyed_hash(app, session, volunteer):
    _result, case_id = _submit(app, volunteer, _draft())
    with app.app_context():
        case = db.session.get(Case, case_id)
        code = cases.issue_link_code(db.session, _secret(app), case, "U" + "a".ljust(32, "0"),
                                     now=NOW)
        other = cases.issue_link_code(db.session, _secret(app), case, "officer1", now=NOW)
        db.session.commit()
        db.session.remove()
    assert re.fullmatch(r"\d{6}", code) and re.fullmatch(r"\d{6}", other)
    rows = session.scalars(sa.select(LinkCode).order_by(LinkCode.id)).all()
    assert [r.code_hash for r in rows] == [code_hash(_secret(app), code),
                                          code_hash(_secret(app), other)]
    assert all(code not in r.code_hash for r in rows)
    first = rows[0]
    assert (first.case_id, first.created_by, first.used_at, first.used_by) == (
        case_id, "U" + "a".ljust(32, "0"), None, None)
    assert first.expires_at - first.created_at == dt.timedelta(days=7)
    entries = session.scalars(sa.select(TimelineEntry)
                              .where(TimelineEntry.kind == "link_code")).all()
    assert len(entries) == 2 and not any(e.public for e in entries)


@pytest.mark.parametrize(("written", "plain"), [
    ("เด็กชายต้นกล้า ใจดี", "ต้นกล้า ใจดี"), ("ด.ญ. ใบบัว  ใจดี", "ใบบัว ใจดี"),
    ("นายิกา ใจดี", "นายิกา ใจดี"), ("Mr. John Smith", "John Smith"), ("นาง", "นาง"), ("", ""),
])
def test_names_lose_their_titles_for_calling_a_child(written, plain):
    assert cases.without_titles(written) == plain


def test_every_consent_statement_version_has_its_words_in_both_languages(app):
    from flask_babel import force_locale

    assert cases.CONSENT_STATEMENT_VERSION in cases.CONSENT_STATEMENTS
    assert cases.consent_statement("1999-unknown") is None
    assert cases.consent_statement(None) is None
    with app.test_request_context():
        for version in cases.CONSENT_STATEMENTS:
            with force_locale("en"):
                english = cases.consent_statement(version)
            with force_locale("th"):
                thai = cases.consent_statement(version)
            if not version.startswith("parent-"):
                assert english.startswith("(Volunteer, please read this")
            assert thai != english and re.search("[\u0e00-\u0e7f]{20}", thai), version
            assert not re.search("[A-Za-z]{4}", thai), version  # every part translated
        # the statement read now names its three purposes and asks each of them on its own
        statement = cases.CONSENT_STATEMENTS[cases.CONSENT_STATEMENT_VERSION]
        assert list(statement.purposes) == list(cases.CONSENT_PURPOSES)
        with force_locale("th"):
            words = cases.consent_statement(cases.CONSENT_STATEMENT_VERSION)
        assert "ข้อ 1 จาก 3" in words and "ข้อ 3 จาก 3" in words
        # the old versions stay readable for the consents recorded under them
        assert {"2569-1", "parent-2569-1"} <= set(cases.CONSENT_STATEMENTS)
        assert set(cases.CONSENTED_BY_YES) <= set(cases.CONSENT_STATEMENTS)
