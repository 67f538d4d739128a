"""Finding districts and subdistricts of the province from what people type.

The Thai literals here are vocabulary to match (name prefixes), never text shown to a user.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import Area

_PREFIXES = re.compile(r"^(อำเภอ|อ\.|อ\s|ตำบล|ต\.|ต\s|เขต|แขวง)\s*")
_MUEANG = "เมือง"


def _plain(name: str) -> str:
    name = re.sub(r"\s+", "", name.strip().lower())
    return _PREFIXES.sub("", name)


def districts(session: Session, province: str) -> list[Area]:
    """The province's districts, by code."""
    return list(session.scalars(
        sa.select(Area).where(Area.level == "district", Area.parent_code == province)
        .order_by(Area.code)))


def subdistricts(session: Session, district: str) -> list[Area]:
    """A district's subdistricts, by code."""
    return list(session.scalars(
        sa.select(Area).where(Area.level == "subdistrict", Area.parent_code == district)
        .order_by(Area.code)))


def match_name(areas: list[Area], typed: str) -> list[Area]:
    """Areas whose Thai or English name is what was typed (district and subdistrict prefixes
    and spaces ignored; "Mueang" is the capital district), else those starting with it."""
    wanted = _plain(typed)
    if not wanted:
        return []
    exact = [a for a in areas if wanted in (_plain(a.name_th), _plain(a.name_en))]
    if exact:
        return exact
    if wanted == _MUEANG:
        return [a for a in areas if _plain(a.name_th).startswith(_MUEANG)]
    return [a for a in areas if _plain(a.name_th).startswith(wanted)
            or _plain(a.name_en).startswith(wanted)]
