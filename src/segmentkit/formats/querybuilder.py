"""react-querybuilder: import/export of ``RuleGroupType`` and ``RuleGroupTypeIC`` rules,
and a schema as the builder's ``fields`` configuration.

Import maps react-querybuilder's default operator names onto SEMANTICS.md's; any
registered segmentkit operator name is accepted as a custom operator. Negative
operators take SEMANTICS' two-valued meaning (a contact with no country *is* in
``country != 'DE'``), not the three-valued SQL that ``formatQuery`` prints.

Refused on import (``RuleError`` naming the construct, with its JSON pointer):
``xor`` and unknown combinators, unknown operators, ``match`` (array sub-queries),
``valueSource`` other than ``value``/``field``, a field-valued operand where the
operator takes no field, list/between values that are neither arrays nor comma
strings, ``between`` without exactly two values, unknown keys (unless passed in
``ignore_keys``), disabled rules and groups (unless ``disabled="drop"``), and a
group that only becomes empty because disabled rules were dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from .. import operators as ops
from ..errors import RuleError, did_you_mean
from ..model import Condition, EventCondition, Group, SegmentRef
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

__all__ = [
    "NATIVE_TO_RQB",
    "RQB_TO_NATIVE",
    "from_querybuilder",
    "querybuilder_fields",
    "split_list",
    "to_querybuilder",
]

Path = tuple[str | int, ...]

# react-querybuilder's default operators (``defaultOperators``) -> SEMANTICS names.
RQB_TO_NATIVE: dict[str, str] = {
    "=": "eq",
    "!=": "neq",
    "<": "lt",
    ">": "gt",
    "<=": "lte",
    ">=": "gte",
    "contains": "contains",
    "beginsWith": "starts_with",
    "endsWith": "ends_with",
    "doesNotContain": "not_contains",
    "doesNotBeginWith": "not_starts_with",
    "doesNotEndWith": "not_ends_with",
    "null": "is_null",
    "notNull": "is_not_null",
    "in": "in",
    "notIn": "not_in",
    "between": "between",
    "notBetween": "not_between",
}
NATIVE_TO_RQB: dict[str, str] = {v: k for k, v in RQB_TO_NATIVE.items()}

# react-querybuilder's own labels for its default operators.
_RQB_LABELS = {
    "=": "=", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">=",
    "contains": "contains", "beginsWith": "begins with", "endsWith": "ends with",
    "doesNotContain": "does not contain", "doesNotBeginWith": "does not begin with",
    "doesNotEndWith": "does not end with", "null": "is null", "notNull": "is not null",
    "in": "in", "notIn": "not in", "between": "between", "notBetween": "not between",
}  # fmt: skip

# Keys that only drive the editor and never change a rule's meaning; ignored on import.
UI_KEYS = frozenset({"path", "valueEditorType", "inputType"})
_GROUP_KEYS = frozenset({"rules", "combinator", "not", "id", "disabled"})
_RULE_KEYS = frozenset(
    {"field", "operator", "value", "valueSource", "id", "disabled", "ignoreCase"}
)

Disabled = Literal["error", "drop"]


# JavaScript's String.prototype.trim() removes these (WhiteSpace and LineTerminator of
# ECMA-262); Python's str.strip() differs (it also strips U+001C..U+001F and U+0085 and
# keeps U+FEFF), so the set is spelt out.
JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def js_trim(text: str) -> str:
    """``text.trim()`` as JavaScript computes it."""
    return text.strip(JS_WHITESPACE)


def split_list(text: str) -> list[str]:
    """Read react-querybuilder's comma-separated list as its ``toArray`` does: split at
    commas (``\\,`` is a literal comma), drop the items that are empty or only white
    space, and trim the rest (JavaScript's ``trim``)."""
    items: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] == ",":
            current.append(",")
            i += 2
            continue
        if ch == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    items.append("".join(current))
    return [trimmed for item in items if (trimmed := js_trim(item))]


def _join_list(values: Iterable[str]) -> str:
    return ",".join(v.replace(",", "\\,") for v in values)


# --------------------------------------------------------------------------- import
class _Importer:
    def __init__(self, disabled: Disabled, ignore_keys: frozenset[str]) -> None:
        self.problems = Problems()
        self.paths = PathMap()
        self.disabled = disabled
        self.ignore = UI_KEYS | ignore_keys

    def keys(self, node: Mapping[str, Any], allowed: frozenset[str], path: Path) -> None:
        for key in node:
            if key in allowed or key in self.ignore:
                continue
            if key == "match":
                self.problems.add(
                    (*path, key), "'match' (sub-query over an array) is not supported"
                )
                continue
            hint = did_you_mean(key, allowed) if isinstance(key, str) else ""
            self.problems.add(
                (*path, key),
                f"unknown key {show(key)}{hint} (pass ignore_keys=[...] to drop UI-only keys)",
            )

    def is_disabled(self, node: Mapping[str, Any], path: Path) -> bool:
        flag = node.get("disabled", False)
        if not isinstance(flag, bool):
            self.problems.add((*path, "disabled"), "'disabled' must be true or false")
            return False
        if flag and self.disabled == "error":
            self.problems.add(
                (*path, "disabled"),
                "disabled rule or group: dropping it changes the segment (from an AND it widens "
                "it); enable or delete it, or pass disabled='drop' to drop it as formatQuery does",
            )
        return bool(flag)

    def node(self, node: Any, path: Path, native: Path) -> dict[str, Any] | None:
        if not isinstance(node, Mapping):
            self.problems.add(path, f"expected a rule or group object, got {show(node)}")
            return None
        if self.is_disabled(node, path):
            return None
        if "rules" in node:
            return self.group(node, path, native)
        return self.rule(node, path, native)

    def group(self, node: Mapping[str, Any], path: Path, native: Path) -> dict[str, Any] | None:
        self.keys(node, _GROUP_KEYS, path)
        self.paths.record(native, path)
        rules = node["rules"]
        if not isinstance(rules, list):
            self.problems.add((*path, "rules"), "'rules' must be an array")
            return None
        out: dict[str, Any] = {}
        if "id" in node:
            out["id"] = self.ident(node["id"], (*path, "id"))
        neg = node.get("not", False)
        if not isinstance(neg, bool):
            self.problems.add((*path, "not"), "'not' must be true or false")
        elif neg:
            out["not"] = True
        independent = "combinator" not in node or any(isinstance(r, str) for r in rules)
        if independent:
            if "combinator" in node:
                self.problems.add(
                    (*path, "combinator"),
                    "a group has either 'combinator' or combinators between its rules, not both",
                )
                return None
            body = self.independent(rules, path, native)
        else:
            combinator = self.combinator(node["combinator"], (*path, "combinator"))
            children: list[dict[str, Any]] = []
            for i, child in enumerate(rules):
                converted = self.node(child, (*path, "rules", i), (*native, "rules", len(children)))
                if converted is not None:
                    children.append(converted)
            body = {"combinator": combinator, "rules": children}
            if rules and not children and self.disabled == "drop":
                self.problems.add(
                    (*path, "rules"),
                    "every rule of this group is disabled; dropping them would leave an empty group "
                    "(everyone for 'and')",
                )
        if body is None:
            return None
        return {**out, **body}

    def combinator(self, value: Any, path: Path) -> str:
        text = value.lower() if isinstance(value, str) else value
        if text in ("and", "or"):
            return str(text)
        if text == "xor":
            self.problems.add(
                path, "combinator 'xor' is not supported (segments combine with and/or)"
            )
        else:
            self.problems.add(path, f"unknown combinator {show(value)} (expected 'and' or 'or')")
        return "and"

    def independent(self, items: list[Any], path: Path, native: Path) -> dict[str, Any] | None:
        """Rules alternating with "and"/"or"; AND binds tighter than OR."""
        entries: list[tuple[int, Any, str | None]] = []  # (input index, rule, join before it)
        join: str | None = None
        for i, item in enumerate(items):
            if i % 2 == 1:
                if not isinstance(item, str):
                    self.problems.add((*path, "rules", i), "expected 'and' or 'or' between rules")
                    return None
                join = self.combinator(item, (*path, "rules", i))
            elif isinstance(item, str):
                self.problems.add(
                    (*path, "rules", i), f"expected a rule or group, got {show(item)}"
                )
                return None
            else:
                entries.append((i, item, join))
        if items and len(items) % 2 == 0:
            self.problems.add(
                (*path, "rules", len(items) - 1), "a combinator must be followed by a rule"
            )
            return None
        # A dropped disabled rule takes the combinator before it along (the one after
        # it, when it is the first rule).
        kept: list[tuple[int, Any]] = []
        kept_joins: list[str] = []
        for i, item, before in entries:
            if isinstance(item, Mapping) and self.is_disabled(item, (*path, "rules", i)):
                continue
            if kept:
                kept_joins.append(before or "and")
            kept.append((i, item))
        if entries and not kept and self.disabled == "drop":
            self.problems.add(
                (*path, "rules"),
                "every rule of this group is disabled; dropping them would leave an empty group",
            )
        chains: list[list[tuple[int, Any]]] = [[]]
        for n, entry in enumerate(kept):
            if n and kept_joins[n - 1] == "or":
                chains.append([])
            chains[-1].append(entry)
        if len(chains) == 1:
            return {"combinator": "and", "rules": self.convert_all(chains[0], path, native)}
        out: list[dict[str, Any]] = []
        for chain in chains:
            if len(chain) == 1:
                out.extend(
                    self.convert_all(chain, path, (*native, "rules", len(out)), offset=False)
                )
            else:
                sub = (*native, "rules", len(out))
                self.paths.record(sub, (*path, "rules", chain[0][0]))
                out.append({"combinator": "and", "rules": self.convert_all(chain, path, sub)})
        return {"combinator": "or", "rules": out}

    def convert_all(
        self, chain: list[tuple[int, Any]], path: Path, native: Path, offset: bool = True
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i, item in chain:
            target = (*native, "rules", len(out)) if offset else native
            if not isinstance(item, Mapping):
                self.problems.add(
                    (*path, "rules", i), f"expected a rule or group object, got {show(item)}"
                )
                continue
            # ``disabled`` was handled by the caller; convert the enabled node itself.
            enabled = {k: v for k, v in item.items() if k != "disabled"}
            converted = (
                self.group(enabled, (*path, "rules", i), target)
                if "rules" in enabled
                else self.rule(enabled, (*path, "rules", i), target)
            )
            if converted is not None:
                out.append(converted)
        return out

    def ident(self, value: Any, path: Path) -> str | None:
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        self.problems.add(path, "'id' must be a string")
        return None

    def rule(self, node: Mapping[str, Any], path: Path, native: Path) -> dict[str, Any] | None:
        self.keys(node, _RULE_KEYS, path)
        self.paths.record(native, path)
        out: dict[str, Any] = {}
        if "id" in node:
            out["id"] = self.ident(node["id"], (*path, "id"))
        field = node.get("field")
        if not isinstance(field, str) or not field:
            self.problems.add((*path, "field"), "'field' must be a non-empty string")
            return None
        out["field"] = field
        operator = node.get("operator")
        name = RQB_TO_NATIVE.get(operator) if isinstance(operator, str) else None
        if name is None and isinstance(operator, str) and ops.get(operator) is not None:
            name = operator
        if name is None:
            hint = (
                did_you_mean(operator, [*RQB_TO_NATIVE, *ops.names()])
                if isinstance(operator, str)
                else ""
            )
            self.problems.add((*path, "operator"), f"unknown operator {show(operator)}{hint}")
            return None
        out["operator"] = name
        ignore_case = node.get("ignoreCase", False)
        if not isinstance(ignore_case, bool):
            self.problems.add((*path, "ignoreCase"), "'ignoreCase' must be true or false")
        elif ignore_case:
            out["ignore_case"] = True
        kind = value_kind(name)
        source = node.get("valueSource", "value")
        raw = node.get("value")
        vpath = (*path, "value")
        if source not in ("value", "field"):
            self.problems.add(
                (*path, "valueSource"),
                f"unknown valueSource {show(source)} (expected 'value' or 'field')",
            )
            return None
        if kind == "none":
            return out  # the editor is hidden for unary operators; a stale value means nothing
        if kind in ("list", "tags", "range"):
            items = self.list_value(raw, vpath)
            if items is None:
                return None
            if kind == "range" and len(items) != 2:
                self.problems.add(vpath, f"'{operator}' needs exactly two values, got {len(items)}")
                return None
            if source == "field":
                if kind != "range" and kind != "list":
                    self.problems.add(
                        (*path, "valueSource"), f"operator {operator!r} cannot compare with fields"
                    )
                    return None
                items = [self.field_name(v, vpath) for v in items]
            out["value"] = items
            return out
        if source == "field":
            if kind not in ("scalar", "needle"):
                self.problems.add(
                    (*path, "valueSource"),
                    f"operator {operator!r} cannot compare with another field",
                )
                return None
            out["value"] = self.field_name(raw, vpath)
            return out
        if raw is not None:
            out["value"] = raw
        return out

    def field_name(self, value: Any, path: Path) -> dict[str, str]:
        if not isinstance(value, str) or not value:
            self.problems.add(
                path, f"with valueSource 'field' the value must be a field name, got {show(value)}"
            )
        return {"field": value}

    def list_value(self, raw: Any, path: Path) -> list[Any] | None:
        """A list value as react-querybuilder's ``toArray`` reads it: string items of an
        array are trimmed, comma text is split (empty items dropped), a number is a list
        of one. Anything else (null, booleans, objects) is refused rather than read as
        an empty list."""
        if isinstance(raw, list):
            return [js_trim(v) if isinstance(v, str) else v for v in raw]
        if isinstance(raw, str):
            return split_list(raw)
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return [raw]
        self.problems.add(path, f"expected an array or a comma-separated string, got {show(raw)}")
        return None


def from_querybuilder(
    source: Any,
    schema: Schema | None = None,
    *,
    disabled: Disabled = "error",
    ignore_keys: Iterable[str] = (),
) -> Node:
    """Import a react-querybuilder query (``RuleGroupType`` or ``RuleGroupTypeIC``;
    a dict or JSON text) as a native rule.

    ``schema`` (optional) validates the result (fields, operators, values) with errors
    pointing into the query. ``disabled="drop"`` drops disabled rules like
    ``formatQuery`` does; the default refuses them, because dropping a rule from an
    AND widens the segment. ``ignore_keys`` names extra UI-only keys to ignore.
    """
    if disabled not in ("error", "drop"):
        raise ValueError("disabled must be 'error' or 'drop'")
    data = load(source, "query")
    check_json_depth(data, "query")
    if not isinstance(data, Mapping) or "rules" not in data:
        raise RuleError("a react-querybuilder query must be a group object with 'rules'")
    imp = _Importer(disabled, frozenset(ignore_keys))
    native = imp.node(data, (), ())
    if native is None and not imp.problems:
        imp.problems.add("", "the whole query is disabled")
    imp.problems.raise_if_any()
    assert native is not None
    return as_rule(
        native,
        imp.paths,
        schema=schema,
        keep_suffix=True,
        suffix_keys={"ignore_case": "ignoreCase"},
    )


# --------------------------------------------------------------------------- export
def _export_value(cond: Condition, path: Path, problems: Problems) -> dict[str, Any]:
    kind = value_kind(cond.operator)
    value = cond.value
    if kind == "none":
        if value is not None:
            problems.add((*path, "value"), f"operator {cond.operator!r} takes no value")
        return {"value": ""}
    if kind in ("list", "tags", "range"):
        if not isinstance(value, list | tuple):
            problems.add((*path, "value"), f"the value of {cond.operator!r} must be a list")
            return {}
        refs = [is_field_ref(v) for v in value]
        if value and all(refs):
            return {"value": [v["field"] for v in value], "valueSource": "field"}
        if any(refs):
            problems.add(
                (*path, "value"), "a list mixing fields and values has no react-querybuilder form"
            )
        for i, item in enumerate(value):
            # react-querybuilder trims list items and its comma editor drops empty ones:
            # such an item would come back as a different value.
            if isinstance(item, str) and (not item or js_trim(item) != item):
                problems.add(
                    (*path, "value", i),
                    f"list item {show(item)} has no react-querybuilder form: "
                    + (
                        "react-querybuilder drops empty list items"
                        if not js_trim(item)
                        else "react-querybuilder trims the white space around list items"
                    ),
                )
        return {"value": list(value)}
    if is_field_ref(value):
        return {"value": value["field"], "valueSource": "field"}
    return {"value": value}


def to_querybuilder(rule: Any, *, independent_combinators: bool = False) -> dict[str, Any]:
    """Export a native rule as a react-querybuilder query (``RuleGroupType``, or
    ``RuleGroupTypeIC`` with ``independent_combinators=True``).

    Operators with a react-querybuilder default keep its name; others keep their
    segmentkit name (configure them as custom operators). ``ignore_case`` becomes the
    rule key ``ignoreCase``. Segment references and event conditions have no
    react-querybuilder form and are refused.
    """
    from ..model import parse

    tree = parse(rule)
    check_tree_depth(tree)
    problems = Problems()

    def walk(node: Node, path: Path) -> dict[str, Any]:
        if isinstance(node, Group):
            out: dict[str, Any] = {}
            if node.id is not None:
                out["id"] = node.id
            children = [walk(child, (*path, "rules", i)) for i, child in enumerate(node.rules)]
            if independent_combinators:
                if not node.rules and node.combinator == "or":
                    # Without a combinator an empty group reads as 'and' (everyone).
                    problems.add(
                        path, "an empty 'or' group (no one) has no independent-combinators form"
                    )
                rules: list[Any] = []
                for child in children:
                    if rules:
                        rules.append(node.combinator)
                    rules.append(child)
                out["rules"] = rules
            else:
                out["combinator"] = node.combinator
                out["rules"] = children
            if node.not_:
                out["not"] = True
            return out
        if isinstance(node, Condition):
            cond: dict[str, Any] = {}
            if node.id is not None:
                cond["id"] = node.id
            cond["field"] = node.field
            cond["operator"] = NATIVE_TO_RQB.get(node.operator, node.operator)
            cond.update(_export_value(node, path, problems))
            if node.ignore_case:
                cond["ignoreCase"] = True
            return cond
        what = "segment references" if isinstance(node, SegmentRef) else "event conditions"
        assert isinstance(node, SegmentRef | EventCondition)
        problems.add(path, f"{what} have no react-querybuilder form")
        return {}

    out = walk(tree, ())
    if not isinstance(tree, Group):
        out = {"combinator": "and", "rules": [out]}
        if independent_combinators:
            del out["combinator"]
    problems.raise_if_any()
    return out


# --------------------------------------------------------------------------- fields
_INPUT_TYPES = {
    FieldType.INTEGER: "number",
    FieldType.DECIMAL: "number",
    FieldType.FLOAT: "number",
    FieldType.DATE: "date",
    FieldType.DATETIME: "datetime-local",
    FieldType.STRING: "text",
}


def _label(name: str) -> str:
    return name.replace("_", " ")


def querybuilder_fields(schema: Schema) -> list[dict[str, Any]]:
    """The schema as react-querybuilder's ``fields`` prop: name, label, datatype,
    inputType / valueEditorType, the operators allowed on the field (react-querybuilder
    names where it has one) and enum values."""
    out: list[dict[str, Any]] = []
    for f in schema:
        operators = []
        for name in ops.names():
            op = ops.get(name)
            if op is None or f.type not in op.types:
                continue
            if f.operators is not None and name not in f.operators:
                continue
            rqb = NATIVE_TO_RQB.get(name)
            entry: dict[str, Any] = {
                "name": rqb or name,
                "value": rqb or name,
                "label": _RQB_LABELS[rqb] if rqb else _label(name),
            }
            if op.value == "none":
                entry["arity"] = "unary"
            operators.append(entry)
        spec: dict[str, Any] = {
            "name": f.name,
            "value": f.name,
            "label": f.label or _label(f.name),
            "datatype": f.type.value,
            "operators": operators,
        }
        if f.enum is not None:
            spec["valueEditorType"] = "multiselect" if f.type is FieldType.TAGS else "select"
            spec["values"] = [{"name": str(v), "value": v, "label": str(v)} for v in f.enum]
        elif f.type is FieldType.BOOLEAN:
            spec["valueEditorType"] = "checkbox"
            spec["defaultValue"] = True
        elif f.type in _INPUT_TYPES:
            spec["inputType"] = _INPUT_TYPES[f.type]
        out.append(spec)
    return out
