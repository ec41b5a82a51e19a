"""Flat rule rows: the classic ``SegmentRule`` table (field, operator, value,
logical_operator, order) to a rule tree, and back.

Rows are read in ``order`` (list order when there is no ``order``). Each row's
``logical_operator`` (``AND``/``OR``) joins it to the rows *before* it, as a chain of
``where``/``orWhere`` calls does, and AND binds tighter than OR::

    a  AND b  OR c  AND d     ->  (a and b) or (c and d)

The first row's logical operator joins nothing and is ignored. Rows may be mappings
or objects with attributes (ORM instances); other columns (``id``, ``segment_id``,
timestamps ...) are ignored, an ``ignore_case`` column is honoured. Values are kept
as given (``json_values=True`` decodes string values as JSON first, for tables that
store the value as JSON text). Operators are segmentkit's names.

Refused: no rows (an empty rule would match everyone), a logical operator other
than AND/OR, duplicate or non-integer ``order`` values, a missing field or operator.
Export refuses rules that are not an OR of ANDs of conditions (negated groups,
segment references, event conditions, empty groups): rows cannot express them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from ..errors import RuleError, pointer
from ..model import MAX_NODES, Condition, Group, json_loads, parse
from ..schema import Schema
from ._common import Node, PathMap, Problems, as_rule, check_tree_depth, show

__all__ = ["from_rows", "to_rows"]

_MISSING = object()
# Every set of rows within this limit makes a rule within the node limit: n rows in
# and-runs of two joined by or make n conditions, n/2 groups and the root group.
MAX_ROWS = 2 * (MAX_NODES - 1) // 3  # 6,666


def _get(row: Any, key: str) -> Any:
    value = row.get(key, _MISSING) if isinstance(row, Mapping) else getattr(row, key, _MISSING)
    if isinstance(value, Decimal) and value.is_nan():
        # A NaN decimal raises InvalidOperation in any comparison: refuse it here.
        return _NAN
    return value


class _NotANumber:
    def __repr__(self) -> str:
        return "a decimal NaN"


_NAN = _NotANumber()


def from_rows(
    rows: Iterable[Any], schema: Schema | None = None, *, json_values: bool = False
) -> Node:
    """Build a rule from flat rule rows (AND binds tighter than OR).

    Errors point at ``/<row index in the input>/<column>``.
    """
    problems = Problems()
    if isinstance(rows, str | bytes | bytearray | Mapping) or not isinstance(rows, Iterable):
        raise RuleError(f"expected a list of rule rows, got {type(rows).__name__}")
    items = list(rows)
    if len(items) > MAX_ROWS:
        raise RuleError(f"more than {MAX_ROWS:,} rule rows")
    if not items:
        raise RuleError("no rule rows: an empty rule would match every contact")
    orders = [_get(r, "order") for r in items]
    indexed = list(enumerate(items))
    if any(o is not _MISSING and o is not None for o in orders):
        seen: dict[Any, int] = {}
        for i, o in enumerate(orders):
            if isinstance(o, bool) or not isinstance(o, int):
                problems.add(
                    (i, "order"),
                    f"'order' must be an integer, got {show(o) if o is not _MISSING else 'nothing'}",
                )
            elif o in seen:
                problems.add(
                    (i, "order"),
                    f"order {o} is also the order of row {seen[o]}: the sequence is ambiguous",
                )
            else:
                seen[o] = i
        if not problems:
            indexed.sort(key=lambda pair: orders[pair[0]])
    paths = PathMap()
    chains: list[list[tuple[int, dict[str, Any]]]] = [[]]
    for position, (i, row) in enumerate(indexed):
        join = _get(row, "logical_operator")
        text = join.upper() if isinstance(join, str) else None
        if text not in ("AND", "OR") and not (position == 0 and (join is None or join is _MISSING)):
            problems.add(
                (i, "logical_operator"),
                f"logical_operator must be 'AND' or 'OR', got {show(join) if join is not _MISSING else 'nothing'}",
            )
        if position and text == "OR":
            chains.append([])
        cond = _condition(row, i, problems, json_values)
        if cond is not None:
            chains[-1].append((i, cond))
    problems.raise_if_any()

    def group(
        chain: list[tuple[int, dict[str, Any]]], native: tuple[str | int, ...]
    ) -> dict[str, Any]:
        for k, (i, _) in enumerate(chain):
            paths.record((*native, "rules", k), (i,))
        return {"combinator": "and", "rules": [c for _, c in chain]}

    if len(chains) == 1:
        native = group(chains[0], ())
    else:
        out = []
        for k, chain in enumerate(chains):
            if len(chain) == 1:
                paths.record(("rules", k), (chain[0][0],))
                out.append(chain[0][1])
            else:
                out.append(group(chain, ("rules", k)))
        native = {"combinator": "or", "rules": out}
    return as_rule(native, paths, schema=schema, keep_suffix=True)


def _condition(row: Any, i: int, problems: Problems, json_values: bool) -> dict[str, Any] | None:
    field, operator, value = _get(row, "field"), _get(row, "operator"), _get(row, "value")
    ok = True
    if not isinstance(field, str) or not field:
        problems.add((i, "field"), "'field' must be a non-empty string")
        ok = False
    if not isinstance(operator, str) or not operator:
        problems.add((i, "operator"), "'operator' must be a non-empty string")
        ok = False
    if not ok:
        return None
    out: dict[str, Any] = {"field": field, "operator": operator}
    if json_values and isinstance(value, str):
        try:
            value = json_loads(value, "value", pointer((i, "value")))
        except RuleError as exc:
            problems.add((i, "value"), f"{exc.errors[0].message}: {show(value)}")
            return None
    if value is _NAN:
        problems.add((i, "value"), "a decimal NaN is not a value")
        return None
    if value is not _MISSING and value is not None:
        out["value"] = value
    ignore_case = _get(row, "ignore_case")
    if not (ignore_case is _MISSING or ignore_case is None or ignore_case is False):
        if ignore_case is not True:
            problems.add((i, "ignore_case"), "'ignore_case' must be true or false")
        else:
            out["ignore_case"] = True
    return out


def to_rows(rule: Any, *, json_values: bool = False) -> list[dict[str, Any]]:
    """Flat rule rows for a rule that is an OR of ANDs of conditions.

    Nested non-negated groups of the same combinator are flattened (same meaning).
    ``json_values=True`` stores every value as JSON text.
    """
    tree = parse(rule)
    check_tree_depth(tree)
    problems = Problems()

    def leaves(
        node: Node, combinator: str, path: tuple[str | int, ...]
    ) -> list[tuple[Node, tuple[str | int, ...]]]:
        if (
            isinstance(node, Group)
            and not node.not_
            and node.rules
            and (node.combinator == combinator or len(node.rules) == 1)
        ):
            out = []
            for i, child in enumerate(node.rules):
                out.extend(leaves(child, combinator, (*path, "rules", i)))
            return out
        return [(node, path)]

    def row(node: Node, path: tuple[str | int, ...], join: str) -> dict[str, Any] | None:
        if isinstance(node, Group):
            if node.not_:
                problems.add((*path, "not"), "rule rows cannot express a negated group")
            elif not node.rules:
                problems.add(
                    path,
                    f"rule rows cannot express an empty group ({'everyone' if node.combinator == 'and' else 'no one'})",
                )
            else:
                problems.add(
                    path, "rule rows express only an OR of ANDs: this group is nested too deeply"
                )
            return None
        if not isinstance(node, Condition):
            problems.add(path, f"rule rows cannot express {type(node).__name__}")
            return None
        value = node.value
        if json_values:
            value = (
                json.dumps(value, ensure_ascii=False, default=str) if value is not None else None
            )
        out: dict[str, Any] = {
            "field": node.field,
            "operator": node.operator,
            "value": value,
            "logical_operator": join,
        }
        if node.ignore_case:
            out["ignore_case"] = True
        return out

    rows: list[dict[str, Any] | None] = []
    for term, tpath in leaves(tree, "or", ()):
        for k, (leaf, lpath) in enumerate(leaves(term, "and", tpath)):
            rows.append(row(leaf, lpath, "AND" if k or not rows else "OR"))
    problems.raise_if_any()
    result = [r for r in rows if r is not None]
    for n, r in enumerate(result):
        r["order"] = n
    return result
