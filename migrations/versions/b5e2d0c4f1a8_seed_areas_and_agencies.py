"""Seed the province's districts and subdistricts (from geothai) and the partner agencies

The province is PROVINCE_CODE (default 40, Khon Kaen). Rows are upserted by code, so running
it for a database that already has some areas adds only what is missing. Agency names come
from migrations/data/agencies.json; phone numbers are to be confirmed with each office.

Revision ID: b5e2d0c4f1a8
Revises: a7c413ecb569
Create Date: 2026-11-27 23:20:00

"""

import json
import os
from pathlib import Path

import geothai
import sqlalchemy as sa
from alembic import op

revision = "b5e2d0c4f1a8"
down_revision = "a7c413ecb569"
branch_labels = None
depends_on = None

DATA = Path(__file__).resolve().parent.parent / "data"

areas = sa.table(
    "areas",
    sa.column("code", sa.String),
    sa.column("level", sa.String),
    sa.column("name_th", sa.String),
    sa.column("name_en", sa.String),
    sa.column("parent_code", sa.String),
)
agencies = sa.table(
    "agencies",
    sa.column("code", sa.String),
    sa.column("name_th", sa.String),
    sa.column("short_name_th", sa.String),
    sa.column("name_en", sa.String),
    sa.column("phone", sa.String),
)


def province_code() -> str:
    try:
        from flask import current_app

        return current_app.config["PROVINCE_CODE"]
    except (ImportError, RuntimeError, KeyError):
        return os.environ.get("PROVINCE_CODE", "40")


def area_rows(code: str) -> list[dict]:
    province = geothai.province(code)
    if province is None:
        raise RuntimeError(f"PROVINCE_CODE={code!r} is not a Thai province code")
    rows = [dict(code=province.code, level="province", name_th=province.name_th,
                 name_en=province.name_en, parent_code=None)]
    for district in geothai.districts(code):
        rows.append(dict(code=district.code, level="district", name_th=district.name_th,
                         name_en=district.name_en, parent_code=province.code))
        for sub in geothai.subdistricts(district.code):
            rows.append(dict(code=sub.code, level="subdistrict", name_th=sub.name_th,
                             name_en=sub.name_en, parent_code=district.code))
    return rows


def upgrade():
    bind = op.get_bind()
    existing = {row[0] for row in bind.execute(sa.select(areas.c.code))}
    new_areas = [row for row in area_rows(province_code()) if row["code"] not in existing]
    if new_areas:
        op.bulk_insert(areas, new_areas)
    known = {row[0] for row in bind.execute(sa.select(agencies.c.code))}
    rows = json.loads((DATA / "agencies.json").read_text(encoding="utf-8"))
    new_agencies = [row for row in rows if row["code"] not in known]
    if new_agencies:
        op.bulk_insert(agencies, new_agencies)


def downgrade():
    op.execute(agencies.delete())
    op.execute(areas.delete().where(areas.c.level == "subdistrict"))
    op.execute(areas.delete().where(areas.c.level == "district"))
    op.execute(areas.delete())
