"""The store's SQLAlchemy Core tables, and ``create_all``/``drop_all``.

Five tables, named with a prefix (``sk_`` by default) so they sit next to a host's own:

``segments``  one row per segment: definition, status, maintained member count,
              what the last successful run computed (as-of, rule hash), when
              membership last changed.
``members``   the current state per (segment, contact): ``member`` and the manual
              flag (``include``/``exclude``). A row exists while the contact is a
              member or carries a manual flag; an excluded contact has a row with
              ``member`` false.
``history``   one row per membership change: added/removed, reason ``rule`` or
              ``manual``, the run that made it (NULL for manual changes), the time.
``runs``      one row per recalculation attempt: as-of ``now``, started/finished,
              rule hash, counts, status (``succeeded``/``failed``), error.
``outbox``    events written in the transaction of the change, delivered later.
``performance``       metrics per segment and period (:mod:`segmentkit.performance`),
``performance_runs``  one row per performance refresh.

Contact keys are stored with a configurable SQLAlchemy type (``BigInteger`` by
default; pass ``sa.String(64)`` for text keys). Segment ids and text keys compare by
code point on every engine (:class:`CodePointString`). Datetimes are stored as naive
UTC and read back as aware UTC (:class:`UTCDateTime`), the same on every backend.

The migrations in ``segmentkit/store/migrations`` create exactly these tables for the
default prefix and key type; ``tests/test_store_migrations.py`` checks they agree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "DEFAULT_TABLES",
    "ID_LENGTH",
    "CodePointString",
    "SegmentId",
    "Tables",
    "UTCDateTime",
    "create_all",
    "drop_all",
    "make_tables",
]

ID_LENGTH = 200  # Segment.id max_length


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes stored as naive UTC (portable across SQLite, MariaDB, PostgreSQL)."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> TypeEngine[Any]:
        # MariaDB/MySQL DATETIME drops fractions unless asked; runs need microseconds.
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import DATETIME

            return cast(TypeEngine[Any], dialect.type_descriptor(DATETIME(fsp=6)))
        return cast(TypeEngine[Any], dialect.type_descriptor(sa.DateTime()))

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the segment store; pass an aware one")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite inside raw text queries
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]


class CodePointString(TypeDecorator[str]):
    """``VARCHAR(length)`` compared by code point on every engine.

    SQLite and PostgreSQL compare text by its bytes; MariaDB/MySQL would take the
    server's case-insensitive collation (``"vip"`` and ``"VIP"`` would be one value),
    so there the column is ``utf8mb4`` with a binary collation that does not pad
    spaces (``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` on MySQL 8.0.17+).
    Used for segment ids and for text contact keys.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int | None = None) -> None:
        super().__init__(length)
        self.length = length

    def load_dialect_impl(self, dialect: Any) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb") and self.length is not None:
            from sqlalchemy.dialects.mysql import VARCHAR

            return cast(
                TypeEngine[Any],
                dialect.type_descriptor(
                    VARCHAR(self.length, charset="utf8mb4", collation=binary_collation(dialect))
                ),
            )
        return cast(TypeEngine[Any], dialect.type_descriptor(sa.String(self.length)))


class SegmentId(CodePointString):
    """Segment ids: ``VARCHAR(200)`` compared by code point (:class:`CodePointString`)."""

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(ID_LENGTH)


def code_point_key(key: TypeEngine[Any]) -> TypeEngine[Any]:
    """A plain ``String(n)`` key type as :class:`CodePointString`; others unchanged."""
    if type(key) in (sa.String, sa.VARCHAR, sa.Unicode) and getattr(key, "collation", None) is None:
        length = getattr(key, "length", None)
        if length is not None:
            return CodePointString(length)
    return key


def binary_collation(dialect: Any) -> str:
    """The utf8mb4 collation comparing by code point without padding, for this server."""
    if getattr(dialect, "is_mariadb", False) or dialect.name == "mariadb":
        return "utf8mb4_nopad_bin"
    version = getattr(dialect, "server_version_info", None) or (0,)
    return "utf8mb4_0900_bin" if tuple(version) >= (8, 0, 17) else "utf8mb4_bin"


# Autoincrementing 64-bit ids; SQLite only autoincrements an INTEGER PRIMARY KEY.
_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


@dataclass(frozen=True, slots=True)
class Tables:
    """One set of store tables in one ``MetaData``."""

    metadata: sa.MetaData
    prefix: str
    key_type: TypeEngine[Any]
    segments: sa.Table
    members: sa.Table
    history: sa.Table
    runs: sa.Table
    outbox: sa.Table
    performance: sa.Table
    performance_runs: sa.Table

    @property
    def all(self) -> tuple[sa.Table, ...]:
        return (
            self.segments,
            self.members,
            self.history,
            self.runs,
            self.outbox,
            self.performance,
            self.performance_runs,
        )


def make_tables(
    prefix: str = "sk_",
    key_type: TypeEngine[Any] | type[TypeEngine[Any]] = sa.BigInteger,
    *,
    metadata: sa.MetaData | None = None,
    schema: str | None = None,
) -> Tables:
    """Build the store tables with table names ``{prefix}segments`` etc.

    ``key_type`` is the type of contact keys (it must compare with the contact
    table's key). ``schema`` puts the tables in a database schema.
    """
    md = metadata if metadata is not None else sa.MetaData(schema=schema)
    key = code_point_key(key_type() if isinstance(key_type, type) else key_type)
    p = prefix
    segments = sa.Table(
        f"{p}segments",
        md,
        sa.Column("id", SegmentId(), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rule", sa.Text(), nullable=True),  # native JSON text of the rule
        sa.Column("rule_hash", sa.String(64), nullable=True),
        sa.Column("relative_time", sa.Boolean(), nullable=False),
        sa.Column("depends_on", sa.Text(), nullable=False),  # JSON list of segment ids
        sa.Column("member_count", sa.BigInteger(), nullable=False),
        sa.Column("last_calculated_at", UTCDateTime(), nullable=True),  # as-of of last run
        sa.Column("calculated_hash", sa.String(64), nullable=True),
        sa.Column("last_run_id", sa.BigInteger(), nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=True),  # last membership change
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("type IN ('dynamic', 'static', 'hybrid')", name=f"{p}segments_type"),
        sa.CheckConstraint(
            "status IN ('active', 'inactive', 'archived')", name=f"{p}segments_status"
        ),
    )
    members = sa.Table(
        f"{p}members",
        md,
        # No foreign key to segments on purpose: PostgreSQL checks one per inserted
        # row (a trigger), which doubled the time of a million-member calculation.
        # Store.delete removes a segment's members itself.
        sa.Column("segment_id", SegmentId(), primary_key=True),
        sa.Column("contact_key", key, primary_key=True, autoincrement=False),
        sa.Column("member", sa.Boolean(), nullable=False),
        sa.Column("manual", sa.String(8), nullable=True),  # 'include' | 'exclude' | NULL
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.CheckConstraint("manual IN ('include', 'exclude')", name=f"{p}members_manual"),
    )
    history = sa.Table(
        f"{p}history",
        md,
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("segment_id", SegmentId(), nullable=False),
        sa.Column("contact_key", key, nullable=False),
        sa.Column("change", sa.String(8), nullable=False),  # 'added' | 'removed'
        sa.Column("reason", sa.String(8), nullable=False),  # 'rule' | 'manual'
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Index(f"{p}history_member", "segment_id", "contact_key", "id"),
        sa.Index(f"{p}history_run", "run_id", "change"),
    )
    runs = sa.Table(
        f"{p}runs",
        md,
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("segment_id", SegmentId(), nullable=False),
        sa.Column("as_of", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("rule_hash", sa.String(64), nullable=True),
        sa.Column("added", sa.BigInteger(), nullable=False),
        sa.Column("removed", sa.BigInteger(), nullable=False),
        sa.Column("member_count", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Index(f"{p}runs_segment", "segment_id", "id"),
    )
    outbox = sa.Table(
        f"{p}outbox",
        md,
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("segment_id", SegmentId(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),  # JSON object
        sa.Column("keys", sa.Text(), nullable=True),  # JSON array of contact keys (batches)
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Index(f"{p}outbox_pending", "delivered_at", "id"),
    )
    # Segment performance per period (segmentkit.performance): one row per config,
    # segment, grain and period start; revenue as an integer of 10**-scale units so
    # every backend stores it exactly.
    performance = sa.Table(
        f"{p}performance",
        md,
        sa.Column("config", sa.String(64), primary_key=True),
        sa.Column("segment_id", SegmentId(), primary_key=True),
        sa.Column("grain", sa.String(8), primary_key=True),
        sa.Column("period_start", UTCDateTime(), primary_key=True),
        sa.Column("period_end", UTCDateTime(), nullable=False),
        sa.Column("label", sa.Date(), nullable=False),  # local date the period starts on
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("config_hash", sa.String(16), nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), nullable=True)
            for name in (
                "members_start",
                "members_end",
                "added",
                "removed",
                "exposed",
                "active",
                "conversions",
                "converting",
                "revenue_units",
                "campaigns",
            )
        ),
        sa.Column("revenue_scale", sa.SmallInteger(), nullable=True),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
    )
    performance_runs = sa.Table(
        f"{p}performance_runs",
        md,
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("config", sa.String(64), nullable=False),
        sa.Column("as_of", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("first_period", UTCDateTime(), nullable=True),
        sa.Column("periods", sa.BigInteger(), nullable=False),
        sa.Column("segments", sa.BigInteger(), nullable=False),
        sa.Column("rows_written", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Index(f"{p}performance_runs_config", "config", "id"),
    )
    return Tables(
        md, prefix, key, segments, members, history, runs, outbox, performance, performance_runs
    )


DEFAULT_TABLES = make_tables()


def create_all(bind: Engine | Connection, tables: Tables | None = None) -> None:
    """Create the store tables that do not exist yet (for tests and quick starts;
    production databases use the shipped Alembic migrations). ``tables`` defaults to
    ``DEFAULT_TABLES``."""
    tables = tables if tables is not None else DEFAULT_TABLES
    tables.metadata.create_all(bind, tables=list(tables.all))


def drop_all(bind: Engine | Connection, tables: Tables | None = None) -> None:
    """Drop the store tables (children first); ``tables`` defaults to ``DEFAULT_TABLES``."""
    tables = tables if tables is not None else DEFAULT_TABLES
    tables.metadata.drop_all(bind, tables=list(tables.all))
