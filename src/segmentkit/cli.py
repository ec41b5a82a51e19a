"""The ``segmentkit`` command (also ``python -m segmentkit``), built on click.

One command per task: ``validate`` (alias ``check``), ``compile`` (alias ``sql``),
``members``, ``segments`` (a membership store: ``init``, ``list``, ``create``,
``recalculate``, ``export``) and ``demo``. Rules come from a file, stdin (``-``) or
``-e``; the schema from a database table (``--db URL --table NAME``), a schema file
(``--schema FILE``, format below) or, with neither, the demo's contacts schema.

Exit codes: 0 ok, 1 invalid input (:class:`~segmentkit.errors.RuleError`),
2 usage error (click's), 3 unsupported construct
(:class:`~segmentkit.errors.UnsupportedError`), 4 store or database error.

Schema file (JSON)::

    {"table": "contacts", "key": "id", "timezone": "Europe/Berlin",
     "fields": {"id": "integer", "country": {"type": "string", "enum": ["DE", "AT"]},
                "tags": {"type": "tags", "tags": "json"}}}

``fields`` is an object (name -> type name, or -> an object of :class:`Field`
arguments) or a list of such objects each with a ``name``.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import random
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import sqlalchemy as sa

from .errors import Problem, RuleError, SegmentkitError, StoreError, UnsupportedError
from .schema import ChildTable, Field, Schema, TagStorage
from .types import FieldType

__all__ = [
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_STORE",
    "EXIT_UNSUPPORTED",
    "EXIT_USAGE",
    "cli",
    "demo_schema",
    "demo_table",
    "main",
    "schema_from_dict",
]

EXIT_OK = 0
EXIT_INVALID = 1  # RuleError: the rule, a value, the schema file
EXIT_USAGE = 2  # click's usage errors: unknown option/command, bad choice, no such file
EXIT_UNSUPPORTED = 3  # UnsupportedError: valid, but the backend cannot express it
EXIT_STORE = 4  # StoreError, or the database refused/failed

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)

DEMO_SEGMENTS: list[tuple[str, dict[str, Any]]] = [
    (
        "DACH adults",
        {
            "combinator": "and",
            "rules": [
                {"field": "country", "operator": "in", "value": ["DE", "AT", "CH"]},
                {"field": "age", "operator": "gte", "value": 18},
            ],
        },
    ),
    (
        "VIP big spenders",
        {
            "combinator": "and",
            "rules": [
                {"field": "vip", "operator": "is_true"},
                {"field": "lifetime_value", "operator": "gte", "value": "500"},
            ],
        },
    ),
    (
        "Dormant 90 days",
        {
            "combinator": "or",
            "rules": [
                {
                    "field": "last_seen_at",
                    "operator": "older_than",
                    "value": {"amount": 90, "unit": "days"},
                },
                {"field": "last_seen_at", "operator": "is_null"},
            ],
        },
    ),
    (
        "Newsletter on Gmail",
        {
            "combinator": "and",
            "rules": [
                {"field": "newsletter", "operator": "is_true"},
                {
                    "field": "email",
                    "operator": "ends_with",
                    "value": "@GMAIL.com",
                    "ignore_case": True,
                },
            ],
        },
    ),
    ("Signed up this month", {"field": "signup_at", "operator": "on", "value": "this_month"}),
    (
        "Outside DACH (incl. unknown)",
        {"field": "country", "operator": "not_in", "value": ["DE", "AT", "CH"]},
    ),
    (
        "Tagged press or partner",
        {"field": "tags", "operator": "has_any", "value": ["press", "partner"]},
    ),
]

_COUNTRIES = ["DE", "AT", "CH", "FR", "NL", "US", "GB", "PL", "ES", "IT"]
_CITIES = [
    "Berlin",
    "München",
    "Wien",
    "Zürich",
    "Paris",
    "Amsterdam",
    "Köln",
    "İzmir",
    "Łódź",
    "Sevilla",
]
_NAMES = ["Anna", "Jörg", "Zoë", "Łukasz", "Ilse", "İsmail", "Σοφία", "Mia", "Noah", "O'Neil"]
_DOMAINS = ["gmail.com", "GMAIL.com", "web.de", "example.org", "outlook.com", "posteo.de"]
_TAGS = ["vip", "press", "partner", "newsletter", "beta", "churn-risk", "50%_off"]


def demo_table(metadata: sa.MetaData | None = None) -> sa.Table:
    """The demo's contacts table."""
    return sa.Table(
        "contacts",
        metadata or sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(200)),
        sa.Column("first_name", sa.String(100)),
        sa.Column("country", sa.String(2)),
        sa.Column("city", sa.String(100)),
        sa.Column("age", sa.Integer),
        sa.Column("lifetime_value", sa.Numeric(12, 2)),
        sa.Column("orders", sa.Integer),
        sa.Column("vip", sa.Boolean),
        sa.Column("newsletter", sa.Boolean),
        sa.Column("signup_at", sa.DateTime),
        sa.Column("last_seen_at", sa.DateTime),
        sa.Column("tags", sa.JSON),
    )


def demo_schema(table: sa.Table | None = None) -> Schema:
    return Schema.from_table(table if table is not None else demo_table())


def synthetic_contacts(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic synthetic contacts with realistic gaps (NULLs) and awkward text."""
    rnd = random.Random(seed)
    rows = []
    for i in range(1, n + 1):
        name = rnd.choice(_NAMES)
        signup = NOW - dt.timedelta(days=rnd.randint(0, 1500), seconds=rnd.randint(0, 86399))
        seen = None if rnd.random() < 0.1 else signup + (NOW - signup) * rnd.random()
        rows.append(
            {
                "id": i,
                "email": None
                if rnd.random() < 0.05
                else f"{name.lower()}.{i}@{rnd.choice(_DOMAINS)}",
                "first_name": name,
                "country": None if rnd.random() < 0.08 else rnd.choice(_COUNTRIES),
                "city": rnd.choice(_CITIES),
                "age": None if rnd.random() < 0.1 else rnd.randint(14, 90),
                "lifetime_value": Decimal(rnd.randint(0, 200_000)) / 100,
                "orders": rnd.randint(0, 40),
                "vip": None if rnd.random() < 0.05 else rnd.random() < 0.15,
                "newsletter": rnd.random() < 0.6,
                "signup_at": signup.replace(tzinfo=None),
                "last_seen_at": seen.replace(tzinfo=None) if seen else None,
                "tags": rnd.sample(_TAGS, rnd.randint(0, 3)),
            }
        )
    return rows


def run_demo(db: str, contacts: int) -> int:
    """The demo: synthetic contacts in SQLite, segments, sizes, members, the store."""
    from .compile.python import compile_python
    from .compile.sqlalchemy import members_select

    path = Path(db)
    if path.exists():
        path.unlink()
    engine = sa.create_engine(f"sqlite:///{path}")
    table = demo_table()
    table.metadata.create_all(engine)
    rows = synthetic_contacts(contacts)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    schema = demo_schema(table)
    print(
        f"segmentkit demo: {len(rows):,} synthetic contacts in {path} (as of {NOW:%Y-%m-%d %H:%M} UTC)\n"
    )
    print(f"{'segment':<32}{'members':>9}{'python':>9}  sample")
    mismatches = 0
    with engine.connect() as conn:
        for name, rule in DEMO_SEGMENTS:
            query = members_select(rule, schema, now=NOW).order_by(table.c.id)
            keys = [k for (k,) in conn.execute(query)]
            reference = {r["id"] for r in compile_python(rule, schema, now=NOW).filter(rows)}
            mismatches += set(keys) != reference
            sample = (
                conn.execute(
                    sa.select(table.c.email).where(table.c.id.in_(keys[:3])).order_by(table.c.id)
                )
                .scalars()
                .all()
            )
            shown = ", ".join(s or "(no email)" for s in sample)
            print(f"{name:<32}{len(keys):>9,}{len(reference):>9,}  {shown}")
    print("\nSQL for 'DACH adults' on SQLite:")
    print(
        "  "
        + str(members_select(DEMO_SEGMENTS[0][1], schema, now=NOW).compile(engine)).replace(
            "\n", "\n  "
        )
    )
    if mismatches:
        print(
            f"\n{mismatches} segment(s) differ between SQLite and the Python evaluator",
            file=sys.stderr,
        )
        return 1
    print("\nSQLite and the Python evaluator agree on every segment.")
    _demo_store(engine, table, schema)
    return 0


def _demo_store(engine: sa.Engine, table: sa.Table, schema: Schema) -> None:
    """Keep the segments in the store: recalculate, let 2 % of contacts change, recalculate."""
    from .store import Store

    store = Store(engine, schema)
    store.create_all()
    ids = [_slug(name) for name, _ in DEMO_SEGMENTS]
    for sid, (name, rule) in zip(ids, DEMO_SEGMENTS, strict=True):
        store.create({"id": sid, "name": name, "rule": rule})
    store.recalculate_many(ids, now=NOW)
    with engine.begin() as conn:  # 2 % of the contacts move to Vienna and turn 30
        conn.execute(table.update().where(table.c.id % 50 == 0).values(country="AT", age=30))
    later = NOW + dt.timedelta(days=1)
    runs = {
        r.segment_id: r
        for r in store.recalculate_many(store.due(later, every=dt.timedelta(hours=6)), now=later)
    }
    print("\nIn the membership store, one day later, after 2 % of the contacts changed:")
    print(f"{'segment':<32}{'members':>9}{'added':>8}{'removed':>9}")
    for sid, (name, _) in zip(ids, DEMO_SEGMENTS, strict=True):
        run = runs[sid]
        print(f"{name:<32}{run.member_count:>9,}{run.added:>8,}{run.removed:>9,}")
    kinds: set[str] = set()
    delivered = store.deliver(lambda event: kinds.add(event.to_dict()["type"]))
    print(f"\n{delivered} events published from the outbox ({', '.join(sorted(kinds))}).")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def _dialects() -> list[str]:
    from .compile.sql import dialect_names

    return dialect_names()


# ------------------------------------------------------------------ schema files
_FIELD_KEYS = {"name", "type", "column", "label", "operators", "enum", "timezone", "tags", "naive"}


def schema_from_dict(data: Any) -> Schema:
    """A :class:`Schema` from the schema-file format (see the module docstring).

    Every problem is reported at once as a :class:`RuleError` with JSON pointers into
    the document.
    """
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise RuleError("a schema file holds a JSON object", "")
    for k in sorted(set(data) - {"table", "key", "timezone", "fields"}):
        problems.append(Problem(f"/{k}", f"unknown key {k!r} (table, key, timezone, fields)"))
    raw = data.get("fields")
    items: list[tuple[str, Any]]
    if isinstance(raw, dict):
        items = [
            (f"/fields/{name}", {"name": name, **_field_spec(spec)}) for name, spec in raw.items()
        ]
    elif isinstance(raw, list):
        items = [(f"/fields/{i}", spec) for i, spec in enumerate(raw)]
    else:
        raise RuleError([*problems, Problem("/fields", "fields must be an object or a list")])
    fields: list[Field] = []
    for path, spec in items:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            problems.append(Problem(path, "a field is an object with a string 'name'"))
            continue
        unknown = sorted(set(spec) - _FIELD_KEYS)
        if unknown:
            problems.append(Problem(path, f"unknown field key(s) {', '.join(unknown)}"))
            continue
        kwargs = dict(spec)
        try:
            kwargs["type"] = FieldType(str(kwargs.get("type")))
        except ValueError:
            choices = ", ".join(t.value for t in FieldType)
            problems.append(Problem(f"{path}/type", f"type is one of {choices}"))
            continue
        tags = kwargs.get("tags")
        try:
            if isinstance(tags, dict):
                kwargs["tags"] = ChildTable(
                    str(tags["table"]), str(tags["key"]), str(tags["value"])
                )
            elif tags is not None:
                kwargs["tags"] = TagStorage(tags)
            fields.append(Field(**kwargs))
        except (KeyError, ValueError, TypeError) as exc:
            problems.append(Problem(path, f"invalid field: {exc}"))
    try:
        schema = Schema(
            fields,
            table=str(data.get("table", "contacts")),
            key=str(data.get("key", "id")),
            timezone=data.get("timezone"),
        )
    except ValueError as exc:
        problems.append(Problem("", str(exc)))
    if problems:
        raise RuleError(problems)
    return schema


def _field_spec(spec: Any) -> Any:
    return {"type": spec} if isinstance(spec, str) else spec


def _schema_file(path: str) -> Schema:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RuleError(f"invalid JSON in schema file {path}: {exc}") from None
    return schema_from_dict(data)


# ------------------------------------------------------------------ databases
def _engine(url: str) -> sa.Engine:
    try:
        return sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as exc:
        raise click.BadParameter(f"not a database URL: {exc}", param_hint="--db") from None
    except ImportError as exc:  # the driver is not installed
        raise click.BadParameter(f"{exc}", param_hint="--db") from None


def _reflect(engine: sa.Engine, name: str) -> sa.Table:
    db_schema, _, table_name = name.rpartition(".")
    try:
        return sa.Table(table_name, sa.MetaData(), autoload_with=engine, schema=db_schema or None)
    except sa.exc.NoSuchTableError:
        _no_such_table(engine, name, db_schema)


def _no_such_table(engine: sa.Engine, name: str, db_schema: str) -> NoReturn:
    names = sa.inspect(engine).get_table_names(schema=db_schema or None)
    shown = ", ".join(sorted(names)[:20]) or "none"
    raise click.BadParameter(
        f"no table {name!r} in the database (tables: {shown})", param_hint="--table"
    )


_SA_TYPES: dict[FieldType, Any] = {
    FieldType.STRING: sa.String(),
    FieldType.INTEGER: sa.BigInteger(),
    FieldType.DECIMAL: sa.Numeric(),
    FieldType.FLOAT: sa.Float(),
    FieldType.BOOLEAN: sa.Boolean(),
    FieldType.DATE: sa.Date(),
    FieldType.DATETIME: sa.DateTime(),
    FieldType.TAGS: sa.ARRAY(sa.String()),
}


def _duckdb_schema(engine: sa.Engine, name: str, key: str | None, timezone: str | None) -> Schema:
    # SQLAlchemy reflection through duckdb-engine 0.17 fails on DuckDB 2 (it queries
    # pg_catalog tables DuckDB no longer emulates), so the columns are read from
    # information_schema and typed the way frame_members types a DataFrame's columns.
    from .frames import field_of_duckdb_type

    db_schema, _, table_name = name.rpartition(".")
    where = "table_name = :t AND table_schema = coalesce(:s, current_schema())"
    with engine.connect() as conn:
        columns = conn.execute(
            sa.text(
                "SELECT column_name, data_type FROM information_schema.columns "
                f"WHERE {where} ORDER BY ordinal_position"
            ),
            {"t": table_name, "s": db_schema or None},
        ).all()
        pk = conn.execute(
            sa.text(
                "SELECT constraint_column_names FROM duckdb_constraints() "
                "WHERE constraint_type = 'PRIMARY KEY' AND table_name = :t "
                "AND schema_name = coalesce(:s, current_schema())"
            ),
            {"t": table_name, "s": db_schema or None},
        ).all()
    if not columns:
        _no_such_table(engine, name, db_schema)
    fields = [f for f in (field_of_duckdb_type(c, t) for c, t in columns) if f is not None]
    if key is None:
        if len(pk) != 1 or len(pk[0][0]) != 1:
            raise click.BadParameter(
                f"table {name!r} needs a single-column primary key (or --key)", param_hint="--key"
            )
        key = str(pk[0][0][0])
    table = sa.Table(
        table_name,
        sa.MetaData(),
        *(sa.Column(f.column_name, _SA_TYPES[f.type]) for f in fields),
        schema=db_schema or None,
    )
    return Schema(fields, table=table, key=key, timezone=timezone)


def _schema_of_table(table: sa.Table, key: str | None, timezone: str | None) -> Schema:
    # MySQL/MariaDB have no boolean type: BOOLEAN is TINYINT(1), which reflects as an
    # integer. A TINYINT(1) column holds a flag in practice, so it is read as boolean.
    overrides = {
        col.name: Field(col.name, FieldType.BOOLEAN, column=col.name)
        for col in table.columns
        if type(col.type).__name__ == "TINYINT" and getattr(col.type, "display_width", None) == 1
    }
    try:
        return Schema.from_table(table, key=key, timezone=timezone, overrides=overrides)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--key") from None


class _Source:
    """Where the contacts live: the options every rule command shares."""

    def __init__(
        self,
        db: str | None,
        table: str,
        schema_file: str | None,
        key: str | None,
        timezone: str | None,
    ) -> None:
        self.db, self.table_name, self.schema_file = db, table, schema_file
        self.key, self.timezone = key, timezone
        self._engine: sa.Engine | None = None
        self._schema: Schema | None = None

    @property
    def engine(self) -> sa.Engine:
        if self.db is None:
            raise click.UsageError("this command needs a database: pass --db URL")
        if self._engine is None:
            self._engine = _engine(self.db)
        return self._engine

    @property
    def schema(self) -> Schema:
        if self._schema is None:
            if self.schema_file is not None:
                self._schema = _schema_file(self.schema_file)
            elif self.db is not None and self.engine.dialect.name == "duckdb":
                self._schema = _duckdb_schema(self.engine, self.table_name, self.key, self.timezone)
            elif self.db is not None:
                table = _reflect(self.engine, self.table_name)
                self._schema = _schema_of_table(table, self.key, self.timezone)
            else:
                click.echo(
                    "note: no --db/--table or --schema given; using the demo's contacts schema",
                    err=True,
                )
                self._schema = demo_schema()
        return self._schema

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


F = TypeVar("F", bound=Callable[..., Any])


def _source_options(f: F) -> F:
    options = [
        click.option(
            "--db",
            envvar="SEGMENTKIT_DB",
            metavar="URL",
            help="SQLAlchemy database URL, e.g. sqlite:///crm.db or "
            "postgresql+psycopg://user@host/db (env SEGMENTKIT_DB).",
        ),
        click.option(
            "--table",
            envvar="SEGMENTKIT_TABLE",
            default="contacts",
            show_default=True,
            help="The contacts table; its columns are the fields (schema.table allowed).",
        ),
        click.option(
            "--schema",
            "schema_file",
            type=click.Path(exists=True, dir_okay=False),
            metavar="FILE",
            help="A JSON schema file instead of reading the table (see docs/cli.md).",
        ),
        click.option("--key", help="The key column (default: the table's primary key)."),
        click.option(
            "--timezone", metavar="ZONE", help="Zone of relative dates and naive datetimes."
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _source(kw: dict[str, Any]) -> _Source:
    src = _Source(
        kw.pop("db"), kw.pop("table"), kw.pop("schema_file"), kw.pop("key"), kw.pop("timezone")
    )
    click.get_current_context().call_on_close(src.close)
    return src


# ------------------------------------------------------------------ rules
FORMATS = ["auto", "json", "text", "querybuilder", "jsonlogic", "jquery"]


class _Instant(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.3
    name = "INSTANT"

    def convert(self, value: Any, param: Any, ctx: Any) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        try:
            parsed = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or time (2026-11-24T12:00Z)", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _rule_options(f: F) -> F:
    options = [
        click.argument("rule", required=False, metavar="[RULE]"),
        click.option(
            "-e", "--expr", metavar="TEXT", help="The rule itself (any format) instead of a file."
        ),
        click.option(
            "--format",
            "rule_format",
            type=click.Choice(FORMATS),
            default="auto",
            show_default=True,
            help="Rule format; auto reads native JSON or the text form.",
        ),
        click.option(
            "--now",
            type=_Instant(),
            help="The instant relative time is resolved at (ISO 8601; naive means UTC; "
            "default: the current time).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _rule_text(rule: str | None, expr: str | None) -> str:
    if (rule is None) == (expr is None):
        raise click.UsageError("give a RULE file (or - for stdin), or the rule with -e TEXT")
    if expr is not None:
        return expr
    assert rule is not None
    if rule == "-":
        return sys.stdin.read()
    if rule.lstrip().startswith(("{", "[")):  # the rule itself, as JSON
        return rule
    path = Path(rule)
    if not path.exists():
        raise click.BadParameter(f"no such file: {rule}", param_hint="RULE")
    if path.is_dir():
        raise click.BadParameter(f"{rule} is a directory", param_hint="RULE")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RuleError(f"{rule} is not UTF-8 text") from None


def _parse_rule(text: str, fmt: str, schema: Schema | None) -> Any:
    from .formats import from_jquery, from_jsonlogic, from_querybuilder, parse_text
    from .model import parse

    if fmt == "auto":
        fmt = "json" if text.lstrip().startswith(("{", "[")) else "text"
    if fmt == "json":
        return parse(text)
    if fmt == "text":
        return parse_text(text)
    if fmt == "querybuilder":
        return from_querybuilder(text)
    if fmt == "jsonlogic":
        return from_jsonlogic(text, schema)
    return from_jquery(text, schema)


def _read_rule(kw: dict[str, Any], src: _Source) -> Any:
    """The command line's rule: its text first (so "no such file" comes before any
    database work), then parsed in the chosen format."""
    text = _rule_text(kw.pop("rule"), kw.pop("expr"))
    return _parse_rule(text, kw.pop("rule_format"), src.schema)


# ------------------------------------------------------------------ the group
_ALIASES = {"check": "validate", "sql": "compile"}


class _Group(click.Group):
    """Aliases (``check``, ``sql``) and the exit code of each library error."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, _ALIASES.get(cmd_name, cmd_name))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RuleError as exc:
            _fail(str(exc), EXIT_INVALID)
        except UnsupportedError as exc:
            _fail(f"unsupported: {exc}", EXIT_UNSUPPORTED)
        except StoreError as exc:
            _fail(f"store error: {exc}", EXIT_STORE)
        except sa.exc.SQLAlchemyError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            _fail(f"database error: {first}", EXIT_STORE)
        except SegmentkitError as exc:
            _fail(f"error: {exc}", EXIT_INVALID)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    raise click.exceptions.Exit(code)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Exit codes: 0 ok, 1 invalid rule or input, 2 usage error, "
    "3 construct unsupported by the dialect, 4 store or database error. "
    "Aliases: check = validate, sql = compile. Docs: docs/cli.md.",
)
@click.version_option(package_name="segmentkit", prog_name="segmentkit")
def cli() -> None:
    """Segment rules for every database: validate, compile to SQL, count members,
    keep segments in a membership store.

    \b
    Try it:
      segmentkit demo
      segmentkit validate -e "country in ('DE', 'AT') and age >= 18"
      segmentkit compile rule.json --db sqlite:///crm.db --table contacts
      segmentkit members rule.json --db sqlite:///crm.db --limit 5
    """


@cli.command()
@_rule_options
@_source_options
def validate(**kw: Any) -> None:
    """Check a rule against the schema and print it in the text form.

    RULE is a file, - for stdin, or a JSON rule itself; -e gives the rule inline.
    Every problem is listed with a JSON pointer; the exit code is 1 if there is any.

    \b
    Example:
      segmentkit validate -e "age >= 18 and email ends with '@gmail.com' ignoring case"
      segmentkit check rule.json --db sqlite:///crm.db --table contacts
    """
    from .bind import bind
    from .formats import to_text

    src = _source(kw)
    rule = _read_rule(kw, src)
    bind(rule, src.schema, now=kw["now"])
    click.echo(f"ok: {to_text(rule)}")


@cli.command("compile")
@_rule_options
@click.option(
    "--dialect",
    type=click.Choice(_dialects(), case_sensitive=False),
    default="postgres",
    show_default=True,
    help="The SQL dialect.",
)
@click.option(
    "--select/--where",
    "select",
    default=True,
    show_default=True,
    help="The whole SELECT of the members' keys, or only the WHERE predicate.",
)
@click.option(
    "--inline",
    is_flag=True,
    help="Literals escaped into the text instead of parameters (for consoles, never for "
    "untrusted values).",
)
@_source_options
def compile_(**kw: Any) -> None:
    """Print the SQL of a rule for a dialect.

    Values are bound parameters, listed after the statement as an SQL comment;
    --inline writes escaped literals instead.

    \b
    Example:
      segmentkit compile rule.json --db sqlite:///crm.db --dialect sqlite
      echo "country = 'DE'" | segmentkit sql - --dialect duckdb --inline --where
    """
    from .compile.sql import to_sql

    src = _source(kw)
    rule = _read_rule(kw, src)
    schema, dialect, now, select = src.schema, kw["dialect"], kw["now"], kw["select"]
    if kw["inline"]:
        click.echo(to_sql(rule, schema, dialect, now, select=select, inline=True))
        return
    result = to_sql(rule, schema, dialect, now, select=select)
    click.echo(result.text)
    if result.params:
        params = json.dumps(result.params, default=str, ensure_ascii=False)
        click.echo(f"-- parameters ({result.paramstyle}): {params}")


@cli.command()
@_rule_options
@click.option(
    "--limit", type=click.IntRange(min=0), default=10, show_default=True, help="Rows to show."
)
@click.option("--json", "as_json", is_flag=True, help="Print the sample as JSON lines.")
@_source_options
def members(**kw: Any) -> None:
    """Count a rule's members in a database table and show a sample.

    \b
    Example:
      segmentkit members -e "vip is true" --db sqlite:///crm.db --table contacts --limit 5
    """
    from .compile.sqlalchemy import contacts_table, to_sqlalchemy

    src = _source(kw)
    engine = src.engine  # a usage error first if there is no --db
    rule = _read_rule(kw, src)
    schema = src.schema
    where = to_sqlalchemy(rule, schema, kw["now"])
    table = schema.sa_table if schema.sa_table is not None else contacts_table(schema)
    key = table.c[schema.key]
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one()
        rows = (
            conn.execute(sa.select(table).where(where).order_by(key).limit(kw["limit"]))
            .mappings()
            .all()
            if kw["limit"]
            else []
        )
    if kw["as_json"]:
        for row in rows:
            click.echo(json.dumps(dict(row), default=str, ensure_ascii=False))
        click.echo(f"{n} member{'s' if n != 1 else ''}", err=True)
        return
    click.echo(f"{n:,} member{'s' if n != 1 else ''}")
    if rows:
        click.echo(_text_table([dict(r) for r in rows]))


def _text_table(rows: list[dict[str, Any]], width: int = 24) -> str:
    def cell(v: Any) -> str:
        s = "" if v is None else str(v)
        s = s.replace("\n", " ")
        return s if len(s) <= width else s[: width - 1] + "…"

    cols = list(rows[0])
    cells = [[cell(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------ segments
@cli.group()
def segments() -> None:
    """Segments in a membership store: init, create, list, recalculate, export.

    The store's tables live in the --db database, beside the contacts table.

    \b
    Example:
      segmentkit segments init --db sqlite:///crm.db
      segmentkit segments create adults -e "age >= 18" --db sqlite:///crm.db
      segmentkit segments recalculate --db sqlite:///crm.db
      segmentkit segments list --db sqlite:///crm.db
      segmentkit segments export adults --db sqlite:///crm.db -o adults.csv
    """


def _store(src: _Source, *, schema: bool = True) -> Any:
    from .store import Store

    return Store(src.engine, src.schema if schema else None)


@segments.command("init")
@_source_options
def segments_init(**kw: Any) -> None:
    """Create the store's tables (quick start; production runs the migrations).

    \b
    Example:
      segmentkit segments init --db sqlite:///crm.db
    """
    src = _source(kw)
    _store(src, schema=False).create_all()
    click.echo("store tables created")


@segments.command("list")
@click.option("--status", type=click.Choice(["active", "inactive", "archived"]))
@_source_options
def segments_list(**kw: Any) -> None:
    """List the segments with their size and last calculation.

    \b
    Example:
      segmentkit segments list --db sqlite:///crm.db --status active
    """
    src = _source(kw)
    found = _store(src, schema=False).segments(status=kw["status"])
    if not found:
        click.echo("no segments")
        return
    rows = [
        {
            "id": s.id,
            "name": s.name,
            "type": s.type,
            "status": s.status,
            "members": "" if s.member_count is None else f"{s.member_count:,}",
            "calculated": ""
            if s.last_calculated_at is None
            else f"{s.last_calculated_at:%Y-%m-%d %H:%M}",
        }
        for s in found
    ]
    click.echo(_text_table(rows, width=40))


@segments.command("create")
@click.argument("segment_id", metavar="ID")
@_rule_options
@click.option("--name", default="", help="A display name.")
@click.option(
    "--type",
    "segment_type",
    type=click.Choice(["dynamic", "static", "hybrid"]),
    default="dynamic",
    show_default=True,
)
@click.option("--description", default="")
@_source_options
def segments_create(segment_id: str, **kw: Any) -> None:
    """Store a segment (its rule is validated against the contacts table).

    \b
    Example:
      segmentkit segments create dach -e "country in ('DE', 'AT', 'CH')" --name DACH \\
          --db sqlite:///crm.db --table contacts
    """
    src = _source(kw)
    store = _store(src)
    data: dict[str, Any] = {
        "id": segment_id,
        "name": kw["name"],
        "type": kw["segment_type"],
        "description": kw["description"],
    }
    if kw["rule"] is not None or kw["expr"] is not None:
        rule = _read_rule(kw, src)
        data["rule"] = rule.to_dict()
    kw.pop("now", None)
    segment = store.create(data)
    click.echo(f"created {segment.id}")


@segments.command("recalculate")
@click.argument("segment_ids", nargs=-1, metavar="[ID]...")
@click.option("--now", type=_Instant(), help="The instant to calculate as of (ISO 8601).")
@_source_options
def segments_recalculate(segment_ids: tuple[str, ...], **kw: Any) -> None:
    """Recalculate segments (default: every active one), with a progress bar.

    \b
    Example:
      segmentkit segments recalculate --db sqlite:///crm.db
      segmentkit segments recalculate dach adults --now 2026-11-24T12:00Z --db sqlite:///crm.db
    """
    src = _source(kw)
    store = _store(src)
    now = kw["now"] or dt.datetime.now(dt.UTC)
    if segment_ids:
        for sid in segment_ids:
            store.get(sid)  # an unknown id fails before anything runs
    ids = list(segment_ids) if segment_ids else None
    runs = _with_progress(store.recalculate_many, "recalculating", "recalculate_many", ids, now=now)
    rows = [
        {
            "segment": r.segment_id,
            "members": f"{r.member_count:,}" if r.member_count is not None else "",
            "added": f"{r.added:,}",
            "removed": f"{r.removed:,}",
            "status": r.status,
        }
        for r in runs
    ]
    click.echo(_text_table(rows, width=40) if rows else "nothing to recalculate")


def _with_progress(
    call: Callable[..., Any], label: str, operation: str, *args: Any, **kw: Any
) -> Any:
    """``call(*args, **kw)`` with a progress bar on stderr, when ``call`` takes the
    store's ``progress=`` callback (one :class:`~segmentkit.store.Progress` per step)."""
    try:
        takes_progress = "progress" in inspect.signature(call).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        takes_progress = False
    if not takes_progress:
        return call(*args, **kw)
    bar: Any = None
    shown = 0
    tty = sys.stderr.isatty()

    def progress(step: Any) -> None:
        nonlocal bar, shown
        if step.operation != operation or step.step == "done":
            return  # one bar: the segments of a batch, the rows of an export
        if step.total is None:  # rows of an export: a counter, on terminals only
            if tty:
                click.echo(f"\r{label}: {step.done:,}", nl=False, err=True)
            return
        if bar is None:
            bar = click.progressbar(length=step.total, label=label, file=sys.stderr)
            bar.__enter__()
        bar.update(step.done - shown, step.segment_id)
        shown = step.done

    try:
        return call(*args, progress=progress, **kw)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
        elif tty:
            click.echo("", err=True)


@segments.command("export")
@click.argument("segment_id", metavar="ID")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    default="-",
    help="The file to write (default: stdout).",
)
@click.option(
    "--format", "out_format", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True
)
@_source_options
def segments_export(segment_id: str, **kw: Any) -> None:
    """Write a segment's members (key and since when) as CSV or JSON lines.

    \b
    Example:
      segmentkit segments export dach --db sqlite:///crm.db -o dach.csv
    """
    src = _source(kw)
    store = _store(src, schema=False)
    store.get(segment_id)  # an unknown segment is an error, not an empty file
    export = store.export_csv if kw["out_format"] == "csv" else store.export_jsonl
    with click.open_file(kw["output"], "w", encoding="utf-8") as out:
        n = _with_progress(export, "exporting", "export", segment_id, out)
    click.echo(f"{n:,} member{'s' if n != 1 else ''} exported", err=True)


# ------------------------------------------------------------------ demo
@cli.command()
@click.option(
    "--db",
    default="segmentkit-demo.sqlite",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The SQLite file to (re)create.",
)
@click.option("--contacts", type=click.IntRange(min=1), default=20_000, show_default=True)
def demo(db: str, contacts: int) -> None:
    """Synthetic contacts in SQLite: segments, sizes, members, the store.

    A few segments over synthetic contacts, their sizes and sample members checked
    against the Python evaluator; then the membership store after 2 % of the contacts
    change.

    \b
    Example:
      segmentkit demo --contacts 5000
    """
    code = run_demo(db, contacts)
    if code:
        raise click.exceptions.Exit(code)


def _register_plugins() -> None:
    # The performance commands live in their own package; the CLI works without it.
    try:
        from .performance.cli import performance  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return
    cli.add_command(performance)


_register_plugins()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="segmentkit")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
