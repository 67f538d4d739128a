"""Stored dashboard figures: one row per area (a province, a district, a subdistrict)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class DashboardSnapshot(Base):
    """The supervisors' dashboard figures of one area as computed at `computed_at`
    (services.dashboard: every case located in the area, the scope of its supervisors and
    administrators), kept so that the page reads one row instead of counting the area's cases.

    Refreshed by the worker's scheduler every few minutes and by `flask dashboard refresh`;
    the page computes them itself only when they are missing or too old. `refreshing_by` and
    `refreshing_until` are the lease of whoever is computing them now: one refresh of an area
    at a time, however many workers and web processes want it."""

    __tablename__ = "dashboard_snapshots"

    area_code: Mapped[str] = mapped_column(sa.String(6), primary_key=True)
    computed_at: Mapped[dt.datetime | None]  # None: never computed yet (only a lease)
    figures: Mapped[str | None] = mapped_column(sa.Text)  # JSON: services.dashboard.Figures
    took_ms: Mapped[int | None]  # how long the computation took
    refreshing_by: Mapped[str | None] = mapped_column(sa.String(80))
    refreshing_until: Mapped[dt.datetime | None]


class PublicSnapshot(Base):
    """The figures /public shows for one day (services.public): counted once per day from a
    fixed cut-off (00:00 in Khon Kaen), then served from here all day, so that comparing the
    page over the day shows nothing (the figures of 12:00 and 12:05 are the same ones).

    `figures` holds the protected tables as JSON; one row per province and day, kept (a
    record of what was published)."""

    __tablename__ = "public_snapshots"

    province_code: Mapped[str] = mapped_column(sa.String(2), primary_key=True)
    day: Mapped[dt.date] = mapped_column(primary_key=True)  # the cut-off's date in Khon Kaen
    cut_off: Mapped[dt.datetime]  # the moment counted up to (00:00 of `day`, as UTC)
    computed_at: Mapped[dt.datetime]
    figures: Mapped[str] = mapped_column(sa.Text)  # JSON: services.public.PublicFigures
