"""How segmentkit's objects look: short plain ``repr`` and HTML for notebooks.

The classes keep two tiny hooks (``__repr__`` and ``_repr_html_``) that call the
functions here, so what an object looks like is decided in one module: rules (text form
and a readable tree), bound rules, schemas, SQL (:func:`show_sql`: syntax-highlighted,
several dialects side by side), segments, runs, diffs, the store and
:class:`~segmentkit.frames.FrameMembers`.

Every string that came from a user — field names, values, segment names, SQL — is
HTML-escaped. Highlighting uses pygments when it is installed (the ``notebook`` extra)
and plain escaped text otherwise. Rendering never raises: a part that cannot be shown
says why instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

__all__ = [
    "SqlView",
    "bound_html",
    "bound_text",
    "diff_html",
    "rule_html",
    "rule_repr",
    "rule_text",
    "rule_tree",
    "run_html",
    "run_text",
    "runs_html",
    "schema_html",
    "segment_html",
    "segment_text",
    "show_sql",
    "store_html",
    "store_text",
]

_SHORT = 120  # characters of a rule's text form in a plain repr

_CSS = (
    "font-family:-apple-system,'Segoe UI',Roboto,sans-serif;font-size:13px;line-height:1.45;"
    "color:#1f2328;background:#fff;border:1px solid #d0d7de;border-radius:6px;"
    "padding:10px 14px;max-width:100%;overflow-x:auto"
)
_TABLE = "border-collapse:collapse;margin:6px 0;font-size:inherit;color:inherit"
_TH = "text-align:left;padding:3px 10px 3px 0;border-bottom:1px solid #d0d7de;color:#57606a"
_TD = "padding:3px 10px 3px 0;border-bottom:1px solid #eaeef2;vertical-align:top"
_CODE = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px"
_MUTED = "color:#57606a"
_BADGE = "display:inline-block;padding:0 6px;border-radius:10px;font-size:11px;margin-left:4px;"
_BADGES = {
    "active": "background:#dafbe1;color:#116329",
    "succeeded": "background:#dafbe1;color:#116329",
    "inactive": "background:#eaeef2;color:#57606a",
    "archived": "background:#eaeef2;color:#57606a",
    "failed": "background:#ffebe9;color:#a40e26",
    "dynamic": "background:#ddf4ff;color:#0550ae",
    "static": "background:#fbefff;color:#6e40c9",
    "hybrid": "background:#fff8c5;color:#7d4e00",
}


# ------------------------------------------------------------------ helpers
def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _box(title: str, body: str) -> str:
    return f'<div class="sk-repr" style="{_CSS}"><div style="font-weight:600">{title}</div>{body}</div>'


def _badge(word: str) -> str:
    return f'<span style="{_BADGE}{_BADGES.get(word, _BADGES["inactive"])}">{_e(word)}</span>'


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """An HTML table; ``rows`` hold HTML already escaped by the caller."""
    head = "".join(f'<th style="{_TH}">{_e(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_TD}">{cell}</td>' for cell in row) + "</tr>" for row in rows
    )
    return f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _code(text: str) -> str:
    return f'<code style="{_CODE}">{_e(text)}</code>'


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return f"{value:%Y-%m-%d %H:%M}" + (" UTC" if value.utcoffset() == dt.timedelta(0) else "")


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _clip(text: str, limit: int = _SHORT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _safe(render: Any, *args: Any) -> str:
    try:
        return str(render(*args))
    except Exception as exc:  # a repr must not raise; say what went wrong instead
        return f'<span style="color:#a40e26">({_e(type(exc).__name__)}: {_e(exc)})</span>'


# ------------------------------------------------------------------ rules
def rule_text(rule: Any) -> str:
    """The rule in the text form (its JSON when a value has no text form)."""
    return str(rule)  # the node's __str__: the text form, else its JSON


def rule_repr(rule: Any) -> str:
    return f"<{type(rule).__name__}: {_clip(rule_text(rule))}>"


def rule_tree(rule: Any, indent: str = "") -> str:
    """A readable tree of the rule, one node per line (groups say ALL/ANY of)."""
    from .model import Group

    lines: list[str] = []

    def walk(node: Any, depth: int) -> None:
        pad = indent + "  " * depth
        if isinstance(node, Group):
            word = "ALL of" if node.combinator == "and" else "ANY of"
            lines.append(f"{pad}{'NOT ' if node.not_ else ''}{word}:")
            for child in node.rules:
                walk(child, depth + 1)
            if not node.rules:
                lines.append(f"{pad}  (nothing: {'true' if node.combinator == 'and' else 'false'})")
        else:
            lines.append(f"{pad}- {rule_text(node)}")

    walk(rule, 0)
    return "\n".join(lines)


def _tree_html(node: Any) -> str:
    from .model import Group

    if isinstance(node, Group):
        word = "ALL of" if node.combinator == "and" else "ANY of"
        head = f"<b>{'NOT ' if node.not_ else ''}{word}</b>"
        items = "".join(f"<li>{_tree_html(child)}</li>" for child in node.rules)
        if not node.rules:
            items = f'<li style="{_MUTED}">nothing ({"true" if node.combinator == "and" else "false"})</li>'
        return f'{head}<ul style="margin:2px 0;padding-left:20px">{items}</ul>'
    return _code(rule_text(node))


def rule_html(rule: Any) -> str:
    title = f"{_e(type(rule).__name__)} {_e(_clip(rule_text(rule), 80))}"
    body = f'<div style="margin:6px 0">{_code(rule_text(rule))}</div>' + _tree_html(rule)
    return _box(title, body)


# ------------------------------------------------------------------ bound rules
def _primitive(node: Any) -> str:
    if isinstance(node, enum.Enum):
        return repr(node.value)
    if isinstance(node, dt.datetime | dt.date):
        return node.isoformat()
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        name = type(node).__name__
        if name == "FieldRef":
            return str(getattr(getattr(node, "field", None), "name", node))
        if name == "Param":
            value = getattr(node, "value", node)
            return _primitive(value) if isinstance(value, dt.date | enum.Enum) else repr(value)
        parts = []
        for f in dataclasses.fields(node):
            if not f.repr:
                continue
            value = getattr(node, f.name)
            if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
                continue
            parts.append(f"{f.name}={_primitive(value)}")
        return f"{name}({', '.join(parts)})"
    if isinstance(node, str | int | float | bool) or node is None:
        return repr(node)
    if isinstance(node, tuple | list | frozenset | set):
        items = list(node)
        shown = ", ".join(_primitive(i) for i in items[:8])
        return f"[{shown}{', …' if len(items) > 8 else ''}]"
    return _clip(repr(node), 60)


def _primitive_lines(node: Any, depth: int = 0) -> list[str]:
    children = getattr(node, "items", None)
    pad = "  " * depth
    if isinstance(children, tuple) and all(dataclasses.is_dataclass(c) for c in children):
        out = [f"{pad}{type(node).__name__}:"]
        for child in children:
            out.extend(_primitive_lines(child, depth + 1))
        return out
    return [f"{pad}{_primitive(node)}"]


def bound_text(bound: Any) -> str:
    root = bound.predicate
    items = getattr(root, "items", None)
    shape = (
        f"{type(root).__name__} of {len(items)}" if isinstance(items, tuple) else _primitive(root)
    )
    return f"<BoundRule on {bound.schema.table!r} as of {_when(bound.now)}: {_clip(shape, 80)}>"


def bound_html(bound: Any) -> str:
    tree = "\n".join(_primitive_lines(bound.predicate))
    body = (
        f'<div style="{_MUTED}">as of {_e(_when(bound.now))} · table {_code(bound.schema.table)}'
        + (f" · segments {_e(', '.join(sorted(bound.segments)))}" if bound.segments else "")
        + f'</div><pre style="{_CODE};margin:6px 0">{_e(tree)}</pre>'
    )
    return _box("BoundRule", body)


# ------------------------------------------------------------------ schemas
def schema_html(schema: Any) -> str:
    rows = []
    for f in schema:
        where = f.column_name
        if f.tags is not None:
            where += (
                f" (tags: {getattr(f.tags, 'value', None) or getattr(f.tags, 'table', f.tags)})"
            )
        extra = []
        if f.enum:
            extra.append(
                "one of " + ", ".join(map(repr, f.enum[:10])) + (" …" if len(f.enum) > 10 else "")
            )
        if f.timezone:
            extra.append(f"zone {f.timezone}")
        if f.type.value == "datetime" and not f.naive:
            extra.append("zone-aware")
        rows.append(
            [
                _code(f.name) + (" <b>key</b>" if f.name == schema.key else ""),
                _e(f.type.value),
                _code(where),
                _e(f.label or ""),
                _e("; ".join(extra)),
            ]
        )
    zone = f" · zone {_e(schema.timezone)}" if schema.timezone else ""
    title = f'Schema {_e(schema.table)} <span style="{_MUTED};font-weight:400">key {_e(schema.key)} · {len(schema)} fields{zone}</span>'
    return _box(title, _table(["field", "type", "column", "label", "notes"], rows))


# ------------------------------------------------------------------ SQL
def _highlight(sql: str) -> str:
    try:
        from pygments import highlight  # type: ignore[import-untyped,unused-ignore]
        from pygments.formatters import (  # type: ignore[import-untyped,unused-ignore]
            HtmlFormatter,
        )
        from pygments.lexers import SqlLexer  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return f'<pre style="{_CODE};margin:0">{_e(sql)}</pre>'
    formatter = HtmlFormatter(noclasses=True, nowrap=True, style="friendly")
    return f'<pre style="{_CODE};margin:0;white-space:pre-wrap">{highlight(sql, SqlLexer(), formatter)}</pre>'


def _pretty(sql: str, dialect: str) -> str:
    """Line breaks before the main clauses (text only: the SQL itself is unchanged)."""
    for word in (" FROM ", " WHERE ", " AND ", " OR "):
        sql = sql.replace(
            word, "\n" + ("  " if word in (" AND ", " OR ") else "") + word.strip() + " "
        )
    return sql


@dataclasses.dataclass(frozen=True)
class SqlView:
    """The SQL of one rule in several dialects; renders side by side in a notebook."""

    sql: dict[str, str]
    params: dict[str, Any]
    errors: dict[str, str]
    inline: bool = False

    def __repr__(self) -> str:
        parts = []
        for dialect in [*self.sql, *self.errors]:
            text = self.sql.get(dialect) or f"({self.errors[dialect]})"
            parts.append(f"-- {dialect}\n{text}")
        return "\n\n".join(parts)

    def _repr_html_(self) -> str:
        cells = []
        for dialect in [*self.sql, *self.errors]:
            if dialect in self.sql:
                text = self.sql[dialect]
                # Inline literals may hold " AND ": only bound SQL is broken into lines.
                inner = _highlight(text if self.inline else _pretty(text, dialect))
                params = self.params.get(dialect)
                if params:
                    inner += f'<div style="{_MUTED};{_CODE};margin-top:4px">params: {_e(_json(params))}</div>'
            else:
                inner = f'<div style="color:#a40e26">{_e(self.errors[dialect])}</div>'
            cells.append(
                f'<div style="flex:1 1 280px;min-width:260px;border:1px solid #eaeef2;'
                f'border-radius:4px;padding:6px 8px"><div style="font-weight:600;'
                f'margin-bottom:4px">{_e(dialect)}</div>{inner}</div>'
            )
        body = f'<div style="display:flex;flex-wrap:wrap;gap:8px;margin-top:6px">{"".join(cells)}</div>'
        return _box("SQL", body)


def show_sql(
    rule: Any,
    schema: Any,
    dialects: Sequence[str] = ("postgres", "mysql", "sqlite", "duckdb"),
    *,
    now: dt.datetime | None = None,
    select: bool = True,
    inline: bool = False,
) -> SqlView:
    """The SQL of ``rule`` in each of ``dialects``, as one object that shows them side by
    side (syntax-highlighted) in a notebook and as text elsewhere.

    The rule is bound once (so an invalid rule raises ``RuleError`` here); a dialect that
    cannot express it shows the ``UnsupportedError`` message in its column.
    """
    from .bind import bind
    from .compile.sql import to_sql
    from .errors import UnsupportedError

    bound = bind(rule, schema, now=now)
    sql: dict[str, str] = {}
    params: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for dialect in dialects:
        try:
            if inline:
                sql[dialect] = to_sql(bound, schema, dialect, select=select, inline=True)
            else:
                query = to_sql(bound, schema, dialect, select=select)
                sql[dialect], params[dialect] = query.text, query.params
        except UnsupportedError as exc:
            errors[dialect] = str(exc)
    return SqlView(sql, params, errors, inline)


# ------------------------------------------------------------------ segments and runs
def segment_text(segment: Any) -> str:
    size = "" if segment.member_count is None else f", {segment.member_count:,} members"
    rule = f": {_clip(rule_text(segment.rule), 80)}" if segment.rule is not None else ""
    return f"<Segment {segment.id!r} {segment.type} {segment.status}{size}{rule}>"


def segment_html(segment: Any) -> str:
    title = f"{_e(segment.name or segment.id)} {_badge(segment.type)}{_badge(segment.status)}"
    facts = [
        ("id", _code(segment.id)),
        ("members", "—" if segment.member_count is None else f"{segment.member_count:,}"),
        ("calculated", _e(_when(segment.last_calculated_at))),
    ]
    if segment.description:
        facts.append(("description", _e(segment.description)))
    if segment.include or segment.exclude:
        facts.append(
            ("manual", f"{len(segment.include):,} included, {len(segment.exclude):,} excluded")
        )
    rows = "".join(
        f'<tr><td style="{_TD};{_MUTED}">{k}</td><td style="{_TD}">{v}</td></tr>' for k, v in facts
    )
    body = f'<table style="{_TABLE}">{rows}</table>'
    if segment.rule is not None:
        body += _tree_html(segment.rule)
    return _box(title, body)


def run_text(run: Any) -> str:
    size = "?" if run.member_count is None else f"{run.member_count:,}"
    tail = f" error={_clip(run.error, 60)!r}" if run.error else ""
    return (
        f"<Run {run.id} {run.segment_id!r} {run.status} as of {_when(run.as_of)}: "
        f"+{run.added:,} -{run.removed:,} = {size}{tail}>"
    )


def _run_row(run: Any) -> list[str]:
    took = ""
    if run.finished_at is not None:
        took = f"{(run.finished_at - run.started_at).total_seconds():.2f} s"
    return [
        _e(run.id),
        _code(run.segment_id),
        _badge(run.status),
        _e(_when(run.as_of)),
        f"+{run.added:,}",
        f"-{run.removed:,}",
        "—" if run.member_count is None else f"{run.member_count:,}",
        _e(took),
        _e(_clip(run.error or "", 80)),
    ]


_RUN_HEADER = ["run", "segment", "status", "as of", "added", "removed", "members", "took", "error"]


def run_html(run: Any) -> str:
    return _box("Run", _table(_RUN_HEADER, [_run_row(run)]))


def runs_html(runs: Iterable[Any]) -> str:
    """A table of runs (``store.runs(id)``) for a notebook cell:
    ``IPython.display.HTML(runs_html(runs))``."""
    return _box("Runs", _table(_RUN_HEADER, [_run_row(r) for r in runs]))


def diff_html(diff: Any) -> str:
    def sample(keys: Any) -> str:
        items = sorted(keys, key=repr)[:10]
        more = " …" if len(keys) > 10 else ""
        return _e(", ".join(map(repr, items)) + more)

    rows = [
        ["added", f"{diff.n_added:,}", sample(diff.added)],
        ["removed", f"{diff.n_removed:,}", sample(diff.removed)],
        ["unchanged", f"{diff.unchanged:,}", ""],
    ]
    return _box("Diff", _table(["", "keys", "first keys"], rows))


# ------------------------------------------------------------------ the store
def _url(store: Any) -> str:
    return str(store.engine.url.render_as_string(hide_password=True))


def store_text(store: Any) -> str:
    return f"<Store {_url(store)}>"


def store_html(store: Any) -> str:
    def listing() -> str:
        found = store.segments()
        if not found:
            return f'<div style="{_MUTED}">no segments</div>'
        rows = [
            [
                _code(s.id),
                _e(s.name),
                _badge(s.type),
                _badge(s.status),
                "—" if s.member_count is None else f"{s.member_count:,}",
                _e(_when(s.last_calculated_at)),
                _code(_clip(rule_text(s.rule), 60)) if s.rule is not None else "",
            ]
            for s in found[:50]
        ]
        more = (
            f'<div style="{_MUTED}">… and {len(found) - 50} more</div>' if len(found) > 50 else ""
        )
        return (
            _table(["id", "name", "type", "status", "members", "calculated", "rule"], rows) + more
        )

    return _box(f"Store {_code(_url(store))}", _safe(listing))


# ------------------------------------------------------------------ frames
def frame_members_text(result: Any) -> str:
    first = result.keys[:10]
    first = first.tolist() if hasattr(first, "tolist") else list(first)
    keys = ", ".join(map(repr, first)) + (", …" if result.count > 10 else "")
    return f"<FrameMembers {result.count:,} members: {keys}>"


def frame_members_html(result: Any) -> str:
    preview = result.preview
    to_html = getattr(preview, "_repr_html_", None)
    shown = _safe(to_html) if callable(to_html) else f"<pre>{_e(preview)}</pre>"
    return _box(f"{result.count:,} members", shown)
