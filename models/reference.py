"""Reference data: areas of the province and the partner agencies."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Area(Base):
    """A province, district (amphoe) or subdistrict (tambon), by its official code."""

    __tablename__ = "areas"

    code: Mapped[str] = mapped_column(sa.String(6), primary_key=True)
    level: Mapped[str] = mapped_column(sa.String(12))  # province | district | subdistrict
    name_th: Mapped[str] = mapped_column(sa.String(120))
    name_en: Mapped[str] = mapped_column(sa.String(120))
    parent_code: Mapped[str | None] = mapped_column(sa.ForeignKey("areas.code"), index=True)


class Agency(Base):
    """A kind of partner agency of the provincial MOU, by its code (EDU, LEARN, ...)."""

    __tablename__ = "agencies"

    code: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    name_th: Mapped[str] = mapped_column(sa.String(200))
    short_name_th: Mapped[str] = mapped_column(sa.String(80))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    # the agency's own deadlines in days (None: the province's default, services.deadlines)
    verify_days: Mapped[int | None]  # check a report, from the report
    referral_days: Mapped[int | None]  # answer a referral sent to this agency
    first_action_days: Mapped[int | None]  # act on a case after accepting it
    visit_days: Mapped[int | None]  # between home visits while helping or following up
