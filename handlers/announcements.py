"""How an announcement reads when it arrives, and what its author hears about it.

`announcement` renders a multicast batch in the batch's language (its recipients were grouped
by language when it was queued): one notice card (bot.flex.notice) saying who it is from, the
officer's text exactly as written (LINE's 5,000 characters fit the card) and a button opening
the document link if there is one; its alt text (the chat list, notifications) repeats the
start of it. The LINE preview an officer confirms is the same `announcement_messages`, so it
arrives exactly as previewed.
"""

from __future__ import annotations

from bot.extensions import db
from bot.flex import flex, notice, uri_button
from bot.i18n import force_locale
from bot.i18n import gettext as _
from bot.messages import text
from bot.outbox import renderer
from handlers.notifications import agency_name
from models import Announcement, LineUser
from services.announcements import progress


def announcement_messages(row: Announcement) -> list[dict]:
    """The message of an announcement in the current locale: one notice card."""
    header = _("Announcement from %(agency)s", agency=agency_name(row.agency_code)
               or _("Samoe"))
    buttons = [uri_button(_("Open the document"), row.link, primary=True)] if row.link else []
    footnote = _("Document: %(link)s", link=row.link) if row.link else None
    card = notice(header, row.text, footnote, buttons)
    return [flex(f"{header}\n{row.text}", card)]


@renderer("announcement")
def announcement(payload: dict, user: LineUser | None) -> list[dict]:
    row = db.session.get(Announcement, payload["announcement_id"])
    with force_locale(payload.get("language") or "th"):
        return announcement_messages(row)


def paused_notice(session, rows: list[Announcement]) -> dict:
    """Said (in a free reply: a push would wait for the same limit) to an officer who wrote or
    approved announcements that LINE's monthly limit holds: how far each got, what happens."""
    lines = []
    for row in rows:
        state = progress(session, row.id)
        lines.append(_("Announcement no. %(id)s is paused: this month's LINE message limit has "
                       "been reached. %(sent)s of %(total)s people have it.", id=row.id,
                       sent=f"{state.sent:,}", total=f"{row.recipients or 0:,}"))
    lines.append(_("The rest is sent by itself when the limit lifts (next month at the "
                   "latest). To stop it, cancel it in the officer console."))
    return text("\n".join(lines))


@renderer("announcement.refused")
def refused(payload: dict, user: LineUser | None) -> list[dict]:
    """The author (and approver): at its send time the month's budget could not carry it."""
    return [text(_("Announcement no. %(id)s was not sent: it needs %(needed)s messages but "
                   "only %(remaining)s are left of this month's LINE messages. Choose a "
                   "smaller area or audience, or send it again next month.",
                   id=payload.get("announcement_id"), needed=f"{payload.get('needed', 0):,}",
                   remaining=f"{payload.get('remaining', 0):,}"))]


@renderer("announcement.finished")
def finished(payload: dict, user: LineUser | None) -> list[dict]:
    """The author: how many it reached."""
    lines = [_("Your announcement (no. %(id)s) has been sent to %(sent)s people.",
               id=payload.get("announcement_id"), sent=payload.get("sent", 0))]
    if payload.get("skipped"):
        lines.append(_("%(count)s people were not sent it because they have blocked Samoe.",
                       count=payload["skipped"]))
    if payload.get("failed"):
        lines.append(_("%(count)s could not be delivered.", count=payload["failed"]))
    return [text("\n".join(lines))]


def register() -> None:
    """The renderers above registered themselves on import."""
