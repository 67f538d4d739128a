"""QUIET_HOURS: when reminders, digests and scheduled announcements wait (DESIGN.md §7).

`QUIET_HOURS` is a local (Asia/Bangkok) window such as `20:00-07:00` (the default); empty turns
it off. Only outbox rows marked `quiet` wait; replies, parent updates and push fallbacks never
do. A window may wrap past midnight.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from models import BANGKOK

_WINDOW = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*-\s*(\d{1,2})[:.](\d{2})\s*$")


@dataclass(frozen=True)
class QuietHours:
    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str | None) -> QuietHours | None:
        """`20:00-07:00` (or `20.00-07.00`); None when empty; ValueError when unreadable."""
        if text is None or not text.strip():
            return None
        match = _WINDOW.match(text)
        if not match:
            raise ValueError(f"QUIET_HOURS must look like 20:00-07:00, not {text!r}")
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"QUIET_HOURS has an impossible time: {text!r}")
        if (h1, m1) == (h2, m2):
            raise ValueError(f"QUIET_HOURS starts and ends at the same time: {text!r}")
        return cls(dt.time(h1, m1), dt.time(h2, m2))

    def _period(self, moment: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
        """The quiet period (start, end) that contains `moment`, or None."""
        local = moment.astimezone(BANGKOK)
        for offset in (0, -1):
            day = local.date() + dt.timedelta(days=offset)
            start = dt.datetime.combine(day, self.start, tzinfo=BANGKOK)
            end_day = day if self.end > self.start else day + dt.timedelta(days=1)
            end = dt.datetime.combine(end_day, self.end, tzinfo=BANGKOK)
            if start <= local < end:
                return start, end
        return None

    def contains(self, moment: dt.datetime) -> bool:
        return self._period(moment) is not None

    def end_after(self, moment: dt.datetime) -> dt.datetime:
        """When the quiet period containing `moment` ends (`moment` itself if not quiet)."""
        period = self._period(moment)
        return period[1] if period else moment

    def started_at(self, moment: dt.datetime) -> dt.datetime | None:
        """When the quiet period containing `moment` began (None if not quiet)."""
        period = self._period(moment)
        return period[0] if period else None


def from_config(config) -> QuietHours | None:
    return QuietHours.parse(config.get("QUIET_HOURS"))
