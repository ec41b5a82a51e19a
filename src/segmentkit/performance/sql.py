"""The SQL engine: the whole rollup as one statement run inside the database.

The statement is a sqlglot tree rendered per dialect by the project's SQL compiler
(SQLite, DuckDB, PostgreSQL, MariaDB/MySQL from one builder). Period boundaries are
bound as UTC instants computed in Python (:mod:`.periods`); no ``date_trunc``, no
session zone. Its parts, as common table expressions:

``periods``  ``(i, s, e)`` for the periods asked, contiguous, from parameters.
``days``/``pdays`` every UTC date each period touches: an instant finds its period by
             an equality join on its UTC date, then the exact bounds (a range join
             over all periods cost DuckDB four times as much at 2M events).
``segs``     the segment ids asked, from parameters.
``inr``      the history of those segments inside the periods.
``h``        each of those changes with the time of that contact's next change
             (``LEAD`` over ``at, id``).
``last``/``tie_id``/``member_before``/``first_in`` per contact, whether its last
             change before the periods (latest ``at``, then highest ``id``) is an
             addition, and its first change inside them: hash aggregates, so an
             incremental run never sorts the old history.
``iv``       membership intervals ``[a, r)``: an ``added`` change inside the periods
             and the next change (``r`` NULL: open; zero-length ones dropped), and a
             last change before the periods that is an ``added``, up to the first
             change inside them. Earlier intervals cannot reach into the periods.
``chg``      added/removed changes per period.
``ia``/``ir`` interval starts/ends per period (and how many exactly at its start).
``base``     members just before the first period.
``nx``       per period and contact: entered after the start (``n``), was a member
             at the start and left during the period (``x``) — what ``exposed``
             needs beyond the members at the start, counted distinct.
``act``, ``conv``, ``camp``  events joined to the interval containing them.

Members at each period's end are ``base`` plus a running sum (a window) of starts
minus ends; members at the start follow from it and the changes exactly at the
start. The result has one row per segment and period.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy.engine import Connection
from sqlglot import exp

from ..compile.sql import SqlQuery, render_statement
from ..store.tables import DEFAULT_TABLES, Tables
from ..types import FieldType
from .config import PerformanceConfig
from .periods import Period
from .rows import PerformanceRow, make_row

__all__ = ["build_rollup", "compute", "dialect_of", "rollup_query"]


class StatementCompiler(Protocol):
    """What a statement builder uses of the dialect's compiler."""

    name: str
    sqlglot_dialect: str
    naive_timestamp: str
    temporal_as_text: bool

    def param(self, index: int, field_type: FieldType) -> exp.Expression: ...


Build = Callable[[StatementCompiler], exp.Expression]


# --------------------------------------------------------------------- rendering
def render(build: Build, dialect: str, values: Sequence[Any]) -> SqlQuery:
    """Render ``build`` for ``dialect`` on the rule compiler (one builder, every dialect)."""
    return render_statement(build, dialect, values)  # type: ignore[arg-type]


def dialect_of(connection: Connection) -> str:
    """segmentkit's dialect name for a SQLAlchemy connection."""
    name = connection.dialect.name
    return {"postgresql": "postgres", "mariadb": "mysql"}.get(name, name)


# ----------------------------------------------------------------------- helpers
def _id(name: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=True)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=_id(name), table=_id(table) if table else None)


def _table(name: str, schema: str | None = None, alias: str | None = None) -> exp.Table:
    return exp.Table(
        this=_id(name),
        db=_id(schema) if schema else None,
        alias=exp.TableAlias(this=_id(alias)) if alias else None,
    )


def _num(n: int) -> exp.Expression:
    return exp.Literal.number(n)


def _as(e: exp.Expression, name: str) -> exp.Alias:
    return exp.Alias(this=e, alias=_id(name))


def _and(*conds: exp.Expression) -> exp.Expression:
    out = conds[0]
    for c in conds[1:]:
        out = exp.And(this=out, expression=c)
    return out


def _or(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return exp.Paren(this=exp.Or(this=a, expression=b))


def _is_null(e: exp.Expression) -> exp.Expression:
    return exp.Is(this=e, expression=exp.Null())


def _case_count(cond: exp.Expression) -> exp.Expression:
    return exp.Sum(this=exp.Case(ifs=[exp.If(this=cond, true=_num(1))], default=_num(0)))


def _zero(e: exp.Expression) -> exp.Expression:
    return exp.Coalesce(this=e, expressions=[_num(0)])


def _in(e: exp.Expression, items: list[exp.Expression]) -> exp.Expression:
    return exp.In(this=e, expressions=items)


def _within(t: exp.Expression, p: str) -> exp.Expression:
    """``s <= t < e`` of period alias ``p``."""
    return _and(
        exp.GTE(this=t, expression=_col("s", p)), exp.LT(this=t.copy(), expression=_col("e", p))
    )


#: Prefix of the statement's own table expressions (never a source table's name).
_CTE = "sk_perf_"


def _asc(e: exp.Expression) -> exp.Ordered:
    # Never NULL; stating the default NULL order keeps sqlglot from translating one
    # (MySQL cannot say NULLS LAST in a window).
    return exp.Ordered(this=e, nulls_first=True)


def _select(*cols: exp.Expression) -> exp.Select:
    return exp.Select(expressions=list(cols))


def _with(q: exp.Select, ctes: list[tuple[str, exp.Expression]], fenced: set[str]) -> exp.Select:
    q.set(
        "with_",
        exp.With(
            expressions=[
                exp.CTE(
                    this=body, alias=exp.TableAlias(this=_id(n)), materialized=n in fenced or None
                )
                for n, body in ctes
            ]
        ),
    )
    return q


# ----------------------------------------------------------------------- builder
class _Params:
    """Values in bind order; the builder asks the compiler for a placeholder each."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.types: list[FieldType] = []

    def add(self, value: Any, ftype: FieldType) -> int:
        self.values.append(value)
        self.types.append(ftype)
        return len(self.values) - 1


def build_rollup(
    config: PerformanceConfig,
    periods: Sequence[Period],
    segments: Sequence[str],
    tables: Tables = DEFAULT_TABLES,
    *,
    intervals: str | None = None,
    intervals_only: bool = False,
) -> tuple[Build, list[Any]]:
    """The statement builder and its parameter values (for :func:`render`).

    ``intervals_only`` builds just ``SELECT seg, k, a, r`` of the membership intervals;
    ``intervals`` names a (temporary) table holding them, read instead of computing
    them again (see :func:`compute` on MariaDB/MySQL)."""
    if not periods or not segments:
        raise ValueError("a rollup needs at least one period and one segment")
    for a, b in itertools.pairwise(periods):
        if a.end != b.start:
            raise ValueError("the periods of one rollup must be contiguous")
    params = _Params()
    bounds = [
        (params.add(p.start, FieldType.DATETIME), params.add(p.end, FieldType.DATETIME))
        for p in periods
    ]
    # Every UTC date each period touches: events find their period through an equality
    # join on the date (then the exact bounds), not a range join over all periods.
    day_slots: list[tuple[int, int]] = []
    for i, p in enumerate(periods):
        day = p.start.astimezone(dt.UTC).date()
        last = (p.end - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date()
        while day <= last:
            day_slots.append((i, params.add(day, FieldType.DATE)))
            day += dt.timedelta(days=1)
    seg_slots = [params.add(s, FieldType.STRING) for s in segments]
    lo_slot = bounds[0][0]
    hi_slot = bounds[-1][1]
    act = config.activity if config.wants("active") else None
    name_slots = [params.add(n, FieldType.STRING) for n in (act.events or ())] if act else []
    conv = (
        config.conversions
        if any(config.wants(m) for m in ("conversions", "converting", "conversion_rate", "revenue"))
        else None
    )
    camp = config.campaigns if config.wants("campaigns") else None
    hist = tables.history

    iv_name = intervals or _CTE + "iv"

    def build(c: StatementCompiler) -> exp.Expression:
        def ts(slot: int) -> exp.Expression:
            ph = c.param(slot, FieldType.DATETIME)
            if c.temporal_as_text:  # SQLite: text in SQLAlchemy's storage format
                return ph
            return exp.Cast(
                this=ph, to=exp.DataType.build(c.naive_timestamp, dialect=c.sqlglot_dialect)
            )

        def segs_in(e: exp.Expression) -> exp.Expression:
            return _in(e, [c.param(s, FieldType.STRING) for s in seg_slots])

        ctes: list[tuple[str, exp.Expression]] = []
        # periods(i, s, e)
        union: exp.Expression | None = None
        for i, (s, e) in enumerate(bounds):
            part = _select(_as(_num(i), "i"), _as(ts(s), "s"), _as(ts(e), "e"))
            union = (
                part if union is None else exp.Union(this=union, expression=part, distinct=False)
            )
        assert union is not None
        ctes.append((_CTE + "periods", union))
        union = None
        for i, slot in day_slots:
            ph = c.param(slot, FieldType.DATE)
            d = ph if c.temporal_as_text else exp.Cast(this=ph, to=exp.DataType.build("DATE"))
            part = _select(_as(d, "d"), _as(_num(i), "i"))
            union = (
                part if union is None else exp.Union(this=union, expression=part, distinct=False)
            )
        assert union is not None
        ctes.append((_CTE + "days", union))

        def utc_date(t: exp.Expression) -> exp.Expression:
            if c.temporal_as_text:  # 'YYYY-MM-DD HH:MM:SS.ffffff'
                return exp.Anonymous(this="SUBSTR", expressions=[t, _num(1), _num(10)])
            return exp.Cast(this=t, to=exp.DataType.build("DATE"))

        def in_p(t: exp.Expression, cond: exp.Expression | None = None) -> exp.Expression:
            """Row ``p`` of ``pdays`` is ``t``'s UTC date in a period containing ``t``
            (or meeting ``cond``): an equality join, then the exact bounds."""
            day = exp.EQ(this=_col("d", "p"), expression=utc_date(t.copy()))
            return _and(day, cond if cond is not None else _within(t.copy(), "p"))

        ctes.append(
            (
                _CTE + "pdays",
                _select(_col("d", "dd"), _col("i", "pp"), _col("s", "pp"), _col("e", "pp"))
                .from_(_table(_CTE + "days", alias="dd"), copy=False)
                .join(
                    _table(_CTE + "periods", alias="pp"),
                    on=exp.EQ(this=_col("i", "pp"), expression=_col("i", "dd")),
                    copy=False,
                ),
            )
        )

        # segs(seg)
        union = None
        for s in seg_slots:
            part = _select(_as(c.param(s, FieldType.STRING), "seg"))
            union = (
                part if union is None else exp.Union(this=union, expression=part, distinct=False)
            )
        assert union is not None
        ctes.append((_CTE + "segs", union))

        # The history that shapes the periods: the changes inside them, whose next
        # change is inside too (LEAD over them alone), and per contact the last change
        # before them, which matters only when it is an addition: that interval runs
        # to the contact's first change inside the periods, or is still open. Old
        # history is read through hash aggregates, never sorted.
        def hist_t(alias: str | None = None) -> exp.Table:
            return _table(hist.name, hist.schema, alias)

        def h_col(name: str, alias: str = "hs") -> exp.Column:
            return _col(name, alias)

        ctes.append(
            (
                _CTE + "inr",
                _select(
                    _as(h_col("segment_id"), "seg"),
                    _as(h_col("contact_key"), "k"),
                    _as(h_col("change"), "chg"),
                    _as(h_col("at"), "at"),
                    _as(h_col("id"), "id"),
                )
                .from_(hist_t("hs"), copy=False)
                .where(
                    _and(
                        segs_in(h_col("segment_id")),
                        exp.GTE(this=h_col("at"), expression=ts(lo_slot)),
                        exp.LT(this=h_col("at"), expression=ts(hi_slot)),
                    ),
                    copy=False,
                ),
            )
        )

        def latest(change: str) -> exp.Expression:
            when = exp.EQ(this=h_col("change"), expression=exp.Literal.string(change))
            return exp.Max(this=exp.Case(ifs=[exp.If(this=when, true=h_col("at"))]))

        # One hash aggregate over the old history: per contact, its latest addition
        # and latest removal. The later one decides; a tie (both at one instant,
        # rare) is settled by the highest id among that instant's changes.
        ctes.append(
            (
                _CTE + "last",
                _select(
                    _as(h_col("segment_id"), "seg"),
                    _as(h_col("contact_key"), "k"),
                    _as(latest("added"), "la"),
                    _as(latest("removed"), "lr"),
                )
                .from_(hist_t("hs"), copy=False)
                .where(
                    _and(
                        segs_in(h_col("segment_id")),
                        exp.LT(this=h_col("at"), expression=ts(lo_slot)),
                    ),
                    copy=False,
                )
                .group_by(h_col("segment_id"), h_col("contact_key"), copy=False),
            )
        )
        ctes.append(
            (
                _CTE + "tie_id",
                _select(_as(exp.Max(this=h_col("id")), "id"))
                .from_(_table(_CTE + "last", alias="l"), copy=False)
                .join(
                    hist_t("hs"),
                    on=_and(
                        exp.EQ(this=h_col("segment_id"), expression=_col("seg", "l")),
                        exp.EQ(this=h_col("contact_key"), expression=_col("k", "l")),
                        exp.EQ(this=h_col("at"), expression=_col("la", "l")),
                    ),
                    copy=False,
                )
                .where(exp.EQ(this=_col("la", "l"), expression=_col("lr", "l")), copy=False)
                .group_by(h_col("segment_id"), h_col("contact_key"), copy=False),
            )
        )
        won = (
            _select(_col("seg"), _col("k"), _as(_col("la"), "a"))
            .from_(_table(_CTE + "last"), copy=False)
            .where(
                _and(
                    exp.Not(this=_is_null(_col("la"))),
                    _or(_is_null(_col("lr")), exp.GT(this=_col("la"), expression=_col("lr"))),
                ),
                copy=False,
            )
        )
        tied = (
            _select(
                _as(h_col("segment_id"), "seg"),
                _as(h_col("contact_key"), "k"),
                _as(h_col("at"), "a"),
            )
            .from_(_table(_CTE + "tie_id", alias="t"), copy=False)
            .join(hist_t("hs"), on=exp.EQ(this=h_col("id"), expression=_col("id", "t")), copy=False)
            .where(exp.EQ(this=h_col("change"), expression=exp.Literal.string("added")), copy=False)
        )
        ctes.append((_CTE + "member_before", exp.Union(this=won, expression=tied, distinct=False)))
        ctes.append(
            (
                _CTE + "first_in",
                _select(_col("seg"), _col("k"), _as(exp.Min(this=_col("at")), "at"))
                .from_(_table(_CTE + "inr"), copy=False)
                .group_by(_col("seg"), _col("k"), copy=False),
            )
        )
        window = exp.Window(
            this=exp.Anonymous(this="LEAD", expressions=[_col("at")]),
            partition_by=[_col("seg"), _col("k")],
            order=exp.Order(expressions=[_asc(_col("at")), _asc(_col("id"))]),
        )
        ctes.append(
            (
                _CTE + "h",
                _select(_col("seg"), _col("k"), _col("chg"), _col("at"), _as(window, "nxt")).from_(
                    _table(_CTE + "inr"), copy=False
                ),
            )
        )
        inside = (
            _select(_col("seg"), _col("k"), _as(_col("at"), "a"), _as(_col("nxt"), "r"))
            .from_(_table(_CTE + "h"), copy=False)
            .where(
                _and(
                    exp.EQ(this=_col("chg"), expression=exp.Literal.string("added")),
                    _or(_is_null(_col("nxt")), exp.GT(this=_col("nxt"), expression=_col("at"))),
                ),
                copy=False,
            )
        )
        before = (
            _select(_col("seg", "m"), _col("k", "m"), _col("a", "m"), _as(_col("at", "f"), "r"))
            .from_(_table(_CTE + "member_before", alias="m"), copy=False)
            .join(
                _table(_CTE + "first_in", alias="f"),
                on=_and(
                    exp.EQ(this=_col("seg", "f"), expression=_col("seg", "m")),
                    exp.EQ(this=_col("k", "f"), expression=_col("k", "m")),
                ),
                join_type="LEFT",
                copy=False,
            )
        )
        ctes.append((_CTE + "iv", exp.Union(this=inside, expression=before, distinct=False)))
        if intervals_only:
            return _with(_select(exp.Star()).from_(_table(_CTE + "iv"), copy=False), ctes, set())
        if intervals is not None:
            derived = {_CTE + n for n in ("last", "tie_id", "member_before", "first_in", "iv")}
            ctes[:] = [(n, body) for n, body in ctes if n not in derived]
        ctes.append(
            (
                _CTE + "chg",
                _select(
                    _col("i", "p"),
                    _col("seg", "h"),
                    _as(
                        _case_count(
                            exp.EQ(this=_col("chg", "h"), expression=exp.Literal.string("added"))
                        ),
                        "added",
                    ),
                    _as(
                        _case_count(
                            exp.EQ(this=_col("chg", "h"), expression=exp.Literal.string("removed"))
                        ),
                        "removed",
                    ),
                )
                .from_(_table(_CTE + "h", alias="h"), copy=False)
                .join(_table(_CTE + "pdays", alias="p"), on=in_p(_col("at", "h")), copy=False)
                .group_by(_col("i", "p"), _col("seg", "h"), copy=False),
            )
        )
        for name, point, count, at_start in (("ia", "a", "n_a", "a0"), ("ir", "r", "n_r", "r0")):
            ctes.append(
                (
                    _CTE + name,
                    _select(
                        _col("i", "p"),
                        _col("seg", "v"),
                        _as(exp.Count(this=exp.Star()), count),
                        _as(
                            _case_count(exp.EQ(this=_col(point, "v"), expression=_col("s", "p"))),
                            at_start,
                        ),
                    )
                    .from_(_table(iv_name, alias="v"), copy=False)
                    .join(
                        _table(_CTE + "pdays", alias="p"),
                        on=in_p(_col(point, "v")),
                        copy=False,
                    )
                    .group_by(_col("i", "p"), _col("seg", "v"), copy=False),
                )
            )
        ctes.append(
            (
                _CTE + "base",
                _select(_col("seg"), _as(exp.Count(this=exp.Star()), "n"))
                .from_(_table(iv_name), copy=False)
                .where(
                    _and(
                        exp.LT(this=_col("a"), expression=ts(lo_slot)),
                        _or(_is_null(_col("r")), exp.GTE(this=_col("r"), expression=ts(lo_slot))),
                    ),
                    copy=False,
                )
                .group_by(_col("seg"), copy=False),
            )
        )

        def crossings(at: str, entering: bool, *extra: exp.Expression) -> exp.Select:
            """Intervals whose ``at`` end falls strictly inside a period: 1 in ``n`` for
            an entry (``a``), 1 in ``x`` for an exit (``r``)."""
            return (
                _select(
                    _col("i", "p"),
                    _col("seg", "v"),
                    _col("k", "v"),
                    _as(_num(int(entering)), "n"),
                    _as(_num(int(not entering)), "x"),
                )
                .from_(_table(iv_name, alias="v"), copy=False)
                .join(
                    _table(_CTE + "pdays", alias="p"),
                    on=in_p(
                        _col(at, "v"),
                        _and(
                            exp.GT(this=_col(at, "v"), expression=_col("s", "p")),
                            exp.LT(this=_col(at, "v"), expression=_col("e", "p")),
                            *extra,
                        ),
                    ),
                    copy=False,
                )
            )

        entered = crossings("a", True)
        left = crossings("r", False, exp.LTE(this=_col("a", "v"), expression=_col("s", "p")))
        ctes.append((_CTE + "nx_rows", exp.Union(this=entered, expression=left, distinct=False)))
        ctes.append(
            (
                _CTE + "nx_k",
                _select(
                    _col("i"),
                    _col("seg"),
                    _col("k"),
                    _as(exp.Max(this=_col("n")), "n"),
                    _as(exp.Max(this=_col("x")), "x"),
                )
                .from_(_table(_CTE + "nx_rows"), copy=False)
                .group_by(_col("i"), _col("seg"), _col("k"), copy=False),
            )
        )
        ctes.append(
            (
                _CTE + "nx",
                _select(
                    _col("i"),
                    _col("seg"),
                    _as(exp.Sum(this=_col("n")), "new_k"),
                    _as(exp.Sum(this=exp.Mul(this=_col("n"), expression=_col("x"))), "both_k"),
                )
                .from_(_table(_CTE + "nx_k"), copy=False)
                .group_by(_col("i"), _col("seg"), copy=False),
            )
        )

        # Events are first joined to the interval containing them, then to their
        # period. On PostgreSQL the first join is a MATERIALIZED CTE: planned on its
        # own it is a hash join on the contact; planned together with the period join,
        # whose selectivity PostgreSQL underestimates, it became a nested loop over
        # every interval (17.5 s instead of 0.35 s for one day of 200k events).
        def events(
            name: str,
            table: str,
            schema: str | None,
            key: str,
            time: str,
            revenue: str | None,
            aggs: list[exp.Expression],
            extra: exp.Expression | None,
        ) -> None:
            t = _col(time, "ev")
            cond = _and(
                exp.GTE(this=t, expression=ts(lo_slot)),
                exp.LT(this=t.copy(), expression=ts(hi_slot)),
            )
            if extra is not None:
                cond = _and(cond, extra)
            member = _and(
                exp.EQ(this=_col("k", "v"), expression=_col(key, "ev")),
                exp.LTE(this=_col("a", "v"), expression=t.copy()),
                _or(_is_null(_col("r", "v")), exp.LT(this=t.copy(), expression=_col("r", "v"))),
            )
            cols = [_col("seg", "v"), _as(_col(key, "ev"), "k"), _as(t.copy(), "t")]
            if revenue is not None:
                cols.append(_as(_col(revenue, "ev"), "rev"))
            attributed = (
                _select(*cols)
                .from_(_table(table, schema, "ev"), copy=False)
                .join(_table(iv_name, alias="v"), on=member, copy=False)
                .where(cond, copy=False)
            )
            ctes.append((name + "_m", attributed))
            if c.name == "postgres":
                fenced.add(name + "_m")
            ctes.append(
                (
                    name,
                    _select(_col("i", "p"), _col("seg", "m"), *aggs)
                    .from_(_table(name + "_m", alias="m"), copy=False)
                    .join(_table(_CTE + "pdays", alias="p"), on=in_p(_col("t", "m")), copy=False)
                    .group_by(_col("i", "p"), _col("seg", "m"), copy=False),
                )
            )

        fenced: set[str] = set()
        if act is not None:
            extra = None
            if act.events is not None:
                assert act.name is not None
                extra = _in(
                    _col(act.name, "ev"), [c.param(s, FieldType.STRING) for s in name_slots]
                )
            events(
                _CTE + "act",
                act.table,
                act.table_schema,
                act.key,
                act.time,
                None,
                [_as(exp.Count(this=exp.Distinct(expressions=[_col("k", "m")])), "active")],
                extra,
            )
        if conv is not None:
            aggs: list[exp.Expression] = [
                _as(exp.Count(this=exp.Star()), "conversions"),
                _as(exp.Count(this=exp.Distinct(expressions=[_col("k", "m")])), "converting"),
            ]
            if conv.revenue is not None:
                units = exp.Cast(
                    this=exp.Round(
                        this=exp.Mul(this=_col("rev", "m"), expression=_num(10**conv.revenue_scale))
                    ),
                    to=exp.DataType.build("BIGINT"),
                )
                aggs.append(_as(exp.Sum(this=units), "revenue"))
            events(
                _CTE + "conv",
                conv.table,
                conv.table_schema,
                conv.key,
                conv.time,
                conv.revenue,
                aggs,
                None,
            )
        if camp is not None:
            t = _col(camp.time, "cs")
            ctes.append(
                (
                    _CTE + "camp",
                    _select(
                        _col("i", "p"),
                        _as(_col(camp.segment, "cs"), "seg"),
                        _as(
                            exp.Count(this=exp.Distinct(expressions=[_col(camp.campaign, "cs")])),
                            "campaigns",
                        ),
                    )
                    .from_(_table(camp.table, camp.table_schema, "cs"), copy=False)
                    .join(_table(_CTE + "pdays", alias="p"), on=in_p(t), copy=False)
                    .where(segs_in(_col(camp.segment, "cs")), copy=False)
                    .group_by(_col("i", "p"), _col(camp.segment, "cs"), copy=False),
                )
            )

        net = exp.Sub(this=_zero(_col("n_a", "ia")), expression=_zero(_col("n_r", "ir")))
        running = exp.Window(
            this=exp.Sum(this=net),
            partition_by=[_col("seg", "g")],
            order=exp.Order(expressions=[_asc(_col("i", "g"))]),
            spec=exp.WindowSpec(
                kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
            ),
        )
        outs: list[exp.Expression] = [
            _col("seg", "g"),
            _col("i", "g"),
            _as(exp.Add(this=_zero(_col("n", "b")), expression=running), "members_end"),
            _as(net.copy(), "net"),
            _as(exp.Sub(this=_zero(_col("a0", "ia")), expression=_zero(_col("r0", "ir"))), "net0"),
            _as(_zero(_col("added", "chg")), "added"),
            _as(_zero(_col("removed", "chg")), "removed"),
            _as(_zero(_col("new_k", "nx")), "new_k"),
            _as(_zero(_col("both_k", "nx")), "both_k"),
        ]
        grid = (
            _select(_col("seg", "sg"), _col("i", "pp"))
            .from_(_table(_CTE + "segs", alias="sg"), copy=False)
            .join(_table(_CTE + "periods", alias="pp"), join_type="CROSS", copy=False)
        )
        ctes.append((_CTE + "grid", grid))
        q = _select().from_(_table(_CTE + "grid", alias="g"), copy=False)
        q = q.join(
            _table(_CTE + "base", alias="b"),
            on=exp.EQ(this=_col("seg", "b"), expression=_col("seg", "g")),
            join_type="LEFT",
            copy=False,
        )

        def on(alias: str) -> exp.Expression:
            return _and(
                exp.EQ(this=_col("i", alias), expression=_col("i", "g")),
                exp.EQ(this=_col("seg", alias), expression=_col("seg", "g")),
            )

        for alias in ("ia", "ir", "chg", "nx"):
            q = q.join(
                _table(_CTE + alias, alias=alias), on=on(alias), join_type="LEFT", copy=False
            )
        if act is not None:
            q = q.join(
                _table(_CTE + "act", alias="act"), on=on("act"), join_type="LEFT", copy=False
            )
            outs.append(_as(_zero(_col("active", "act")), "active"))
        if conv is not None:
            q = q.join(
                _table(_CTE + "conv", alias="conv"), on=on("conv"), join_type="LEFT", copy=False
            )
            outs.append(_as(_zero(_col("conversions", "conv")), "conversions"))
            outs.append(_as(_zero(_col("converting", "conv")), "converting"))
            if conv.revenue is not None:
                outs.append(_as(_zero(_col("revenue", "conv")), "revenue"))
        if camp is not None:
            q = q.join(
                _table(_CTE + "camp", alias="camp"), on=on("camp"), join_type="LEFT", copy=False
            )
            outs.append(_as(_zero(_col("campaigns", "camp")), "campaigns"))
        q.set("expressions", outs)
        q = q.order_by(_col("seg", "g"), _col("i", "g"), copy=False)
        return _with(q, ctes, fenced)

    return build, params.values


def rollup_query(
    config: PerformanceConfig,
    periods: Sequence[Period],
    segments: Sequence[str],
    dialect: str,
    tables: Tables = DEFAULT_TABLES,
    **kw: Any,
) -> SqlQuery:
    """The rollup statement for ``dialect`` with its bound parameters."""
    build, values = build_rollup(config, periods, segments, tables, **kw)
    return render(build, dialect, values)


def _run(connection: Connection, q: SqlQuery) -> Any:
    params = tuple(q.params) if isinstance(q.params, list) else q.params
    return connection.exec_driver_sql(q.text, params)


def compute(
    connection: Connection,
    config: PerformanceConfig,
    periods: Sequence[Period],
    segments: Sequence[str],
    tables: Tables = DEFAULT_TABLES,
) -> list[PerformanceRow]:
    """Run the rollup on ``connection``: one row per segment and period (segments in
    the given order, periods in order). ``periods`` must be contiguous."""
    if not periods or not segments:
        return []
    dialect = dialect_of(connection)
    got: dict[tuple[str, int], dict[str, Any]] = {}
    if dialect != "mysql":
        _collect(_run(connection, rollup_query(config, periods, segments, dialect, tables)), got)
    else:
        # MariaDB/MySQL compute a CTE again for every reference to it: the intervals,
        # read by seven parts of the statement, made one day over 62k history rows and
        # 200k events take 18.8 s. In an indexed temporary table first: 3.6 s.
        name = f"sk_perf_iv_{uuid.uuid4().hex[:16]}"
        first = rollup_query(config, periods, segments, dialect, tables, intervals_only=True)
        _run(
            connection,
            SqlQuery(
                f"CREATE TEMPORARY TABLE {name} (INDEX (k), INDEX (seg)) AS {first.text}",
                first.params,
                first.dialect,
                first.paramstyle,
            ),
        )
        try:
            q = rollup_query(config, periods, segments, dialect, tables, intervals=name)
            _collect(_run(connection, q), got)
        finally:
            connection.exec_driver_sql(f"DROP TEMPORARY TABLE IF EXISTS {name}")
    order = {s: n for n, s in enumerate(segments)}
    out: list[PerformanceRow] = []
    for seg in sorted({s for s, _ in got} | set(segments), key=lambda s: order.get(s, len(order))):
        if seg not in order:
            continue
        for i, period in enumerate(periods):
            out.append(make_row(config, seg, period, _counts(got[(seg, i)])))
    return out


def _collect(result: Any, got: dict[tuple[str, int], dict[str, Any]]) -> None:
    names = list(result.keys())
    for raw in result:
        rec = dict(zip(names, raw, strict=True))
        got[(str(rec["seg"]), int(rec["i"]))] = rec


def _counts(rec: dict[str, Any]) -> dict[str, int]:
    members_end = int(rec["members_end"])
    members_start = members_end - int(rec["net"]) + int(rec["net0"])
    counts = {
        "members_start": members_start,
        "members_end": members_end,
        "added": int(rec["added"]),
        "removed": int(rec["removed"]),
        "exposed": members_start + int(rec["new_k"]) - int(rec["both_k"]),
    }
    for name in ("active", "conversions", "converting", "revenue", "campaigns"):
        counts[name] = int(rec.get(name) or 0)
    return counts
