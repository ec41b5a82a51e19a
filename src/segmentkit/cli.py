"""The ``segmentkit`` command: a demo on an embedded SQLite file, and rule utilities.

segmentkit demo [--db FILE] [--contacts N]    synthetic contacts, segments, sizes, members
segmentkit sql RULE [--dialect D] [--inline]  the SQL of a rule (JSON) over the demo schema
segmentkit check RULE                         validate a rule (JSON) against the demo schema
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .errors import RuleError, SegmentkitError
from .schema import Schema

__all__ = ["demo_schema", "demo_table", "main"]

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


def _demo(args: argparse.Namespace) -> int:
    from .compile.python import compile_python
    from .compile.sqlalchemy import members_select

    path = Path(args.db)
    if path.exists():
        path.unlink()
    engine = sa.create_engine(f"sqlite:///{path}")
    table = demo_table()
    table.metadata.create_all(engine)
    rows = synthetic_contacts(args.contacts)
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


def _load_rule(text: str) -> Any:
    candidate = Path(text)
    if not text.lstrip().startswith("{") and candidate.exists():
        return candidate.read_text(encoding="utf-8")
    return text


def _sql(args: argparse.Namespace) -> int:
    from .compile.sql import to_sql

    result = to_sql(
        _load_rule(args.rule), demo_schema(), dialect=args.dialect, now=NOW, inline=args.inline
    )
    if isinstance(result, str):
        print(result)
    else:
        print(result.text)
        print(json.dumps(result.params, default=str, ensure_ascii=False))
    return 0


def _check(args: argparse.Namespace) -> int:
    from .bind import bind

    bind(_load_rule(args.rule), demo_schema(), now=NOW)
    print("ok")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="segmentkit", description=__doc__.splitlines()[0] if __doc__ else None
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="synthetic contacts in SQLite, a few segments, their sizes and members"
    )
    demo.add_argument("--db", default="segmentkit-demo.sqlite", help="SQLite file to (re)create")
    demo.add_argument("--contacts", type=int, default=20_000)
    demo.set_defaults(run=_demo)
    sql = sub.add_parser(
        "sql", help="print the SQL of a rule (JSON text or file) over the demo schema"
    )
    sql.add_argument("rule")
    sql.add_argument("--dialect", default="sqlite")
    sql.add_argument(
        "--inline", action="store_true", help="inline escaped literals (for consoles only)"
    )
    sql.set_defaults(run=_sql)
    check = sub.add_parser(
        "check", help="validate a rule (JSON text or file) against the demo schema"
    )
    check.add_argument("rule")
    check.set_defaults(run=_check)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except RuleError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SegmentkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
