"""One small class per backend (ibis style): create the adversarial tables, load the rows,
and answer "which contact keys does this rule select?".

``memory`` is the Python evaluator over the canonical rows: the reference every other
backend is compared with. SQL backends create ``contacts`` (+ the child tags table)
under names unique to this test session and drop them in :meth:`Backend.close`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from adversarial import ALL_IDS, EXACT_FLOAT_DECIMALS, ROWS, ZONE, make_schema
from segmentkit.compile.python import compile_python
from segmentkit.compile.sql import SegmentTable, to_sql
from segmentkit.compile.sqlalchemy import members_select
from segmentkit.schema import ChildTable, Schema, TagStorage

POSTGRES_URL = os.environ.get(
    "SEGMENTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SEGMENTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
#: An unreachable server fails the test instead of skipping it (CI sets it).
REQUIRE = os.environ.get("SEGMENTKIT_REQUIRE_BACKENDS") == "1"
SESSION = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
_BERLIN = ZoneInfo(ZONE)


class Unavailable(Exception):
    """The backend's server or driver cannot be reached (skip, or fail under REQUIRE)."""


class Backend:
    name: ClassVar[str]
    # What the engine stores faithfully; tests draw rule values accordingly.
    exact_wide_decimals: ClassVar[bool] = True
    schema: Schema

    def members(self, rule: Any, now: dt.datetime) -> set[int]:
        raise NotImplementedError

    def members_sql(self, text: str, params: Any) -> set[int]:
        """Run SQL text from ``segmentkit.compile.sql`` (the second SQL path); ``params``
        None runs inline text as is (no placeholder parsing by the driver)."""
        raise NotImplementedError

    @property
    def all_ids(self) -> frozenset[int]:
        return ALL_IDS

    def close(self) -> None:
        pass

    def decimal_ok(self, value: Decimal) -> bool:
        return (
            self.exact_wide_decimals
            or value in EXACT_FLOAT_DECIMALS
            or len(value.as_tuple().digits) <= 15
        )


class MemoryBackend(Backend):
    name = "memory"

    def __init__(self, rows: Iterable[Mapping[str, Any]] = ROWS) -> None:
        self.schema = make_schema(TagStorage.JSON)
        self.rows = [dict(r) for r in rows]

    def members(self, rule: Any, now: dt.datetime) -> set[int]:
        match = compile_python(rule, self.schema, now)
        return {r["id"] for r in match.filter(self.rows)}


# --------------------------------------------------------------------------- SQL backends
class ExactNumeric(sa.types.TypeDecorator[Decimal]):
    """NUMERIC that DuckDB receives as ``Decimal`` (its dialect would send floats)."""

    impl = sa.Numeric
    cache_ok = True

    def bind_processor(self, dialect: Any) -> Any:
        return None if dialect.name == "duckdb" else super().bind_processor(dialect)


def _col(name: str, *args: Any, **kw: Any) -> sa.Column[Any]:
    # Always quoted: "at" is reserved in DuckDB, which its SQLAlchemy dialect does not know.
    return sa.Column(name, *args, quote=True, **kw)


class SQLBackend(Backend):
    url: str
    aware_storage: ClassVar[bool] = False  # TIMESTAMPTZ for aware fields
    tags_storage: ClassVar[TagStorage] = TagStorage.JSON

    def __init__(self) -> None:
        self.engine = self.make_engine()
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception as exc:
            self.close()
            if self.name not in SERVERS:
                raise
            raise Unavailable(f"{self.name}: cannot connect ({type(exc).__name__}: {exc})") from exc
        self.metadata = sa.MetaData()
        self.contacts, self.child = self.make_tables()
        self.schema = make_schema(
            self.tags_storage, ChildTable.from_table(self.child, "contact_id", "tag")
        )
        self.schema = Schema(
            list(self.schema), table=self.contacts, key="id", timezone=self.schema.timezone
        )
        self.metadata.drop_all(self.engine)
        self.metadata.create_all(self.engine)
        self.load()

    # -- hooks ---------------------------------------------------------------------
    def make_engine(self) -> sa.Engine:
        return sa.create_engine(self.url, connect_args=self.connect_args())

    def connect_args(self) -> dict[str, Any]:
        """The driver options every connection of this backend gets."""
        return {}

    def engine_with(self, **connect_args: Any) -> sa.Engine:
        """A second engine on the same database with other driver options (the caller
        disposes of it): e.g. another ``init_command`` for session settings."""
        return sa.create_engine(self.url, connect_args={**self.connect_args(), **connect_args})

    def string_type(self, length: int = 255) -> sa.types.TypeEngine[Any]:
        return sa.String(length)

    def datetime_type(self, aware: bool) -> sa.types.TypeEngine[Any]:
        return sa.DateTime(timezone=aware)

    def tags_type(self) -> sa.types.TypeEngine[Any]:
        return sa.JSON(none_as_null=True)

    def json_type(self) -> sa.types.TypeEngine[Any]:
        return sa.JSON(none_as_null=True)

    def table_kwargs(self) -> dict[str, Any]:
        return {}

    # -- tables --------------------------------------------------------------------
    def make_tables(self) -> tuple[sa.Table, sa.Table]:
        string = self.string_type()
        contacts = sa.Table(
            f"sk_contacts_{SESSION}",
            self.metadata,
            _col("id", sa.BigInteger, primary_key=True, autoincrement=False),
            _col("s", string),
            _col("t", string),
            _col("n", sa.BigInteger),
            _col("m", sa.BigInteger),
            _col("d", ExactNumeric(38, 10)),
            _col("f", sa.Double),
            _col("g", sa.Double),
            _col("b", sa.Boolean),
            _col("day", sa.Date),
            _col("day2", sa.Date),
            _col("at", self.datetime_type(self.aware_storage)),
            _col("seen", self.datetime_type(False)),
            _col("tags", self.tags_type()),
            _col("jtags", self.json_type()),
            **self.table_kwargs(),
        )
        child = sa.Table(
            f"sk_tags_{SESSION}",
            self.metadata,
            # No unique key: under a case-insensitive collation "vip" and "VIP" would collide.
            _col("contact_id", sa.BigInteger, nullable=False, index=True),
            _col("tag", string, nullable=False),
            **self.table_kwargs(),
        )
        return contacts, child

    def stored(self, row: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in row.items() if k != "ctags"}
        at = row["at"]
        if at is not None and not self.aware_storage:
            out["at"] = at.astimezone(dt.UTC).replace(tzinfo=None)
        seen = row["seen"]
        if seen is not None:
            out["seen"] = seen.astimezone(_BERLIN).replace(tzinfo=None)
        if row["tags"] is not None:
            out["tags"] = sorted(row["tags"])
        if isinstance(out["d"], Decimal) and not self.exact_wide_decimals:
            out["d"] = float(out["d"])
        return out

    def load(self) -> None:
        rows = [self.stored(r) for r in ROWS]
        children = [
            {"contact_id": r["id"], "tag": tag}
            for r in ROWS
            if r["ctags"]
            for tag in sorted(r["ctags"])
        ]
        with self.engine.begin() as conn:
            conn.execute(self.contacts.insert(), rows)
            conn.execute(self.child.insert(), children)

    # -- queries -------------------------------------------------------------------
    def members(self, rule: Any, now: dt.datetime) -> set[int]:
        stmt = members_select(rule, self.schema, now)
        with self.engine.connect() as conn:
            return set(conn.execute(stmt).scalars())

    def members_sql(self, text: str, params: Any) -> set[int]:
        with self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            cur = raw.cursor()
            try:
                if params is None:
                    cur.execute(text)
                else:
                    cur.execute(text, params)
                return {row[0] for row in cur.fetchall()}
            finally:
                cur.close()

    def close(self) -> None:
        try:
            if hasattr(self, "metadata"):
                self.metadata.drop_all(self.engine)
        finally:
            self.engine.dispose()

    # -- other tables, every compile path --------------------------------------------
    #: a collation that ignores case (and more), as a column may declare it.
    insensitive_collation: ClassVar[str] = "NOCASE"
    #: segmentkit's dialect for this server.
    dialect: ClassVar[str] = ""

    def prepare_insensitive_collation(self) -> None:
        """Create the collation where the server has none built in."""

    #: session settings under which string literals read differently (inline SQL must
    #: mean the same under them).
    literal_modes: ClassVar[tuple[str, ...]] = ()

    def members_inline_under_modes(self, text: str) -> set[Any]:
        """Run inline SQL on a fresh connection with :attr:`literal_modes` set."""
        with self.engine.connect() as conn:
            for statement in self.literal_modes:
                conn.exec_driver_sql(statement)
            try:
                raw = conn.connection.dbapi_connection
                assert raw is not None
                cur = raw.cursor()
                cur.execute(text)
                return {row[0] for row in cur.fetchall()}
            finally:
                conn.invalidate()  # never hand the altered session back to the pool

    def select_keys(
        self,
        path: str,
        rule: Any,
        schema: Schema,
        now: dt.datetime,
        *,
        segments: SegmentTable | None = None,
    ) -> set[Any]:
        """The keys ``rule`` selects from ``schema``'s table through one compile ``path``:
        ``view`` (members_select on SQLAlchemy), ``bound`` or ``inline`` (to_sql text on
        the driver's own cursor). ``segments`` describes the membership table."""
        if path == "view":
            stmt = members_select(rule, schema, now, segments=segments)
            with self.engine.connect() as conn:
                return set(conn.execute(stmt).scalars())
        if path == "bound":
            q = to_sql(rule, schema, self.dialect, now, select=True, segments=segments)
            return self.members_sql(q.text, q.params)
        if path == "inline":
            text = to_sql(
                rule, schema, self.dialect, now, select=True, segments=segments, inline=True
            )
            return self.members_sql(text, None)
        raise ValueError(f"unknown compile path {path!r}; one of {COMPILE_PATHS}")

    # -- tables of a test's own ----------------------------------------------------
    def column_type(self, kind: str) -> sa.types.TypeEngine[Any]:
        """This engine's column type for ``kind``: ``string``, ``integer``, ``decimal``,
        ``boolean``, ``datetime`` (naive wall time) or ``instant`` (aware)."""
        kinds: dict[str, Any] = {
            "string": self.string_type,
            "integer": sa.BigInteger,
            "decimal": lambda: ExactNumeric(18, 4),
            "boolean": sa.Boolean,
            "datetime": lambda: self.datetime_type(False),
            "instant": lambda: self.datetime_type(True),
        }
        return kinds[kind]()  # type: ignore[no-any-return]

    def table(self, metadata: sa.MetaData, name: str, /, **columns: str) -> sa.Table:
        """A table of this engine's column types (``column=kind``), in the engine's default
        collation (see :meth:`table_kwargs`)."""
        cols = [_col(c, self.column_type(kind)) for c, kind in columns.items()]
        return sa.Table(name, metadata, *cols, **self.table_kwargs())

    def event_table(self, metadata: sa.MetaData, name: str, /, **properties: str) -> sa.Table:
        """An events table: ``contact_id``, ``name``, ``occurred_at`` (naive) and the
        event's ``properties`` (``column=kind``)."""
        return self.table(
            metadata,
            name,
            contact_id="integer",
            name="string",
            occurred_at="datetime",
            **properties,
        )

    def membership_table(
        self, metadata: sa.MetaData, name: str, *, member_column: bool = True
    ) -> sa.Table:
        """A membership table as :class:`SegmentTable` describes it (``segment_id``,
        ``contact_key``, and a boolean ``member`` flag unless ``member_column`` is false),
        in the engine's default collation, so exact segment-id matching is the SQL's job."""
        cols = [
            _col("segment_id", self.string_type(length=100), primary_key=True),
            _col("contact_key", sa.BigInteger, primary_key=True, autoincrement=False),
        ]
        if member_column:
            cols.append(_col("member", sa.Boolean, nullable=False))
        return sa.Table(name, metadata, *cols, **self.table_kwargs())

    @contextlib.contextmanager
    def loaded(
        self, metadata: sa.MetaData, rows: Mapping[sa.Table, Sequence[Mapping[str, Any]]]
    ) -> Iterator[None]:
        """``metadata``'s tables created and loaded with ``rows``, dropped on exit."""
        metadata.drop_all(self.engine)
        metadata.create_all(self.engine)
        try:
            with self.engine.begin() as conn:
                for table, table_rows in rows.items():
                    if table_rows:
                        conn.execute(table.insert(), list(table_rows))
            yield
        finally:
            metadata.drop_all(self.engine)


COMPILE_PATHS = ("view", "bound", "inline")


class SQLiteBackend(SQLBackend):
    name = "sqlite"
    dialect = "sqlite"
    exact_wide_decimals = False  # NUMERIC is stored as an 8-byte float

    def make_engine(self) -> sa.Engine:
        self._dir = tempfile.TemporaryDirectory(prefix="segmentkit-")
        return sa.create_engine(f"sqlite:///{self._dir.name}/contacts.db")

    def close(self) -> None:
        super().close()
        self._dir.cleanup()

    def members_sql(self, text: str, params: Any) -> set[int]:
        # A bare stdlib connection, as a to_sql user would have it.
        from segmentkit.compile import sql

        conn = sqlite3.connect(f"{self._dir.name}/contacts.db")
        sql.register_sqlite_functions(conn)
        try:
            cursor = conn.execute(text) if params is None else conn.execute(text, params)
            return {row[0] for row in cursor.fetchall()}
        finally:
            conn.close()


class DuckDBBackend(SQLBackend):
    name = "duckdb"
    dialect = "duckdb"
    aware_storage = True
    tags_storage = TagStorage.ARRAY

    def make_engine(self) -> sa.Engine:
        self._dir = tempfile.TemporaryDirectory(prefix="segmentkit-")
        # TIMESTAMPTZ values are UTC instants; no ICU extension (session zones) needed.
        return sa.create_engine(f"duckdb:///{self._dir.name}/contacts.duckdb")

    def tags_type(self) -> sa.types.TypeEngine[Any]:
        return sa.ARRAY(sa.String)

    def close(self) -> None:
        super().close()
        self._dir.cleanup()


class PostgresBackend(SQLBackend):
    name = "postgres"
    dialect = "postgres"
    literal_modes = ("SET standard_conforming_strings = off", "SET escape_string_warning = off")
    # Nondeterministic: equal ignoring case and accents; substring search refused.
    insensitive_collation = "sk_insensitive"

    def prepare_insensitive_collation(self) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE COLLATION IF NOT EXISTS sk_insensitive "
                "(provider = icu, locale = 'und-u-ks-level1', deterministic = false)"
            )

    url = POSTGRES_URL
    aware_storage = True
    tags_storage = TagStorage.ARRAY

    def connect_args(self) -> dict[str, Any]:
        return {"connect_timeout": 3, "options": "-c timezone=UTC"}

    def string_type(self, length: int = 255) -> sa.types.TypeEngine[Any]:
        return sa.Text()

    def tags_type(self) -> sa.types.TypeEngine[Any]:
        return postgresql.ARRAY(sa.Text)

    def json_type(self) -> sa.types.TypeEngine[Any]:
        return postgresql.JSONB(none_as_null=True)


class MariaDBBackend(SQLBackend):
    name = "mariadb"
    dialect = "mariadb"
    literal_modes = ("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",)
    insensitive_collation = "utf8mb4_unicode_ci"
    url = MYSQL_URL

    def connect_args(self) -> dict[str, Any]:
        return {
            "connect_timeout": 3,
            "charset": "utf8mb4",
            "init_command": "SET time_zone = '+00:00'",
        }

    def datetime_type(self, aware: bool) -> sa.types.TypeEngine[Any]:
        # No zone type: an aware column holds naive UTC; the flag tells segmentkit so.
        return mysql.DATETIME(fsp=6, timezone=aware)

    def table_kwargs(self) -> dict[str, Any]:
        # A case-, accent- and pad-insensitive default collation: the one users have.
        return {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_general_ci"}


GapKind = Literal["notimpl", "notyet", "never"]
GAP_KINDS: dict[str, str] = {
    "notimpl": "segmentkit does not do it yet",
    "notyet": "the engine or an upstream library lacks it, for now",
    "never": "by design: segmentkit's or the engine's, not to change",
}


def gap(
    request: pytest.FixtureRequest,
    backend: Backend | str,
    gaps: Mapping[str, tuple[GapKind, str]],
) -> None:
    """Mark the running test as an expected (strict) failure on the named backends.

    ``gaps`` maps a backend name to ``(kind, reason)``; ``kind`` says why the gap is there:
    ``notimpl`` (segmentkit does not do it yet), ``notyet`` (the engine or an upstream
    library lacks it, for now) or ``never`` (by design, segmentkit's or the engine's: e.g.
    PostgreSQL text cannot hold NUL). Strict: a gap that closes fails loudly.
    """
    name = backend if isinstance(backend, str) else backend.name
    if name not in gaps:
        return
    kind, reason = gaps[name]
    if kind not in GAP_KINDS:
        raise ValueError(f"gap kind {kind!r} is not one of {sorted(GAP_KINDS)}")
    request.applymarker(
        pytest.mark.xfail(reason=f"{kind} ({GAP_KINDS[kind]}): {name}: {reason}", strict=True)
    )


BACKENDS: dict[str, type[Backend]] = {
    "memory": MemoryBackend,
    "sqlite": SQLiteBackend,
    "duckdb": DuckDBBackend,
    "postgres": PostgresBackend,
    "mariadb": MariaDBBackend,
}
SERVERS = frozenset({"postgres", "mariadb"})
