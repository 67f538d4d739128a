"""Cases: reporting a child, references, routing, duplicates, a reporter's list, link codes.

Every function works in the caller's transaction and never commits. The codes here are those of
DESIGN.md §3 and §7; the words shown for them live in the catalogs. The Thai literals in this
module are name titles to strip when comparing names, never text shown to a user.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from pythainlp.util import normalize as thai_normalize
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import (
    BANGKOK,
    AnonymousReport,
    Area,
    Case,
    CaseCounter,
    CasePhoto,
    Consent,
    LineUser,
    LinkCode,
    TimelineEntry,
    utcnow,
)
from services import deadlines
from services.invitations import code_hash

BE_OFFSET = 543
REFERENCE_PREFIX = "KK"

TARGET_GROUPS = ("early_childhood", "out_of_school")
STAGES = ("received", "verifying", "referred", "in_support", "follow_up", "closed")
SITUATIONS = ("poverty", "disability", "no_birth_registration", "never_enrolled", "dropped_out",
              "family_breakdown", "health", "migrant", "other")
SERVICES = ("school_enrolment", "learn_enrolment", "scholarship", "birth_registration",
            "health_check", "nutrition", "disability_registration", "welfare_grant",
            "ecd_centre_place", "vocational_training", "other")
SEXES = ("male", "female")
BIRTH_PRECISIONS = ("day", "month", "year", "age")
ID_KINDS = ("citizen_id", "g_code", "none")
CONSENT_PURPOSES = ("share_with_agencies", "photo", "follow_up_contact")
TIMELINE_KINDS = ("created", "duplicate_report", "verified", "referred", "accepted", "declined",
                  "service", "visit", "appointment", "status", "reopened", "note", "consent",
                  "link_code", "confirmation", "not_received", "guardian_linked",
                  "guardian_unlinked", "escalated", "consent_withdrawn", "referral_cancelled")

#: Completed years of age accepted in each group, both ends included (a 6-year-old fits both).
AGE_RANGES = {"early_childhood": (0, 6), "out_of_school": (6, 24)}

#: Who owns a new case: the agency, and the level of the area it serves (the subdistrict
#: itself, or its district). Early childhood goes to the local administration (it runs the
#: child development centres); out-of-school children to the district learning-promotion office.
ROUTING: dict[str, tuple[str, str]] = {
    "early_childhood": ("LOCAL", "subdistrict"),
    "out_of_school": ("LEARN", "district"),
}

@dataclass(frozen=True)
class ConsentStatement:
    """The words a guardian hears before consenting (lazy catalog messages): the question,
    the details given on request, and, when the guardian may agree to some purposes only,
    the question asked for each purpose (CONSENT_PURPOSES order)."""

    question: object
    details: object
    purposes: dict[str, object] = field(default_factory=dict)

    def words(self) -> str:
        """Everything that may have been read, in the current language."""
        return " ".join(str(part) for part in (self.question, self.details,
                                               *self.purposes.values()))


#: The consent statements read to the guardian, by version. Change the words only by adding a
#: new version (and making it CONSENT_STATEMENT_VERSION, or PARENT_STATEMENT_VERSION): each
#: consent record names the version its guardian heard, and a guardian's export shows that
#: version's words. Old versions stay here, readable, for the consents recorded under them.
CONSENT_STATEMENTS = {
    # read by the volunteer until 2 Dec 2569: one yes for sharing (and a photo, if attached)
    "2569-1": ConsentStatement(
        _l("(Volunteer, please read this to the guardian first.) Samoe shares the child's "
           "information only with the agencies that help children in Khon Kaen province, so "
           "that the child can learn and get help. Does the guardian agree?"),
        _l("Details: the child's name, age, address, situation and photo are seen only by "
           "officers of the agencies that help the child (education, health, social "
           "development, local government, learning promotion). They are used to help the "
           "child and to follow up, never sold or published. The guardian can ask to see, "
           "correct or delete them, or withdraw consent, at any time."),
    ),
    # read by the volunteer: the three purposes named, all at once or each on its own
    "2569-2": ConsentStatement(
        _l("(Volunteer, please read this to the guardian first.) So that the child can learn "
           "and get help, Samoe asks the guardian's consent to: 1) send the child's "
           "information only to the agencies that help children in Khon Kaen province; "
           "2) keep the child's photo, if one is taken; 3) let officers phone the guardian to "
           "follow up. Does the guardian agree to all three? To agree to some only, tap "
           "\"Some only\"."),
        _l("Details: the child's name, age, address, situation and photo are seen only by "
           "officers of the agencies that help the child (education, health, social "
           "development, local government, learning promotion), never sold or published. "
           "Without consent to the photo, no photo is kept; without consent to follow-up "
           "calls, officers do not phone the guardian to follow up. The guardian can ask to "
           "see, correct or delete the information, or withdraw consent, at any time."),
        {
            "share_with_agencies": _l(
                "1 of 3: send the child's information to the agencies that help children in "
                "Khon Kaen province. Does the guardian agree? (Without this, Samoe keeps "
                "nothing about the child: the report is only counted for the subdistrict.)"),
            "photo": _l("2 of 3: keep the child's photo for the officers. Does the guardian "
                        "agree?"),
            "follow_up_contact": _l("3 of 3: let officers phone the guardian to follow up. "
                                    "Does the guardian agree?"),
        },
    ),
    # read by a parent asking for help for their own child (handlers/flows/parent.py)
    "parent-2569-1": ConsentStatement(
        _l("Samoe shares your child's information only with the agencies that help children "
           "in Khon Kaen province (education, health, social development, local government, "
           "learning promotion), to help your child and follow up. You can see it, correct "
           "it, or withdraw at any time. Do you agree, and send the request?"),
        "",
    ),
}
#: The version the volunteer reads to guardians now.
CONSENT_STATEMENT_VERSION = "2569-2"
#: The version a parent asking for help for their own child reads now.
PARENT_STATEMENT_VERSION = "parent-2569-1"
#: What each version's yes covers: "2569-2" names the three purposes; a parent's request is
#: to be helped and followed up (no photo is taken in that flow). "2569-1" (and a version
#: unknown here) covered sharing, and a photo only when one was attached (`_purposes`).
CONSENTED_BY_YES = {
    "2569-2": CONSENT_PURPOSES,
    "parent-2569-1": ("share_with_agencies", "follow_up_contact"),
}


def consent_statement(version: str | None) -> str | None:
    """The words of consent statement `version` (question, details and per-purpose
    questions) in the current language, or None for a version Samoe does not know."""
    if version not in CONSENT_STATEMENTS:
        return None
    return CONSENT_STATEMENTS[version].words().strip()


LINK_CODE_VALID_FOR = dt.timedelta(days=7)


class CaseError(ValueError):
    """A draft that cannot become a case; `code` says why (e.g. `unknown_subdistrict`)."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


@dataclass
class CaseDraft:
    """What a reporter confirmed. `photo` is (content type, bytes); `consent` is the guardian's
    yes to the statement, `purposes` what it covers (no consent, or no consent to sharing with
    the agencies: only an anonymous count is kept)."""

    target_group: str
    child_name: str
    subdistrict_code: str
    submission_key: str | None = None
    sex: str | None = None
    birth_date: dt.date | None = None
    birth_precision: str | None = None
    id_kind: str = "none"
    id_number: str | None = None
    guardian_name: str | None = None
    guardian_phone: str | None = None
    guardian_relation: str | None = None
    village: str | None = None
    village_no: int | None = None
    situations: list[str] = field(default_factory=list)
    note: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    location_address: str | None = None
    photo: tuple[str, bytes] | None = None
    consent: bool = False
    statement_version: str = CONSENT_STATEMENT_VERSION
    #: the purposes the guardian agreed to (CONSENT_PURPOSES); None: what a yes to
    #: `statement_version` covers (CONSENTED_BY_YES). Without `share_with_agencies` nothing
    #: about the child is kept, as without consent.
    purposes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ReportResult:
    """The outcome of a report: the case made or updated (None when anonymous), and how."""

    case: Case | None
    created: bool
    duplicate: bool
    anonymous: bool


# --------------------------------------------------------------------------------------------
# Names and identity numbers
# --------------------------------------------------------------------------------------------

#: Titles removed before comparing names (longest first).
NAME_TITLES = tuple(sorted((
    "เด็กชาย", "เด็กหญิง", "นางสาว", "ด.ช.", "ด.ญ.", "น.ส.", "ด.ช", "ด.ญ", "ดช.", "ดญ.", "นส.",
    "นาย", "นาง", "น้อง", "ชื่อ", "master", "miss", "mrs.", "mr.", "ms.", "mrs", "mr", "ms",
), key=len, reverse=True))
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_SPACES = re.compile(r"\s+")
# a Thai vowel or mark right after a "title" means the title was the start of a word
_TITLE_FOLLOWERS = re.compile(r"[\u0e30-\u0e3a\u0e45\u0e47-\u0e4e]")
_REPEATED_MARK = re.compile(r"([\u0e31\u0e34-\u0e3a\u0e47-\u0e4e])\1+")


def normalise_name(name: str | None) -> str:
    """A child's name reduced for duplicate detection: NFC, no zero-width characters, no
    titles (ด.ช., เด็กหญิง, น้อง, ...), one space between words, lower case."""
    text = unicodedata.normalize("NFC", name or "").translate(_ZERO_WIDTH)
    text = thai_normalize(text)  # เเ typed for แ, marks in the wrong order
    text = _REPEATED_MARK.sub(r"\1", _SPACES.sub(" ", text).strip().lower())
    changed = True
    while changed:
        changed = False
        for title in NAME_TITLES:
            rest = text[len(title):]
            if text.startswith(title) and rest.strip(" .") and not _TITLE_FOLLOWERS.match(rest):
                if title.isascii() and title[-1].isalpha() and rest[0].isalpha():
                    continue  # "mr" in "mroy" is not a title
                text, changed = rest.lstrip(" ."), True
                break
    return text


def without_titles(name: str | None) -> str:
    """A name as written, without leading titles ("ด.ช. ต้นกล้า ใจดี" → "ต้นกล้า ใจดี"), for
    calling a child "น้อง" and the first name."""
    text = _SPACES.sub(" ", (name or "").translate(_ZERO_WIDTH)).strip()
    changed = True
    while changed:
        changed = False
        for title in NAME_TITLES:
            rest = text[len(title):]
            if text.lower().startswith(title) and rest.strip(" .") \
                    and not _TITLE_FOLLOWERS.match(rest):
                if title.isascii() and title[-1].isalpha() and rest[0].isalpha():
                    continue
                text, changed = rest.lstrip(" ."), True
                break
    return text


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(ch)) if unicodedata.category(ch) == "Nd" else ch
                   for ch in text)


def normalise_id(kind: str, number: str | None) -> str | None:
    """The identity number as stored and hashed: 13 digits, or G and 12 digits; None if none."""
    if kind == "none" or not number:
        return None
    plain = re.sub(r"[^0-9A-Za-z]", "", _ascii_digits(unicodedata.normalize("NFKC", number)))
    return plain.upper() if plain else None


def id_hash(secret: str, kind: str, number: str | None) -> str | None:
    """Keyed HMAC-SHA256 of the normalised identity number (None without one)."""
    plain = normalise_id(kind, number)
    if plain is None:
        return None
    return hmac.new(secret.encode(), plain.encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------------------------
# Ages, routing, references
# --------------------------------------------------------------------------------------------


def age_on(birth_date: dt.date, today: dt.date) -> int:
    """Completed years of age on `today` (negative for a date in the future)."""
    years = today.year - birth_date.year
    if (today.month, today.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def check_age(group: str, birth_date: dt.date | None, today: dt.date) -> str | None:
    """None when the age fits the group (or is unknown), else `too_young` or `too_old`."""
    if birth_date is None:
        return None
    low, high = AGE_RANGES[group]
    age = age_on(birth_date, today)
    if age < low:
        return "too_young"
    if age > high:
        return "too_old"
    return None


def route(session: Session, group: str, subdistrict_code: str) -> tuple[str, str]:
    """The owner of a new case: (agency code, area code), by the ROUTING table."""
    if group not in ROUTING:
        raise CaseError("unknown_group", repr(group))
    place = session.get(Area, subdistrict_code or "")
    if place is None or place.level != "subdistrict":
        raise CaseError("unknown_subdistrict", repr(subdistrict_code))
    agency, level = ROUTING[group]
    return agency, place.code if level == "subdistrict" else place.parent_code


def _insert(session: Session, model):
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)


def next_reference(session: Session, now: dt.datetime | None = None) -> str:
    """The next reference of the Buddhist-era year of `now` in Bangkok, e.g. KK-2569-00042.

    The counter row is locked by the UPDATE until the caller's transaction ends, so two
    creators never get the same number (and a rolled-back creation gives its number back)."""
    year = (now or utcnow()).astimezone(BANGKOK).year + BE_OFFSET
    session.execute(_insert(session, CaseCounter).values(year_be=year, last=0)
                    .on_conflict_do_nothing(index_elements=["year_be"]))
    number = session.execute(
        sa.update(CaseCounter).where(CaseCounter.year_be == year)
        .values(last=CaseCounter.last + 1).returning(CaseCounter.last)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return f"{REFERENCE_PREFIX}-{year}-{number:05d}"


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


#: Longest text accepted per field (the columns' sizes; the chat flows refuse longer answers).
_LIMITS = {"child_name": 200, "guardian_name": 200, "guardian_phone": 20,
           "guardian_relation": 40, "village": 200, "submission_key": 64}


def _validate(draft: CaseDraft) -> None:
    if draft.target_group not in TARGET_GROUPS:
        raise CaseError("unknown_group", repr(draft.target_group))
    if not normalise_name(draft.child_name):
        raise CaseError("no_name")
    if draft.sex not in (None, *SEXES):
        raise CaseError("unknown_sex", repr(draft.sex))
    if draft.birth_precision not in (None, *BIRTH_PRECISIONS):
        raise CaseError("unknown_birth_precision", repr(draft.birth_precision))
    if draft.id_kind not in ID_KINDS:
        raise CaseError("unknown_id_kind", repr(draft.id_kind))
    unknown = [code for code in draft.situations if code not in SITUATIONS]
    if unknown:
        raise CaseError("unknown_situation", ", ".join(map(repr, unknown)))
    unknown = [code for code in draft.purposes or () if code not in CONSENT_PURPOSES]
    if unknown:
        raise CaseError("unknown_purpose", ", ".join(map(repr, unknown)))
    if draft.statement_version not in CONSENT_STATEMENTS:
        raise CaseError("unknown_statement", repr(draft.statement_version))
    for name, limit in _LIMITS.items():
        value = getattr(draft, name)
        if value is not None and len(str(value).strip()) > limit:
            raise CaseError("too_long", name)
    number = normalise_id(draft.id_kind, draft.id_number)
    if number is not None and len(number) > 20:
        raise CaseError("too_long", "id_number")


def find_duplicate(session: Session, secret: str, draft: CaseDraft) -> Case | None:
    """An existing case of the same child: the same identity number, or the same normalised
    name, birth date and subdistrict (unless both have identity numbers and they differ)."""
    hashed = id_hash(secret, draft.id_kind, draft.id_number)
    if hashed is not None:
        found = session.scalar(sa.select(Case).where(Case.id_hash == hashed)
                               .order_by(Case.id).limit(1))
        if found is not None:
            return found
    name = normalise_name(draft.child_name)
    if not name or draft.birth_date is None:
        return None
    statement = sa.select(Case).where(
        Case.child_name_norm == name, Case.birth_date == draft.birth_date,
        Case.subdistrict_code == draft.subdistrict_code)
    if hashed is not None:
        statement = statement.where(Case.id_hash.is_(None))
    return session.scalar(statement.order_by(Case.id).limit(1))


def _village_no(value) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(_ascii_digits(str(value)).strip())
    except ValueError:
        return None


def _purposes(draft: CaseDraft) -> list[str]:
    """The purposes a report's consent covers, in CONSENT_PURPOSES order."""
    if draft.purposes is not None:
        chosen = set(draft.purposes)
    elif draft.statement_version in CONSENTED_BY_YES:
        chosen = set(CONSENTED_BY_YES[draft.statement_version])
    else:  # "2569-1": sharing, and a photo when one was attached
        chosen = {"share_with_agencies"} | ({"photo"} if draft.photo else set())
    return [purpose for purpose in CONSENT_PURPOSES if purpose in chosen]


def _shares(draft: CaseDraft) -> bool:
    """Whether the guardian agreed to the report reaching the agencies at all."""
    return draft.consent and "share_with_agencies" in _purposes(draft)


def _consent(draft: CaseDraft, reporter: LineUser, self_reported: bool,
             now: dt.datetime) -> Consent:
    return Consent(
        guardian_name=_clean(draft.guardian_name), purposes=_purposes(draft),
        statement_version=draft.statement_version,
        channel="line_parent" if self_reported else "line_volunteer",
        recorded_by=reporter.line_user_id, recorded_at=now)


def _photo(draft: CaseDraft, now: dt.datetime) -> CasePhoto | None:
    """The report's photo as a case photo, only when the guardian agreed to photos."""
    if not draft.photo or "photo" not in _purposes(draft):
        return None
    content_type, data = draft.photo
    return CasePhoto(content_type=(content_type or "application/octet-stream")[:100], data=data,
                     size=len(data), created_at=now)


def submit_report(session: Session, secret: str, reporter: LineUser, draft: CaseDraft,
                  now: dt.datetime | None = None) -> ReportResult:
    """Turn a confirmed report into a case, in the caller's transaction.

    The same `submission_key` twice gives the first outcome again (created False). Without
    the guardian's consent to sharing with the agencies only an anonymous count is kept. A
    report of a child who already has a case adds to that case (a `duplicate_report` entry;
    photo, location and other missing facts filled in, the note appended, the new consent
    recorded) instead of opening a second one; if the guardian withdrew consent on that case,
    the withdrawal stands: no consent is added, no photo kept, and the officers in charge are
    told of the new report."""
    now = now or utcnow()
    _validate(draft)
    route(session, draft.target_group, draft.subdistrict_code)  # a known subdistrict
    key = draft.submission_key or None
    if key is not None:
        case = session.scalar(sa.select(Case).where(Case.submission_key == key))
        if case is not None:
            return ReportResult(case, created=False, duplicate=False, anonymous=False)
        if session.scalar(sa.select(AnonymousReport.id)
                          .where(AnonymousReport.submission_key == key)) is not None:
            return ReportResult(None, created=False, duplicate=False, anonymous=True)
    if not _shares(draft):
        session.add(AnonymousReport(subdistrict_code=draft.subdistrict_code,
                                    target_group=draft.target_group, submission_key=key,
                                    created_at=now))
        session.flush()
        return ReportResult(None, created=False, duplicate=False, anonymous=True)
    existing = find_duplicate(session, secret, draft)
    if existing is not None:
        if key is None or not _already_linked(session, existing, key):
            _add_to_existing(session, secret, existing, reporter, draft, now)
        return ReportResult(existing, created=False, duplicate=True, anonymous=False)
    try:
        with session.begin_nested():
            case = _create(session, secret, reporter, draft, now)
    except IntegrityError:
        # the same draft confirmed at the same moment in another transaction, now committed
        case = session.scalar(sa.select(Case).where(Case.submission_key == key)) if key else None
        if case is None:
            raise
        return ReportResult(case, created=False, duplicate=False, anonymous=False)
    return ReportResult(case, created=True, duplicate=False, anonymous=False)


def _already_linked(session: Session, case: Case, key: str) -> bool:
    """Whether the submission with this key was already added to the case as a duplicate."""
    entries = session.scalars(sa.select(TimelineEntry).where(
        TimelineEntry.case_id == case.id, TimelineEntry.kind == "duplicate_report"))
    return any((entry.detail or {}).get("submission_key") == key for entry in entries)


def _create(session: Session, secret: str, reporter: LineUser, draft: CaseDraft,
            now: dt.datetime) -> Case:
    agency, area = route(session, draft.target_group, draft.subdistrict_code)
    subdistrict = session.get(Area, draft.subdistrict_code)
    self_reported = reporter.role == "parent"
    case = Case(
        reference=next_reference(session, now), submission_key=draft.submission_key or None,
        target_group=draft.target_group,
        child_name=_clean(draft.child_name), child_name_norm=normalise_name(draft.child_name),
        sex=draft.sex, birth_date=draft.birth_date,
        birth_precision=draft.birth_precision if draft.birth_date else None,
        id_kind=draft.id_kind if normalise_id(draft.id_kind, draft.id_number) else "none",
        id_number=normalise_id(draft.id_kind, draft.id_number),
        id_hash=id_hash(secret, draft.id_kind, draft.id_number),
        guardian_name=_clean(draft.guardian_name), guardian_phone=draft.guardian_phone or None,
        guardian_relation=draft.guardian_relation or None,
        village=_clean(draft.village), village_no=_village_no(draft.village_no),
        subdistrict_code=subdistrict.code, district_code=subdistrict.parent_code,
        situations=list(dict.fromkeys(draft.situations)), note=_clean(draft.note),
        latitude=draft.latitude, longitude=draft.longitude,
        location_address=_clean(draft.location_address, 500),
        stage="received", owner_agency_code=agency, owner_area_code=area,
        reporter_id=reporter.id, self_reported=self_reported, created_at=now, updated_at=now,
        due_at=now + deadlines.delta(session, agency, "verify"),
    )
    session.add(case)
    case.consents.append(_consent(draft, reporter, self_reported, now))
    photo = _photo(draft, now)
    if photo is not None:
        case.photos.append(photo)
    case.timeline.append(TimelineEntry(
        kind="created", actor=reporter.line_user_id, public=True, at=now,
        detail={"reference": case.reference, "owner_agency_code": agency,
                "owner_area_code": area}))
    case.timeline.append(TimelineEntry(
        kind="consent", actor=reporter.line_user_id, public=False, at=now,
        detail={"purposes": _purposes(draft), "statement_version": draft.statement_version}))
    session.flush()
    return case


_FILLABLE = ("sex", "guardian_name", "guardian_phone", "guardian_relation", "village",
             "village_no", "location_address")


def _add_to_existing(session: Session, secret: str, case: Case, reporter: LineUser,
                     draft: CaseDraft, now: dt.datetime) -> None:
    """Link a second report of the same child to its case, filling what the case lacks.

    A case whose consent was withdrawn stays withdrawn: the new report's consent is not
    recorded as the case's (only noted on the timeline entry) and its photo is not kept; the
    officers in charge are told, to talk with the family. The other facts are filled in as
    usual: the case itself goes on with the agency that owns it."""
    from services.consent import is_withdrawn

    withdrawn = is_withdrawn(session, case)
    filled: list[str] = []
    values = {
        "sex": draft.sex, "guardian_name": _clean(draft.guardian_name),
        "guardian_phone": draft.guardian_phone or None,
        "guardian_relation": draft.guardian_relation or None, "village": _clean(draft.village),
        "village_no": _village_no(draft.village_no),
        "location_address": _clean(draft.location_address, 500),
    }
    for name in _FILLABLE:
        if getattr(case, name) is None and values[name] is not None:
            setattr(case, name, values[name])
            filled.append(name)
    if case.latitude is None and draft.latitude is not None and draft.longitude is not None:
        case.latitude, case.longitude = draft.latitude, draft.longitude
        filled.append("location")
    if case.birth_date is None and draft.birth_date is not None:
        case.birth_date, case.birth_precision = draft.birth_date, draft.birth_precision
        filled.append("birth_date")
    number = normalise_id(draft.id_kind, draft.id_number)
    if case.id_hash is None and number is not None:
        case.id_kind, case.id_number = draft.id_kind, number
        case.id_hash = id_hash(secret, draft.id_kind, draft.id_number)
        filled.append("id_number")
    added = [code for code in dict.fromkeys(draft.situations) if code not in case.situations]
    if added:
        case.situations.extend(added)
        filled.append("situations")
    note = _clean(draft.note)
    if note and note not in (case.note or ""):
        case.note = f"{case.note}\n\n{note}" if case.note else note
        filled.append("note")
    detail = {"submission_key": draft.submission_key or None, "reporter_id": reporter.id,
              "filled": filled}
    if withdrawn:
        detail.update(consent_withdrawn=True, purposes_offered=_purposes(draft),
                      statement_version=draft.statement_version)
    else:
        photo = _photo(draft, now)  # this report's photo, under this report's consent
        if photo is not None and not case.photos:
            case.photos.append(photo)
            filled.append("photo")
        case.consents.append(_consent(draft, reporter, reporter.role == "parent", now))
    case.timeline.append(TimelineEntry(
        kind="duplicate_report", actor=reporter.line_user_id, public=False, at=now,
        detail=detail))
    case.updated_at = now
    session.flush()
    if withdrawn:
        from services.workflow import _tell_officers

        _tell_officers(session, case, case.owner_agency_code, "case.reported_again",
                       consent_withdrawn=True)


def _clean(text: str | None, limit: int | None = None) -> str | None:
    if text is None:
        return None
    text = unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH).strip()[:limit]
    return text or None


# --------------------------------------------------------------------------------------------
# A reporter's cases, timelines, link codes
# --------------------------------------------------------------------------------------------


def cases_reported_by(session: Session, reporter_id: int, page: int = 0,
                      per_page: int = 5) -> tuple[list[Case], bool]:
    """One page of the cases this LINE user reported, newest first, and whether more follow."""
    rows = list(session.scalars(
        sa.select(Case).where(Case.reporter_id == reporter_id)
        .order_by(Case.created_at.desc(), Case.id.desc())
        .offset(max(page, 0) * per_page).limit(per_page + 1)))
    return rows[:per_page], len(rows) > per_page


def get_reported_case(session: Session, reporter_id: int, case_id: int) -> Case | None:
    """The case if this LINE user reported it, else None (others' cases do not exist here)."""
    return session.scalar(sa.select(Case).where(Case.id == case_id,
                                                Case.reporter_id == reporter_id))


def get_reported_case_by_reference(session: Session, reporter_id: int,
                                   reference: str) -> Case | None:
    """The case with this reference if this LINE user reported it, else None."""
    return session.scalar(sa.select(Case).where(Case.reference == reference,
                                                Case.reporter_id == reporter_id))


def public_timeline(session: Session, case: Case) -> list[TimelineEntry]:
    """The entries a parent may see, oldest first (internal notes never)."""
    return list(session.scalars(
        sa.select(TimelineEntry).where(TimelineEntry.case_id == case.id, TimelineEntry.public)
        .order_by(TimelineEntry.at, TimelineEntry.id)))


def issue_link_code(session: Session, secret: str, case: Case, created_by: str,
                    now: dt.datetime | None = None) -> str:
    """A new 6-digit parent link code for the case (single use, 7 days); only its keyed hash
    is stored. Returns the code, to be shown once."""
    now = now or utcnow()
    for _attempt in range(20):
        code = f"{secrets.randbelow(1_000_000):06d}"
        row = LinkCode(case_id=case.id, code_hash=code_hash(secret, code), created_by=created_by,
                       created_at=now, expires_at=now + LINK_CODE_VALID_FOR)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            continue  # this code was issued before: draw another
        session.add(TimelineEntry(case_id=case.id, kind="link_code", actor=created_by,
                                  public=False, at=now,
                                  detail={"expires_at": row.expires_at.isoformat()}))
        return code
    raise CaseError("no_free_code")
