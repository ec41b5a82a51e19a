"""Field schemas: which fields a rule may touch, their types and where they live.

A :class:`Schema` is the only source of identifiers: a rule names logical fields,
the schema maps each to a column (or a child table for tags). Unknown fields are a
validation error, never a quoted guess.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.sql import sqltypes

from .errors import RuleError
from .types import FieldType

__all__ = ["ChildTable", "EventSource", "Field", "Schema", "TagStorage"]

_UTC = ZoneInfo("UTC")


class TagStorage(enum.StrEnum):
    """How a ``tags`` field is stored when it lives in the contact's own row."""

    ARRAY = "array"  # a native array / list column (PostgreSQL, DuckDB)
    JSON = "json"  # a JSON array of strings in a JSON or text column


@dataclass(frozen=True, slots=True)
class ChildTable:
    """Tags stored one per row in a child table: ``table(key -> contact key, value)``."""

    table: str
    key: str
    value: str
    sa_table: sa.Table | None = field(default=None, compare=False, hash=False)
    # The table's database schema takes part in equality (compile caches key on it).
    table_schema: str | None = None

    def __post_init__(self) -> None:
        if self.table_schema is None and self.sa_table is not None:
            object.__setattr__(self, "table_schema", self.sa_table.schema)

    @classmethod
    def from_table(cls, table: sa.Table, key: str, value: str) -> ChildTable:
        return cls(table.name, key, value, table)


@dataclass(frozen=True, slots=True)
class Field:
    """One field a rule may use.

    ``column`` is the physical column name (defaults to ``name``). ``timezone`` is the
    zone naive datetimes of this field are read in and relative dates are computed in
    (defaults to the schema's). ``operators`` restricts the operators allowed; ``enum``
    restricts the values. ``tags`` says how a tags field is stored.
    """

    name: str
    type: FieldType
    column: str | None = None
    label: str | None = None
    operators: frozenset[str] | None = None
    enum: tuple[Any, ...] | None = None
    timezone: str | None = None
    tags: TagStorage | ChildTable | None = None
    naive: bool = True  # datetimes stored without zone (read in ``zone``)
    #: the collation the column declares, when known (``from_table`` reads it). SQL
    #: compares strings by code point whatever it is; it decides how (docs/sql.md).
    collation: str | None = None
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __hash__(self) -> int:
        # Fields key every compile cache; hash once instead of on every lookup.
        return self._hash

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.type.value!r})"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise RuleError(f"a field name must be a non-empty string, got {_show(self.name)}")
        try:
            object.__setattr__(self, "type", FieldType(self.type))
        except ValueError:
            kinds = ", ".join(t.value for t in FieldType)
            raise RuleError(
                f"unknown field type {_show(self.type)} of field {self.name!r} (one of {kinds})",
                "/type",
            ) from None
        if self.operators is not None and not isinstance(self.operators, frozenset):
            object.__setattr__(self, "operators", frozenset(self.operators))
        if self.enum is not None and not isinstance(self.enum, tuple):
            object.__setattr__(self, "enum", tuple(self.enum))
        if self.type is FieldType.TAGS and self.tags is None:
            object.__setattr__(self, "tags", TagStorage.JSON)
        if isinstance(self.tags, str) and not isinstance(self.tags, TagStorage):
            try:
                object.__setattr__(self, "tags", TagStorage(self.tags))
            except ValueError:
                raise RuleError(
                    f"unknown tag storage {_show(self.tags)} (array, json or a ChildTable)",
                    "/tags",
                ) from None
        if self.timezone is not None:
            _zone(self.timezone, "/timezone")
        key = (
            self.name,
            self.type,
            self.column,
            self.label,
            self.operators,
            self.enum,
            self.timezone,
            self.tags,
            self.naive,
            self.collation,
        )
        object.__setattr__(self, "_hash", hash(key))

    @property
    def column_name(self) -> str:
        return self.column or self.name


@dataclass(frozen=True, slots=True)
class EventSource:
    """Where a contact's events live, for event conditions.

    ``table(key -> contact key, name, time, <property columns>)``; ``fields`` are the event
    properties an event condition's ``where`` may use (a schema of their own).
    """

    table: str
    key: str
    name: str
    time: str
    fields: tuple[Field, ...] = ()
    sa_table: sa.Table | None = field(default=None, compare=False, hash=False)
    # The table's database schema takes part in equality (compile caches key on it).
    table_schema: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        if self.table_schema is None and self.sa_table is not None:
            object.__setattr__(self, "table_schema", self.sa_table.schema)

    @property
    def schema(self) -> Schema:
        return Schema(
            self.fields,
            table=self.sa_table if self.sa_table is not None else self.table,
            key=self.key,
        )


def _zone(name: Any, path: str = "") -> ZoneInfo:
    if not isinstance(name, str):
        raise RuleError(f"a time zone must be a string, got {_show(name)}", path)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RuleError(f"unknown time zone {_show(name)}", path) from None


class Schema:
    """The fields of one contact table.

    ``Schema(fields, table="contacts", key="id")`` or ``Schema.from_table(sa_table)``.
    ``timezone`` is the zone relative time is resolved in and naive datetimes are read in
    (UTC unless declared); naive datetimes in *rule values* are refused unless a zone is
    declared here or on the field.
    """

    def __init__(
        self,
        fields: Iterable[Field],
        *,
        table: str | sa.Table = "contacts",
        key: str = "id",
        timezone: str | None = None,
        events: EventSource | None = None,
    ) -> None:
        self.fields: dict[str, Field] = {}
        if isinstance(fields, str | bytes | Mapping) or not isinstance(fields, Iterable):
            raise RuleError(f"fields must be a list of Field, got {type(fields).__name__}")
        for i, f in enumerate(fields):
            if not isinstance(f, Field):
                raise RuleError(f"expected a Field, got {type(f).__name__}", f"/fields/{i}")
            if f.name in self.fields:
                raise RuleError(f"duplicate field {f.name!r}", f"/fields/{i}/name")
            self.fields[f.name] = f
        self.sa_table: sa.Table | None = table if isinstance(table, sa.Table) else None
        self.table: str = table.name if isinstance(table, sa.Table) else table
        self.table_schema: str | None = table.schema if isinstance(table, sa.Table) else None
        self.key = key
        self.timezone = timezone
        self.events = events
        self.zone: ZoneInfo = _zone(timezone, "/timezone") if timezone else _UTC

    # -- lookup -------------------------------------------------------------
    def __getitem__(self, name: str) -> Field:
        return self.fields[name]

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields.values())

    def __len__(self) -> int:
        return len(self.fields)

    def __repr__(self) -> str:
        return f"Schema({self.table!r}, fields={list(self.fields)!r})"

    def _repr_html_(self) -> str:
        from .display import schema_html

        return schema_html(self)

    def zone_of(self, f: Field) -> ZoneInfo:
        """The zone naive values of ``f`` are read in and its relative dates computed in."""
        return _zone(f.timezone) if f.timezone else self.zone

    def declared_zone_of(self, f: Field) -> ZoneInfo | None:
        """The zone naive *rule values* of ``f`` are read in, or None if none is declared."""
        if f.timezone:
            return _zone(f.timezone)
        return self.zone if self.timezone else None

    @cached_property
    def fingerprint(self) -> int:
        """A hash of everything compilation depends on (for compile caches)."""
        return hash(
            (self.table, self.table_schema, self.key, self.timezone, tuple(self.fields.values()))
        )

    # -- construction -------------------------------------------------------
    @classmethod
    def from_table(
        cls,
        table: sa.Table,
        *,
        key: str | None = None,
        timezone: str | None = None,
        exclude: Iterable[str] = (),
        overrides: Mapping[str, Field] | None = None,
        tags: Mapping[str, ChildTable | TagStorage] | None = None,
    ) -> Schema:
        """Derive a schema from a SQLAlchemy table (key = the primary key).

        Columns whose type has no field type (BLOBs, intervals …) are left out; JSON and
        ARRAY columns become ``tags`` fields. ``tags`` adds tags fields stored in child
        tables (``{"interests": ChildTable.from_table(t, "contact_id", "tag")}``);
        ``overrides`` replaces derived fields.
        """
        if key is None:
            pk = list(table.primary_key.columns)
            if len(pk) != 1:
                raise ValueError(
                    f"table {table.name!r} needs a single-column primary key (or key=)"
                )
            key = pk[0].name
        skip = set(exclude)
        overrides = dict(overrides or {})
        out: list[Field] = []
        for col in table.columns:
            if col.name in skip:
                continue
            if col.name in overrides:
                out.append(overrides.pop(col.name))
                continue
            derived = _field_from_column(col)
            if derived is not None:
                out.append(derived)
        out.extend(overrides.values())
        for name, storage in (tags or {}).items():
            out.append(Field(name, FieldType.TAGS, tags=storage))
        return cls(out, table=table, key=key, timezone=timezone)

    def validate_field_name(self, name: Any, path: str) -> Field:
        from .errors import did_you_mean

        if not isinstance(name, str) or name not in self.fields:
            hint = did_you_mean(name, self.fields) if isinstance(name, str) else ""
            raise RuleError(f"unknown field {_show(name)}{hint}", path)
        return self.fields[name]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_from_column(col: sa.Column[Any]) -> Field | None:
    t = col.type
    enum_values: tuple[Any, ...] | None = None
    ftype: FieldType | None
    tags: TagStorage | None = None
    naive = True
    if isinstance(t, sqltypes.Boolean):
        ftype = FieldType.BOOLEAN
    elif isinstance(t, sqltypes.Integer):
        ftype = FieldType.INTEGER
    elif isinstance(t, sqltypes.Float):
        ftype = FieldType.FLOAT
    elif isinstance(t, sqltypes.Numeric):
        ftype = FieldType.DECIMAL if t.asdecimal else FieldType.FLOAT
    elif isinstance(t, sqltypes.Enum):
        ftype = FieldType.STRING
        enum_values = tuple(t.enums)
    elif isinstance(t, sqltypes.String):
        ftype = FieldType.STRING
    elif isinstance(t, sqltypes.DateTime):
        ftype = FieldType.DATETIME
        naive = not t.timezone
    elif isinstance(t, sqltypes.Date):
        ftype = FieldType.DATE
    elif isinstance(t, sqltypes.ARRAY):
        ftype, tags = FieldType.TAGS, TagStorage.ARRAY
    elif isinstance(t, sqltypes.JSON):
        ftype, tags = FieldType.TAGS, TagStorage.JSON
    else:
        ftype = None
    if ftype is None:
        return None
    label = col.comment or None
    collation = getattr(t, "collation", None) if ftype is FieldType.STRING else None
    return Field(
        col.name,
        ftype,
        column=col.name,
        label=label,
        enum=enum_values,
        tags=tags,
        naive=naive,
        collation=collation,
    )
