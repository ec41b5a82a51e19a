"""JsonLogic: import and export of the subset that expresses segment rules.

JsonLogic's meaning is JavaScript's (loose equality, ``null < 1`` is true,
truthiness of ``0``, ``""`` and ``[]``). A JsonLogic rule is imported only when it
maps onto SEMANTICS.md's operators; everything else is refused with a ``RuleError``
naming the construct and its JSON pointer, never imported with another meaning.

Imported: ``==``/``===``/``!=``/``!==`` (a field against a literal or another field;
against ``null`` they are ``is_null``/``is_not_null``; against ``true``/``false``
``is_true``/``is_false``), ``<``/``<=``/``>``/``>=`` including the three-argument
"between" forms of ``<`` and ``<=``, ``in`` (list membership; a string literal in a
field is ``contains``, or ``has`` for a tags field), ``!``, ``!!``, ``and``, ``or``,
``var``, ``some``/``none`` over a tags field, and react-querybuilder's
``startsWith``/``endsWith`` additions. Comparisons between literals are folded to
``true``/``false`` when both have the same JSON type (no JavaScript coercion).

Deliberate differences (documented in docs/formats.md): NULL follows SEMANTICS §2
(``{"<": [{"var": "x"}, 1]}`` is FALSE for a missing ``x``, where JavaScript reads
``null`` as ``0``); two missing fields are not equal; with a schema, a literal of
another JSON type than the field's is refused instead of coerced.

Export emits only constructs whose JavaScript meaning equals SEMANTICS': ordered
comparisons get an explicit ``!= null`` guard, ``eq``/``neq`` use strict
``===``/``!==``, negative operators are ``!`` of their twin. Import recognises the
guards, so ``from_jsonlogic(to_jsonlogic(r))`` gives ``r`` back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..errors import pointer
from ..model import Condition, Group
from ..schema import Schema
from ..types import CoercionError, FieldType, coerce
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
    twin_of,
)

__all__ = ["from_jsonlogic", "to_jsonlogic"]

Path = tuple[str | int, ...]
JS_SAFE_INTEGER = 2**53 - 1

_REFUSED = {
    **dict.fromkeys(
        ("+", "-", "*", "/", "%", "min", "max"), "arithmetic is not a segment condition"
    ),
    **dict.fromkeys(("cat", "substr"), "string building is not a segment condition"),
    **dict.fromkeys(
        ("if", "?:"),
        "a conditional expression returns a value, not a condition (write it with and/or)",
    ),
    **dict.fromkeys(
        ("map", "filter", "reduce", "merge"), "array computation is not a segment condition"
    ),
    **dict.fromkeys(
        ("missing", "missing_some"),
        "'missing' returns a list of absent keys (use {'==': [{'var': ...}, null]} for is_null)",
    ),
    "all": "'all' over a list is false for an empty list in JsonLogic; no segment operator matches it",
    "log": "'log' is a debugging side effect",
    "method": "'method' calls a JavaScript method",
}
_CMP = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
_FLIP = {"lt": "gt", "lte": "gte", "gt": "lt", "gte": "lte"}
# Positive leaves that are FALSE for a NULL field: an ``x != null`` guard beside them is redundant.
_NULL_FALSE = frozenset(
    [
        "eq",
        "lt",
        "lte",
        "gt",
        "gte",
        "in",
        "between",
        "contains",
        "starts_with",
        "ends_with",
        "is_true",
        "is_false",
        "has",
        "has_any",
    ]
)


class _Literal:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Var:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class _Importer:
    def __init__(self, schema: Schema | None) -> None:
        self.schema = schema
        self.paths = PathMap()
        self.problems = Problems()

    def refuse(self, path: Path, message: str) -> None:
        self.problems.add(path, message)
        raise _Stop

    # -- operands --------------------------------------------------------------
    def operand(self, value: Any, path: Path, *, element: bool = False) -> _Literal | _Var:
        if isinstance(value, Mapping):
            if len(value) == 1 and "var" in value:
                return self.var(value["var"], (*path, "var"), element=element)
            op = next(iter(value), None) if len(value) == 1 else None
            self.refuse(
                path,
                f"computed operand {show(op) if op else show(value)}: only a field "
                "({'var': name}) or a literal can be compared",
            )
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, Mapping | list):
                    self.refuse((*path, i), "a list of literals is expected here")
                self.exact_number(item, (*path, i))
        self.exact_number(value, path)
        if isinstance(value, float) and not math.isfinite(
            value
        ):  # pragma: no cover - JSON has none
            self.refuse(path, "non-finite number")
        return _Literal(value)

    def exact_number(self, value: Any, path: Path) -> None:
        """Refuse an integer JavaScript cannot hold exactly: json-logic-js would compare
        the nearest double (2**53 + 1 reads as 2**53), not the number written."""
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > JS_SAFE_INTEGER:
            self.refuse(
                path,
                "integer beyond JavaScript's safe range (2**53 - 1): json-logic-js reads "
                "it as the nearest double, not as the number written",
            )

    def var(self, arg: Any, path: Path, *, element: bool) -> _Var:
        if isinstance(arg, list):
            if len(arg) > 1:
                self.refuse(
                    path,
                    "'var' with a default value: a missing field would take the default, "
                    "which a segment rule cannot express",
                )
            arg = arg[0] if arg else ""
        if isinstance(arg, int) and not isinstance(arg, bool):
            self.refuse(path, "'var' with a numeric index: a segment field has a name")
        if not isinstance(arg, str):
            self.refuse(path, f"'var' needs a field name, got {show(arg)}")
        if arg == "" and not element:
            self.refuse(path, "'var' of the whole data object is not a field")
        return _Var(arg)

    def field_type(self, name: str) -> FieldType | None:
        if self.schema is None or name not in self.schema:
            return None
        return self.schema[name].type

    def literal_for(self, name: str, lit: Any, path: Path) -> Any:
        """Check a literal compared with field ``name`` against the schema (if any)."""
        ftype = self.field_type(name)
        if ftype is None:
            return lit
        kind = _json_type(lit)
        expected = {
            FieldType.STRING: ("string",),
            FieldType.INTEGER: ("number",),
            FieldType.FLOAT: ("number",),
            FieldType.DECIMAL: ("number",),
            FieldType.BOOLEAN: ("boolean",),
            FieldType.DATE: ("string",),
            FieldType.DATETIME: ("string",),
            FieldType.TAGS: ("string",),
        }[ftype]
        if kind not in expected:
            self.refuse(
                path,
                f"{kind} literal compared with {ftype.value} field {name!r}: JavaScript "
                "would coerce it; write a literal of the field's type",
            )
        if ftype is FieldType.DECIMAL and isinstance(lit, float):
            return repr(lit)  # the shortest decimal text of the double, exact from here on
        return lit

    # -- rules -------------------------------------------------------------------
    def convert(self, node: Any, path: Path) -> tuple[dict[str, Any], PathMap]:
        """Convert ``node`` with its own path map (placed by the caller once its native
        position is known)."""
        saved, self.paths = self.paths, PathMap()
        try:
            item = self.rule(node, path, ())
            return item, self.paths
        finally:
            self.paths = saved

    def place(self, sub: PathMap, native: Path) -> None:
        prefix = pointer(native)
        for key, source in sub.map.items():
            self.paths.map[prefix + key] = source

    def rule(self, node: Any, path: Path, native: Path) -> dict[str, Any]:
        self.paths.record(native, path)
        if isinstance(node, bool):
            return {"combinator": "and", "rules": []} if node else {"combinator": "or", "rules": []}
        if not isinstance(node, Mapping):
            self.refuse(
                path, f"the literal {show(node)} is not a condition (JavaScript truthiness)"
            )
        if len(node) != 1:
            self.refuse(path, f"an operation object has exactly one key, got {len(node)}")
        op, raw = next(iter(node.items()))
        args = raw if isinstance(raw, list) else [raw]
        apath = (*path, op)

        def arg_path(i: int) -> Path:
            return (*apath, i) if isinstance(raw, list) else apath

        if op in ("and", "or"):
            if op == "and" and not args:
                self.refuse(
                    path,
                    "'and' of nothing is undefined (falsy) in JsonLogic but TRUE in a "
                    "segment; write true or false",
                )
            converted = []
            for i, a in enumerate(args):
                with contextlib.suppress(_Stop):  # recorded; go on to report every problem
                    converted.append(self.convert(a, arg_path(i)))
            if op == "and":
                converted = _drop_guards(converted)
                if len(converted) == 1 and len(args) > 1:
                    self.place(converted[0][1], native)
                    return converted[0][0]
            for k, (_, sub) in enumerate(converted):
                self.place(sub, (*native, "rules", k))
            return {"combinator": op, "rules": [item for item, _ in converted]}
        if op in ("!", "!!"):
            if len(args) != 1:
                self.refuse(apath, f"'{op}' takes one argument")
            return self.truth(args[0], op == "!", arg_path(0), path, native)
        if op in ("==", "===", "!=", "!=="):
            return self.equality(op, args, apath, arg_path)
        if op in _CMP:
            return self.ordered(op, args, apath, arg_path)
        if op == "in":
            return self.membership(args, apath, arg_path)
        if op in ("some", "none"):
            return self.tags(op, args, apath, arg_path)
        if op in ("startsWith", "endsWith"):
            return self.affix(op, args, apath, arg_path)
        if op == "var":
            self.refuse(
                path,
                "a bare 'var' as a condition tests JavaScript truthiness; compare it "
                "(==, !=, <, ...) or use '!!' with a schema",
            )
        reason = _REFUSED.get(op) if isinstance(op, str) else None
        self.refuse(
            (*path, op),
            f"'{op}': {reason}" if reason else f"unknown JsonLogic operation {show(op)}",
        )
        raise AssertionError  # pragma: no cover

    def two(self, op: str, args: list[Any], apath: Path) -> None:
        if len(args) != 2:
            self.refuse(apath, f"'{op}' takes two arguments, got {len(args)}")

    def equality(self, op: str, args: list[Any], apath: Path, at: Any) -> dict[str, Any]:
        self.two(op, args, apath)
        a, b = (self.operand(x, at(i)) for i, x in enumerate(args))
        positive = op in ("==", "===")
        if isinstance(a, _Literal) and isinstance(b, _Literal):
            return self.fold_eq(a.value, b.value, positive, apath)
        if isinstance(a, _Var) and isinstance(b, _Var):
            return {
                "field": a.name,
                "operator": "eq" if positive else "neq",
                "value": {"field": b.name},
            }
        var, lit, lpath = (a, b, at(1)) if isinstance(a, _Var) else (b, a, at(0))
        assert isinstance(var, _Var) and isinstance(lit, _Literal)
        if lit.value is None:
            return {"field": var.name, "operator": "is_null" if positive else "is_not_null"}
        if isinstance(lit.value, list):
            self.refuse(
                lpath, "a field compared with a list (JavaScript compares arrays by identity)"
            )
        value = self.literal_for(var.name, lit.value, lpath)
        if isinstance(value, bool) and positive:
            return {"field": var.name, "operator": "is_true" if value else "is_false"}
        return {"field": var.name, "operator": "eq" if positive else "neq", "value": value}

    def fold_eq(self, x: Any, y: Any, positive: bool, path: Path) -> dict[str, Any]:
        if _json_type(x) != _json_type(y) or isinstance(x, list):
            self.refuse(path, f"comparing {show(x)} with {show(y)} relies on JavaScript coercion")
        return _const((x == y) == positive)

    def ordered(self, op: str, args: list[Any], apath: Path, at: Any) -> dict[str, Any]:
        if len(args) == 3 and op in ("<", "<="):
            lo, mid, hi = (self.operand(x, at(i)) for i, x in enumerate(args))
            if isinstance(lo, _Literal) and isinstance(hi, _Literal) and isinstance(mid, _Var):
                low = self.orderable(mid.name, lo.value, at(0))
                high = self.orderable(mid.name, hi.value, at(2))
                if op == "<=":
                    return {"field": mid.name, "operator": "between", "value": [low, high]}
                return {
                    "combinator": "and",
                    "rules": [
                        {"field": mid.name, "operator": "gt", "value": low},
                        {"field": mid.name, "operator": "lt", "value": high},
                    ],
                }
            if all(isinstance(x, _Literal) for x in (lo, mid, hi)):
                vals = [self.foldable(x.value, at(i)) for i, x in enumerate((lo, mid, hi))]  # type: ignore[union-attr]
                if len({_json_type(v) for v in vals}) != 1:
                    self.refuse(apath, f"ordering {show(vals)} relies on JavaScript coercion")
                ok = vals[0] < vals[1] < vals[2] if op == "<" else vals[0] <= vals[1] <= vals[2]
                return _const(ok)
            self.refuse(apath, f"three-argument '{op}' needs a field between two literals")
        self.two(op, args, apath)
        a, b = (self.operand(x, at(i)) for i, x in enumerate(args))
        name = _CMP[op]
        if isinstance(a, _Literal) and isinstance(b, _Literal):
            x, y = self.foldable(a.value, at(0)), self.foldable(b.value, at(1))
            if _json_type(x) != _json_type(y):
                self.refuse(
                    apath, f"ordering {show(x)} against {show(y)} relies on JavaScript coercion"
                )
            return _const({"lt": x < y, "lte": x <= y, "gt": x > y, "gte": x >= y}[name])
        if isinstance(a, _Var) and isinstance(b, _Var):
            return {"field": a.name, "operator": name, "value": {"field": b.name}}
        if isinstance(a, _Var):
            assert isinstance(b, _Literal)
            return {
                "field": a.name,
                "operator": name,
                "value": self.orderable(a.name, b.value, at(1)),
            }
        assert isinstance(b, _Var) and isinstance(a, _Literal)
        return {
            "field": b.name,
            "operator": _FLIP[name],
            "value": self.orderable(b.name, a.value, at(0)),
        }

    def orderable(self, name: str, value: Any, path: Path) -> Any:
        if _json_type(value) not in ("number", "string"):
            self.refuse(path, f"ordering against {show(value)} relies on JavaScript coercion")
        return self.literal_for(name, value, path)

    def foldable(self, value: Any, path: Path) -> Any:
        if _json_type(value) == "number":
            return value
        if isinstance(value, str) and value.isascii():  # JavaScript orders UTF-16 units
            return value
        self.refuse(path, f"ordering {show(value)} relies on JavaScript coercion")

    def membership(self, args: list[Any], apath: Path, at: Any) -> dict[str, Any]:
        self.two("in", args, apath)
        a, b = (self.operand(x, at(i)) for i, x in enumerate(args))
        if isinstance(a, _Var) and isinstance(b, _Literal):
            if not isinstance(b.value, list):
                self.refuse(
                    at(1),
                    "'in' with a field first needs a list literal second "
                    "(a field inside a string literal is not a segment condition)",
                )
            values = []
            for i, item in enumerate(b.value):
                if item is None:
                    self.refuse(
                        (*at(1), i), "null in an 'in' list (a missing value matches nothing)"
                    )
                values.append(self.literal_for(a.name, item, (*at(1), i)))
            return {"field": a.name, "operator": "in", "value": values}
        if isinstance(a, _Literal) and isinstance(b, _Var):
            if not isinstance(a.value, str):
                self.refuse(at(0), "only a string can be searched for in a field")
            is_tags = self.field_type(b.name) is FieldType.TAGS
            return {"field": b.name, "operator": "has" if is_tags else "contains", "value": a.value}
        if isinstance(a, _Literal) and isinstance(b, _Literal):
            if isinstance(b.value, str) and isinstance(a.value, str):
                return _const(a.value in b.value)
            if isinstance(b.value, list) and not isinstance(a.value, list | type(None)):
                return _const(
                    any(_json_type(v) == _json_type(a.value) and v == a.value for v in b.value)
                )
            self.refuse(apath, "'in' over these literals relies on JavaScript coercion")
        self.refuse(apath, "'in' between two fields is not a segment condition")
        raise AssertionError  # pragma: no cover

    def tags(self, op: str, args: list[Any], apath: Path, at: Any) -> dict[str, Any]:
        self.two(op, args, apath)
        target = self.operand(args[0], at(0))
        if not isinstance(target, _Var):
            self.refuse(at(0), f"'{op}' needs a tags field ({{'var': name}}) first")
        assert isinstance(target, _Var)
        ftype = self.field_type(target.name)
        if self.schema is not None and ftype not in (FieldType.TAGS, None):
            self.refuse(
                at(0),
                f"'{op}' over a {ftype.value if ftype else '?'} field: only tags fields are sets",
            )
        pred, ppath = args[1], at(1)
        values: list[Any] | None = None
        if isinstance(pred, Mapping) and len(pred) == 1:
            ((pop, pargs),) = pred.items()
            if pop in ("==", "===", "in") and isinstance(pargs, list) and len(pargs) == 2:
                x, y = (
                    self.operand(v, (*ppath, pop, i), element=True) for i, v in enumerate(pargs)
                )
                elem, other = (x, y) if isinstance(x, _Var) else (y, x)
                if isinstance(elem, _Var) and elem.name == "" and isinstance(other, _Literal):
                    if pop == "in" and elem is x and isinstance(other.value, list):
                        values = other.value
                    elif pop != "in" and isinstance(other.value, str):
                        values = [other.value]
        if values is None or not all(isinstance(v, str) for v in values):
            self.refuse(
                ppath,
                f"'{op}' is imported only as tag membership: "
                "{'==': [{'var': ''}, 'tag']} or {'in': [{'var': ''}, ['tag', ...]]}",
            )
        assert values is not None
        if op == "some":
            if len(values) == 1 and not isinstance(pred.get("in"), list):
                return {"field": target.name, "operator": "has", "value": values[0]}
            return {"field": target.name, "operator": "has_any", "value": values}
        return {"field": target.name, "operator": "has_none", "value": values}

    def affix(self, op: str, args: list[Any], apath: Path, at: Any) -> dict[str, Any]:
        self.two(op, args, apath)
        a, b = (self.operand(x, at(i)) for i, x in enumerate(args))
        if not (isinstance(a, _Var) and isinstance(b, _Literal) and isinstance(b.value, str)):
            self.refuse(apath, f"'{op}' needs a field and a string")
        assert isinstance(a, _Var) and isinstance(b, _Literal)
        return {
            "field": a.name,
            "operator": "starts_with" if op == "startsWith" else "ends_with",
            "value": b.value,
        }

    def truth(
        self, arg: Any, negate: bool, apath: Path, path: Path, native: Path
    ) -> dict[str, Any]:
        if isinstance(arg, bool):
            return _const(arg != negate)
        if isinstance(arg, Mapping) and len(arg) == 1 and "var" in arg:
            var = self.var(arg["var"], (*apath, "var"), element=False)
            ftype = self.field_type(var.name)
            if ftype in (FieldType.STRING, FieldType.TAGS):
                return {"field": var.name, "operator": "is_empty" if negate else "is_not_empty"}
            if ftype is FieldType.BOOLEAN:
                cond = {"field": var.name, "operator": "is_true"}
                return {"combinator": "and", "not": True, "rules": [cond]} if negate else cond
            what = (
                "without a schema"
                if self.schema is None
                else f"of a {ftype.value if ftype else 'unknown'} field"
            )
            self.refuse(
                apath,
                f"truthiness of a field {what} depends on JavaScript coercion "
                "(pass the schema: string and tags fields mean is_empty, booleans is_true)",
            )
        if not isinstance(arg, Mapping):
            self.refuse(apath, f"truthiness of {show(arg)} relies on JavaScript coercion")
        inner, sub = self.convert(arg, apath)
        twin = twin_of(inner["operator"]) if negate and "operator" in inner else None
        if not negate or twin is not None or ("rules" in inner and not inner.get("not")):
            self.place(sub, native)
            if not negate:
                return inner
            return {**inner, "operator": twin} if twin is not None else {**inner, "not": True}
        self.place(sub, (*native, "rules", 0))
        self.paths.record(native, path)
        return {"combinator": "and", "not": True, "rules": [inner]}


class _Stop(Exception):
    """Unwinds one refused construct; its problem is already recorded."""


def _const(value: bool) -> dict[str, Any]:
    return {"combinator": "and", "rules": []} if value else {"combinator": "or", "rules": []}


def _refs(item: dict[str, Any]) -> set[str]:
    if item.get("operator") not in _NULL_FALSE:
        return set()
    out = {item["field"]}
    if is_field_ref(item.get("value")):
        out.add(item["value"]["field"])
    return out


def _drop_guards(
    items: list[tuple[dict[str, Any], PathMap]],
) -> list[tuple[dict[str, Any], PathMap]]:
    """``x != null`` beside a leaf that is already FALSE for a NULL ``x`` is redundant."""
    covered: set[str] = set()
    for item, _ in items:
        covered |= _refs(item)
    kept = [
        (i, m)
        for i, m in items
        if not (i.get("operator") == "is_not_null" and i["field"] in covered)
    ]
    return kept or items


def from_jsonlogic(source: Any, schema: Schema | None = None) -> Node:
    """Import a JsonLogic rule (a dict, a bool, or JSON text) as a native rule.

    With ``schema``, literals must have the field's JSON type (no JavaScript coercion),
    ``in`` over a tags field means ``has``, ``!``/``!!`` over a string or tags field
    mean ``is_empty``/``is_not_empty`` and over a boolean ``not is_true``/``is_true``,
    and the result is validated with errors pointing into the JsonLogic document.
    """
    data = load(source, "JsonLogic rule")
    check_json_depth(data, "JsonLogic rule")
    imp = _Importer(schema)
    try:
        native = imp.rule(data, (), ())
    except _Stop:
        native = None
    imp.problems.raise_if_any()
    assert native is not None
    return as_rule(native, imp.paths, schema=schema, keep_suffix=False)


# --------------------------------------------------------------------------- export
def to_jsonlogic(rule: Any, schema: Schema | None = None, *, extensions: bool = False) -> Any:
    """Export a native rule as JsonLogic whose JavaScript meaning equals SEMANTICS'.

    Refused (``RuleError`` with the rule path): ``starts_with``/``ends_with`` unless
    ``extensions=True`` (react-querybuilder's ``startsWith``/``endsWith`` operations),
    ``ignore_case``, ``matches``, date operators and relative time (JsonLogic has no
    dates and no clock), field-to-field lists, decimals that are not integers and
    integers beyond 2**53 (JavaScript numbers are doubles), segment references and
    event conditions.

    With ``schema``, values are first coerced to their field's type (so a decimal
    given as ``"10.50"`` is exported as the number ``10.5``, exactly, or refused when
    no double equals it); without it they are exported as given.
    """
    from ..model import parse

    tree = parse(rule)
    check_tree_depth(tree)
    problems = Problems()
    out = _Exporter(problems, extensions, schema).node(tree, ())
    problems.raise_if_any()
    return out


class _Exporter:
    def __init__(self, problems: Problems, ext: bool, schema: Schema | None) -> None:
        self.problems = problems
        self.ext = ext
        self.schema = schema

    def value(self, field: str, value: Any, path: Path) -> Any:
        """A rule value as JSON, coerced to the field's type when the schema is known."""
        if self.schema is None or field not in self.schema or value is None or is_field_ref(value):
            return _js_value(value, path, self.problems)
        f = self.schema[field]
        ftype = FieldType.STRING if f.type is FieldType.TAGS else f.type
        if isinstance(value, list | tuple):
            return [self.value(field, v, (*path, i)) for i, v in enumerate(value)]
        try:
            coerced = coerce(value, ftype, self.schema.declared_zone_of(f))
        except CoercionError as exc:
            self.problems.add(path, str(exc))
            return None
        if isinstance(coerced, Decimal):
            as_float = float(coerced)
            if Decimal(repr(as_float)) != coerced and coerced != coerced.to_integral_value():
                self.problems.add(path, f"decimal {coerced} has no exact JavaScript number")
                return None
            if coerced == coerced.to_integral_value():
                return _js_value(int(coerced), path, self.problems)
            return as_float
        if isinstance(coerced, dt.datetime | dt.date):
            return coerced.isoformat()
        return _js_value(coerced, path, self.problems)

    def node(self, node: Node, path: Path) -> Any:
        if isinstance(node, Group):
            items = [self.node(c, (*path, "rules", i)) for i, c in enumerate(node.rules)]
            body: Any = {node.combinator: items} if items else node.combinator == "and"
            return {"!": body} if node.not_ else body
        if isinstance(node, Condition):
            return _condition(node, path, self.problems, self.ext, self.value)
        what = "segment references" if "Segment" in type(node).__name__ else "event conditions"
        self.problems.add(path, f"{what} have no JsonLogic form")
        return None


def _js_value(value: Any, path: Path, problems: Problems) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            problems.add(path, f"decimal {value} has no exact JavaScript number")
            return None
        if value.adjusted() > 16:  # beyond 2**53 whatever the digits; int() could be huge
            problems.add(path, f"decimal {value} is beyond JavaScript's exact range (2**53)")
            return None
        value = int(value)
    if isinstance(value, int):
        if abs(value) > JS_SAFE_INTEGER:
            problems.add(path, f"integer {value} is beyond JavaScript's exact range (2**53)")
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, list | tuple):
        return [_js_value(v, (*path, i), problems) for i, v in enumerate(value)]
    problems.add(path, f"value {show(value)} has no JsonLogic form")
    return None


def _condition(c: Condition, path: Path, problems: Problems, ext: bool, conv: Any) -> Any:
    x = {"var": c.field}
    op, value = c.operator, c.value
    vpath = (*path, "value")
    if c.ignore_case:
        problems.add((*path, "ignore_case"), "JsonLogic has no case-insensitive comparison")
        return None
    twin = twin_of(op)
    if (
        op in ("neq", "not_in", "not_between", "not_contains", "not_starts_with", "not_ends_with")
        and twin
    ):
        if op == "neq" and not is_field_ref(value) and value is not None:
            return {"!==": [x, conv(c.field, value, vpath)]}
        positive = Condition(field=c.field, operator=twin, value=value)
        return {"!": _condition(positive, path, problems, ext, conv)}
    guard = {"!=": [x, None]}
    if op in ("eq", "lt", "lte", "gt", "gte"):
        if value is None:
            problems.add(vpath, f"operator {op!r} needs a value")
            return None
        if is_field_ref(value):
            y = {"var": value["field"]}
            test = {
                "===" if op == "eq" else {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[op]: [
                    x,
                    y,
                ]
            }
            guards = [guard] if op == "eq" else [guard, {"!=": [y, None]}]
            return {"and": [*guards, test]}
        v = conv(c.field, value, vpath)
        if op == "eq":
            return {"===": [x, v]}
        return {"and": [guard, {{"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[op]: [x, v]}]}
    if op == "in":
        if not isinstance(value, list | tuple) or any(is_field_ref(v) for v in value):
            problems.add(vpath, "'in' needs a list of values")
            return None
        return {"in": [x, conv(c.field, list(value), vpath)]}
    if op == "between":
        if (
            not isinstance(value, list | tuple)
            or len(value) != 2
            or any(is_field_ref(v) for v in value)
        ):
            problems.add(vpath, "'between' needs two values")
            return None
        lo, hi = conv(c.field, list(value), vpath)
        return {"and": [guard, {"<=": [lo, x, hi]}]}
    if op == "contains":
        return {"in": [conv(c.field, value, vpath), x]}
    if op in ("starts_with", "ends_with"):
        if not ext:
            problems.add(
                (*path, "operator"),
                f"{op!r} has no standard JsonLogic operation "
                "(pass extensions=True for react-querybuilder's startsWith/endsWith)",
            )
            return None
        return {
            "startsWith" if op == "starts_with" else "endsWith": [x, conv(c.field, value, vpath)]
        }
    if op in ("is_null", "is_not_null"):
        return {"==" if op == "is_null" else "!=": [x, None]}
    if op in ("is_empty", "is_not_empty"):
        return {"!" if op == "is_empty" else "!!": x}
    if op in ("is_true", "is_false"):
        return {"===": [x, op == "is_true"]}
    if op in ("has", "has_any", "has_none", "has_all"):
        elem = {"var": ""}
        if op == "has":
            return {"some": [x, {"===": [elem, conv(c.field, value, vpath)]}]}
        if not isinstance(value, list | tuple):
            problems.add(vpath, f"{op!r} needs a list of tags")
            return None
        tags = conv(c.field, list(value), vpath)
        if op == "has_all":
            if not tags:
                problems.add(
                    vpath,
                    "'has_all' of no tags has no JsonLogic form ('and' of nothing is undefined)",
                )
                return None
            return {"and": [{"some": [x, {"===": [elem, t]}]} for t in tags]}
        return {"some" if op == "has_any" else "none": [x, {"in": [elem, tags]}]}
    reason = {
        "matches": "JsonLogic has no regular expressions",
        "not_matches": "JsonLogic has no regular expressions",
    }.get(
        op,
        "JsonLogic has no dates and no clock"
        if op
        in ("before", "after", "on", "not_on", "in_last", "not_in_last", "in_next", "older_than")
        else "no JsonLogic form",
    )
    problems.add((*path, "operator"), f"operator {op!r}: {reason}")
    return None
