"""Declarative base, naming convention and column types shared by every model."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, registry

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: The province's clock: dates shown to people, the reference year, the quota month.
BANGKOK = zoneinfo.ZoneInfo("Asia/Bangkok")


def utcnow() -> dt.datetime:
    """Return the current time as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp stored as naive UTC on every database and read back as aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


def only_on(index: sa.Index, dialect: str) -> sa.Index:
    """An index that exists on one database only (a PostgreSQL GIN index, say): created there
    alone, and skipped elsewhere when models and migrations are compared (`for_dialect`)."""
    index.info["only_on"] = dialect
    return index.ddl_if(dialect=dialect)


def for_dialect(obj, dialect: str) -> bool:
    """Whether a schema object of the models belongs on a database of this dialect."""
    return getattr(obj, "info", {}).get("only_on", dialect) == dialect


class Base(DeclarativeBase):
    """Base class of every Samoe model."""

    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={dt.datetime: UTCDateTime()},
    )
