"""jQuery QueryBuilder: import and export of its rule JSON (``getRules()`` / ``setRules()``).

A group is ``{"condition": "AND"|"OR", "rules": [...], "not": bool, "valid": bool}``, a
rule ``{"id", "field", "type", "input", "operator", "value", "data"}``. Operator names
map onto SEMANTICS.md's (``not_equal`` is two-valued: a missing value *is* in it, unlike
the builder's own SQL export). ``data.ignore_case`` carries ``ignore_case``; other
``data`` keys, ``flags``, ``type`` and ``input`` are editor metadata and ignored.

Refused on import: ``valid: false`` (the builder itself marks the rules invalid),
unknown conditions and operators, unknown keys, list/between values that are not
arrays (unless ``value_separator`` is given, as configured in the builder), a
``between`` without two values, and ``data.ignore_case`` that is not a boolean.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import operators as ops
from ..errors import RuleError, did_you_mean
from ..model import Condition, Group, parse
from ..schema import Schema
from ..types import FieldType
from ._common import (
    Node,
    PathMap,
    Problems,
    as_rule,
    check_json_depth,
    check_tree_depth,
    is_field_ref,
    load,
    show,
    value_kind,
)

__all__ = ["JQUERY_TO_NATIVE", "NATIVE_TO_JQUERY", "from_jquery", "to_jquery"]

Path = tuple[str | int, ...]

JQUERY_TO_NATIVE: dict[str, str] = {
    "equal": "eq",
    "not_equal": "neq",
    "in": "in",
    "not_in": "not_in",
    "less": "lt",
    "less_or_equal": "lte",
    "greater": "gt",
    "greater_or_equal": "gte",
    "between": "between",
    "not_between": "not_between",
    "begins_with": "starts_with",
    "not_begins_with": "not_starts_with",
    "contains": "contains",
    "not_contains": "not_contains",
    "ends_with": "ends_with",
    "not_ends_with": "not_ends_with",
    "is_empty": "is_empty",
    "is_not_empty": "is_not_empty",
    "is_null": "is_null",
    "is_not_null": "is_not_null",
}
NATIVE_TO_JQUERY: dict[str, str] = {v: k for k, v in JQUERY_TO_NATIVE.items()}

_GROUP_KEYS = frozenset({"condition", "rules", "not", "valid", "flags", "data", "id"})
_RULE_KEYS = frozenset({"id", "field", "type", "input", "operator", "value", "data", "flags"})
_TYPES = {
    FieldType.STRING: "string",
    FieldType.INTEGER: "integer",
    FieldType.DECIMAL: "double",
    FieldType.FLOAT: "double",
    FieldType.BOOLEAN: "boolean",
    FieldType.DATE: "date",
    FieldType.DATETIME: "datetime",
}


class _Importer:
    def __init__(self, separator: str | None) -> None:
        self.problems = Problems()
        self.paths = PathMap()
        self.separator = separator

    def keys(self, node: Mapping[str, Any], allowed: frozenset[str], path: Path) -> None:
        for key in node:
            if key not in allowed:
                hint = did_you_mean(key, allowed) if isinstance(key, str) else ""
                self.problems.add((*path, key), f"unknown key {show(key)}{hint}")

    def node(self, node: Any, path: Path, native: Path) -> dict[str, Any] | None:
        if not isinstance(node, Mapping):
            self.problems.add(path, f"expected a rule or group object, got {show(node)}")
            return None
        self.paths.record(native, path)
        if "rules" in node or "condition" in node:
            return self.group(node, path, native)
        return self.rule(node, path, native)

    def group(self, node: Mapping[str, Any], path: Path, native: Path) -> dict[str, Any] | None:
        self.keys(node, _GROUP_KEYS, path)
        if node.get("valid", True) is not True:
            self.problems.add(
                (*path, "valid"), "the builder marks these rules invalid ('valid': false)"
            )
        condition = node.get("condition", "AND")
        text = condition.lower() if isinstance(condition, str) else None
        if text not in ("and", "or"):
            self.problems.add(
                (*path, "condition"),
                f"unknown condition {show(condition)} (expected 'AND' or 'OR')",
            )
        rules = node.get("rules")
        if not isinstance(rules, list):
            self.problems.add((*path, "rules"), "'rules' must be an array")
            return None
        out: dict[str, Any] = {"combinator": text if text in ("and", "or") else "and"}
        neg = node.get("not", False)
        if not isinstance(neg, bool):
            self.problems.add((*path, "not"), "'not' must be true or false")
        elif neg:
            out["not"] = True
        children: list[dict[str, Any]] = []
        for i, child in enumerate(rules):
            converted = self.node(child, (*path, "rules", i), (*native, "rules", len(children)))
            if converted is not None:
                children.append(converted)
        out["rules"] = children
        return out

    def rule(self, node: Mapping[str, Any], path: Path, native: Path) -> dict[str, Any] | None:
        self.keys(node, _RULE_KEYS, path)
        field = node.get("field", node.get("id"))
        if not isinstance(field, str) or not field:
            self.problems.add(
                (*path, "field"), "'field' (or the filter 'id') must be a non-empty string"
            )
            return None
        operator = node.get("operator")
        name = JQUERY_TO_NATIVE.get(operator) if isinstance(operator, str) else None
        if name is None and isinstance(operator, str) and ops.get(operator) is not None:
            name = operator  # a custom operator named as segmentkit names it
        if name is None:
            hint = (
                did_you_mean(operator, [*JQUERY_TO_NATIVE, *ops.names()])
                if isinstance(operator, str)
                else ""
            )
            self.problems.add((*path, "operator"), f"unknown operator {show(operator)}{hint}")
            return None
        out: dict[str, Any] = {"field": field, "operator": name}
        data = node.get("data")
        if isinstance(data, Mapping) and "ignore_case" in data:
            if not isinstance(data["ignore_case"], bool):
                self.problems.add(
                    (*path, "data", "ignore_case"), "'ignore_case' must be true or false"
                )
            elif data["ignore_case"]:
                out["ignore_case"] = True
        kind = value_kind(name)
        raw = node.get("value")
        vpath = (*path, "value")
        if kind == "none":
            return out  # the builder sends null (or a stale value) for operators without input
        if kind in ("list", "tags", "range"):
            if isinstance(raw, str) and self.separator is not None:
                raw = [part.strip() for part in raw.split(self.separator)] if raw.strip() else []
            if not isinstance(raw, list):
                hint = (
                    ""
                    if self.separator is not None
                    else " (pass value_separator= if the builder splits text)"
                )
                self.problems.add(
                    vpath, f"'{operator}' needs an array of values, got {show(raw)}{hint}"
                )
                return None
            if kind == "range" and len(raw) != 2:
                self.problems.add(vpath, f"'{operator}' needs exactly two values, got {len(raw)}")
                return None
            out["value"] = list(raw)
            return out
        if raw is not None:
            out["value"] = raw
        return out


def from_jquery(
    source: Any, schema: Schema | None = None, *, value_separator: str | None = None
) -> Node:
    """Import jQuery QueryBuilder rules (a dict or JSON text) as a native rule.

    ``value_separator`` (the builder's option of that name) splits string values of
    list operators; without it a list value must be an array. ``schema`` validates the
    result, with errors pointing into the jQuery document.
    """
    data = load(source, "rules")
    check_json_depth(data, "rules")
    if not isinstance(data, Mapping) or not ("rules" in data or "condition" in data):
        raise RuleError(
            "jQuery QueryBuilder rules must be a group object with 'condition' and 'rules'"
        )
    imp = _Importer(value_separator)
    native = imp.node(data, (), ())
    imp.problems.raise_if_any()
    assert native is not None
    return as_rule(native, imp.paths, schema=schema, keep_suffix=True)


def to_jquery(rule: Any, schema: Schema | None = None) -> dict[str, Any]:
    """Export a native rule as jQuery QueryBuilder rules (``setRules`` input).

    ``id`` and ``field`` are the field name (define one filter per field); with
    ``schema`` each rule also gets the filter ``type``. Operators without a jQuery
    QueryBuilder name keep their segmentkit name (declare them as custom operators).
    Refused: field-to-field values, segment references and event conditions.
    """
    tree = parse(rule)
    check_tree_depth(tree)
    problems = Problems()

    def walk(node: Node, path: Path) -> dict[str, Any]:
        if isinstance(node, Group):
            out: dict[str, Any] = {
                "condition": node.combinator.upper(),
                "rules": [walk(c, (*path, "rules", i)) for i, c in enumerate(node.rules)],
                "valid": True,
            }
            if node.not_:
                out["not"] = True
            return out
        if isinstance(node, Condition):
            cond: dict[str, Any] = {"id": node.field, "field": node.field}
            if schema is not None and node.field in schema and schema[node.field].type in _TYPES:
                cond["type"] = _TYPES[schema[node.field].type]
            cond["operator"] = NATIVE_TO_JQUERY.get(node.operator, node.operator)
            value = node.value
            if is_field_ref(value) or (
                isinstance(value, list) and any(is_field_ref(v) for v in value)
            ):
                problems.add(
                    (*path, "value"), "jQuery QueryBuilder has no field-to-field comparison"
                )
            kind = value_kind(node.operator)
            if kind in ("list", "tags", "range") and not isinstance(value, list | tuple):
                problems.add((*path, "value"), f"the value of {node.operator!r} must be a list")
            cond["value"] = list(value) if isinstance(value, tuple) else value
            if node.ignore_case:
                cond["data"] = {"ignore_case": True}
            return cond
        what = "segment references" if "Segment" in type(node).__name__ else "event conditions"
        problems.add(path, f"{what} have no jQuery QueryBuilder form")
        return {}

    out = walk(tree, ())
    if not isinstance(tree, Group):
        out = {"condition": "AND", "rules": [out], "valid": True}
    problems.raise_if_any()
    return out
