"""Exports of the case queue (issue #7 point 5): every case of the queue's current filters
(all pages, in the queue's order) as CSV or XLSX, within the officer's scope (services.access).

Personal fields (the child's name, birth date and identity number, the guardian's name and
phone, the village and its number) are written in full by the same rule as the case page's
"show personal data" (services.access.sees_personal_data): for the officers of the agency
that owns the case and the supervisors of the area, unless the guardian withdrew consent.
They are masked the way the queue masks them (first name and an initial, the last four
digits, the village as •••••) for a case only referred to the officer's agency and not yet
accepted, for an `admin` (who manages accounts, not cases), and for every case whose
guardian withdrew consent.
The column "Personal data" says which rows are masked.

Headers and words are Thai whatever the console's language, so a file reads the same for
everyone; each date is given twice: ISO (2026-08-13, a date cell in XLSX) and the Buddhist
era (bot.thai_text.thai_date: day, short Thai month, year 2569). At most EXPORT_MAX_ROWS cases
(default 200,000) go in one file: more is refused with the count, and the officer narrows
the filters. The file is written row by row to a temporary file (constant memory), and each
export is written to the audit log: who, the filters, the format and the row counts (with
and without personal data).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import sqlalchemy as sa
from flask import abort, current_app, render_template, request, send_file

from bot.extensions import db
from bot.i18n import force_locale
from bot.i18n import gettext as _
from bot.thai_text import thai_date
from handlers.notifications import OFFICER_STAGE_WORDS, words
from models import BANGKOK, Agency, Area, Case, Consent, utcnow
from services import access, audit, exports, queue, reminders, workflow
from services.access import Actor, scope_clause
from services.cases import age_on

from . import bp, listing, present
from .pages import queue_filters
from .security import actor, login_required

DEFAULT_MAX_ROWS = 200_000
BATCH = 1000


@bp.app_context_processor
def export_helpers() -> dict:
    def export_args(values: dict) -> dict:
        """The queue's filters for the export links (no page cursor: every page)."""
        return {key: value for key, value in values.items() if value and key != "cursor"}

    return {"export_args": export_args}


def personal_allowed(who: Actor, case: Case, consent_withdrawn: bool) -> bool:
    """Whether the export may hold this case's personal fields in full: the case page's rule
    (services.access.sees_personal_data)."""
    return access.sees_personal_data(who, case, consent_withdrawn)


def headers() -> list[str]:
    return [
        _("Reference"), _("Target group"), _("Stage"), _("Agency in charge"),
        _("Referral waiting for"), _("District"), _("Subdistrict"), _("Village"),
        _("Village no. (Moo)"), _("Child's name"), _("Sex"), _("Age (years)"),
        _("Birth date (ISO)"), _("Birth date (B.E.)"), _("ID type"), _("ID number"),
        _("Guardian's name"), _("Relation"), _("Guardian's phone"), _("Situation"),
        _("Reported (ISO)"), _("Reported (B.E.)"), _("Deadline (ISO)"), _("Deadline (B.E.)"),
        _("Overdue"), _("Escalated"), _("Last change (ISO)"), _("Last change (B.E.)"),
        _("Untouched 30 days"), _("Personal data"),
    ]


def _day(moment: dt.datetime | None) -> dt.date | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(BANGKOK).date()


def _be(day: dt.date | None, precision: str | None = "day") -> str:
    return thai_date(day, precision if precision in ("day", "month", "year") else "year") \
        if day else ""


class Export:
    """The rows of one export, read in batches (constant memory) and counted."""

    def __init__(self, who: Actor, filters: queue.CaseFilters, sort: str, now: dt.datetime):
        self.who, self.filters, self.sort, self.now = who, filters, sort, now
        self.rows = 0
        self.personal_rows = 0
        session = db.session
        self.areas = {a.code: a.name_th for a in session.scalars(
            sa.select(Area).where(Area.level != "province"))}
        self.agencies = {a.code: a.short_name_th for a in session.scalars(sa.select(Agency))}
        self.today = self.now.astimezone(BANGKOK).date()
        self.yes, self.no = _("Yes"), _("No")
        self.shown, self.masked = _("Shown"), _("Masked")
        self.levels = {"district": _("District"), "province": _("Province")}
        self._words: dict = {}

    def word(self, table: dict, code: str | None) -> str:
        """The words for a code (looked up once per export: a large one has many rows)."""
        key = (id(table), code)
        if key not in self._words:
            self._words[key] = words(table, code) if code else ""
        return self._words[key]

    def count(self) -> int:
        statement = sa.select(sa.func.count(Case.id)).where(scope_clause(self.who))
        return int(db.session.scalar(
            listing._filtered(statement, self.who, self.filters, self.now)) or 0)

    def batches(self) -> Iterator[list[Case]]:
        """Every case of the filters, in the queue's order, BATCH at a time."""
        session = db.session
        if self.sort == listing.DEFAULT_SORT:  # newest first: keyset on the id
            base = listing._filtered(sa.select(Case).where(scope_clause(self.who)), self.who,
                                     self.filters, self.now)
            before = None
            while True:
                statement = base if before is None else base.where(Case.id < before)
                rows = list(session.scalars(statement.order_by(Case.id.desc()).limit(BATCH)))
                if not rows:
                    return
                yield rows
                before = rows[-1].id
                if len(rows) < BATCH:
                    return
        else:
            cursor = None
            while True:
                rows, cursor = listing.page(session, self.who, self.filters, self.sort,
                                            cursor, BATCH, self.now)
                if rows:
                    yield rows
                if cursor is None:
                    return

    def __iter__(self) -> Iterator[list]:
        session = db.session
        for batch in self.batches():
            ids = [case.id for case in batch]
            pending = queue.pending_referrals_of(session, ids)
            withdrawn = set(session.scalars(
                sa.select(Consent.case_id).where(Consent.case_id.in_(ids))
                .group_by(Consent.case_id)
                .having(sa.func.count(Consent.withdrawn_at) == sa.func.count(Consent.id))))
            for case in batch:
                allowed = personal_allowed(self.who, case, case.id in withdrawn)
                self.rows += 1
                self.personal_rows += allowed
                yield self.row(case, pending.get(case.id), allowed)
            session.expunge_all()  # a large export keeps one batch in memory

    def row(self, case: Case, referral, allowed: bool) -> list:
        created, due, changed = _day(case.created_at), _day(case.due_at), _day(case.updated_at)
        birth = case.birth_date
        level = reminders.LEVEL_NAMES.get(case.escalation)
        if allowed:
            child, guardian = case.child_name, case.guardian_name
            id_number, phone = case.id_number, case.guardian_phone
            village, village_no = case.village, case.village_no
            birth_iso, birth_be = birth, _be(birth, case.birth_precision)
        else:
            child, guardian = present.mask_name(case.child_name), \
                present.mask_name(case.guardian_name)
            id_number, phone = present.mask_digits(case.id_number), \
                present.mask_digits(case.guardian_phone)
            village = present.MASK if case.village else ""
            village_no = present.MASK if case.village_no is not None else ""
            birth_iso = birth_be = present.MASK if birth else ""
        return [
            case.reference,
            self.word(present.GROUP_WORDS, case.target_group),
            self.word(OFFICER_STAGE_WORDS, case.stage),
            self.agencies.get(case.owner_agency_code, case.owner_agency_code),
            self.agencies.get(referral.to_agency_code, referral.to_agency_code)
            if referral else "",
            self.areas.get(case.district_code, case.district_code),
            self.areas.get(case.subdistrict_code, case.subdistrict_code),
            village, village_no, child,
            self.word(present.SEX_WORDS, case.sex),
            age_on(birth, self.today) if birth else None,
            birth_iso, birth_be,
            self.word(present.ID_KIND_WORDS, case.id_kind),
            id_number or "", guardian or "",
            self.word(present.RELATION_WORDS, case.guardian_relation),
            phone or "",
            ", ".join(self.word(present.SITUATION_WORDS, s) for s in case.situations or []),
            created, _be(created), due, _be(due),
            self.yes if workflow.is_overdue(case, self.now) else self.no,
            self.levels.get(level, self.no) if level else self.no,
            changed, _be(changed),
            self.yes if reminders.is_stale(case, self.now) else self.no,
            self.shown if allowed else self.masked,
        ]


def about_lines(who: Actor, filters: queue.CaseFilters, sort: str, now: dt.datetime,
                count: int) -> list[tuple[str, str]]:
    local = now.astimezone(BANGKOK)
    shown = ", ".join(f"{key}={value}" for key, value in filters.as_detail().items())
    return [
        (_("Exported by"), who.name),
        (_("Exported at"), f"{local:%Y-%m-%d %H:%M} ({thai_date(local.date())})"),
        (_("Filters"), shown or _("None (every case you can see)")),
        (_("Order"), sort),
        (_("Number of cases"), str(count)),
        (_("Personal data"),
         _("Shown in full, as on the case page, only on the cases your agency owns "
           "(supervisors: every case of the area); masked on cases only referred to your "
           "agency and when the guardian withdrew consent.")),
    ]


def max_rows() -> int:
    return int(current_app.config.get("EXPORT_MAX_ROWS", DEFAULT_MAX_ROWS))


@bp.get("/exports/cases.<string:fmt>", endpoint="export")
@login_required
def export(fmt: str):
    """The queue's cases (its filters, every page) as a CSV or XLSX file; audited."""
    if fmt not in exports.FORMATS:
        abort(404)
    who = actor()
    now = utcnow()
    filters, values = queue_filters(request.args)
    with force_locale("th"):
        job = Export(who, filters, values["sort"], now)
        total = job.count()
        if total > max_rows():
            db.session.rollback()
            return render_template(
                "console/error.html", status=422,
                title=_("Too many cases for one file"),
                message=_("%(count)s cases match these filters; one file holds at most "
                          "%(max)s. Please narrow the filters (for example one district or "
                          "one stage) and download again.",
                          count=f"{total:,}", max=f"{max_rows():,}")), 422
        if fmt == "csv":
            out, count = exports.write_csv(headers(), job)
        else:
            out, count = exports.write_xlsx(
                headers(), job, sheet=_("Cases"),
                about=about_lines(who, filters, values["sort"], now, total),
                about_sheet=_("About this file"))
    audit.record(db.session, who, "case.export", format=fmt, filters=filters.as_detail(),
                 sort=values["sort"], rows=count, personal_rows=job.personal_rows,
                 masked_rows=count - job.personal_rows)
    db.session.commit()
    stamp = now.astimezone(BANGKOK).strftime("%Y%m%d-%H%M")
    return send_file(out, mimetype=exports.MIMETYPES[fmt], as_attachment=True,
                     download_name=f"samoe-cases-{stamp}.{fmt}", max_age=0)
