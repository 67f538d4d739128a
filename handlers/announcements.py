"""How an announcement reads when it arrives, and what its author hears about it.

`announcement` renders a multicast batch in the batch's language (its recipients were grouped
by language when it was queued): one notice card (bot.flex.notice) saying who it is from, the
officer's text exactly as written (LINE's 5,000 characters fit the card) and a button opening
the document link if there is one; its alt text (the chat list, notifications) repeats the
start of it. The LINE preview an officer confirms is the same `announcement_messages`, so it
arrives exactly as previewed.
"""

from __future__ import annotations

from flask_babel import force_locale
from flask_babel import gettext as _

from bot.extensions import db
from bot.flex import flex, notice, uri_button
from bot.messages import text
from bot.outbox import renderer
from handlers.notifications import agency_name
from models import Announcement, LineUser


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


def paused_notice(ids: list[int]) -> dict:
    """Said (in a free reply) to an author whose announcements LINE's monthly limit holds."""
    return text(_("Your announcement (no. %(id)s) is paused: this month's LINE message limit "
                  "has been reached. The rest will be sent when the limit lifts.",
                  id=", ".join(str(i) for i in ids)))


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
