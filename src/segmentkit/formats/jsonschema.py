"""JSON Schema (draft 2020-12) of the native rule format, for front-end validation.

``json_schema()`` describes the shape every rule has (groups, conditions, segment
references, event conditions, the value shape each registered operator takes).
``json_schema(schema)`` specialises conditions to the schema: the field is one of the
schema's fields, the operator one that applies to its type (and is allowed on it),
and the value has the field's JSON type, enum values included.

What JSON Schema cannot say and ``bind`` still checks: the nesting limit
(``MAX_DEPTH``), ``low <= high`` for ranges, portable regular expressions, segment
reference cycles and calendar validity of dates.
"""

from __future__ import annotations

from typing import Any

from .. import operators as ops
from ..model import MAX_DEPTH
from ..schema import Field, Schema
from ..timeutil import PERIODS
from ..types import INT64_MAX, INT64_MIN, FieldType

__all__ = ["json_schema"]

_UNITS = ["minutes", "hours", "days", "weeks", "months", "years"]
_MAX_LIST = 100_000


def _scalar_any() -> dict[str, Any]:
    return {"type": ["string", "number", "boolean"]}


def _scalar_for(f: Field) -> dict[str, Any]:
    if f.enum is not None:
        return {"enum": list(f.enum)}
    match f.type:
        case FieldType.STRING | FieldType.TAGS:
            return {"type": "string"}
        case FieldType.INTEGER:
            return {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}
        case FieldType.DECIMAL:
            # Decimals travel as strings (floats are inexact) or integers.
            return {
                "anyOf": [
                    {"type": "integer"},
                    {"type": "string", "pattern": r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"},
                ]
            }
        case FieldType.FLOAT:
            return {"type": "number"}
        case FieldType.BOOLEAN:
            return {"type": "boolean"}
        case FieldType.DATE:
            return {"type": "string", "format": "date"}
        case FieldType.DATETIME:
            return {"type": "string", "format": "date-time"}
    raise AssertionError(f.type)  # pragma: no cover


def _value_for(
    kind: str, scalar: dict[str, Any], field_ref: dict[str, Any] | None
) -> dict[str, Any]:
    """The schema of ``value`` for an operator's value kind."""
    match kind:
        case "none":
            return {"type": "null"}
        case "scalar":
            return {"anyOf": [scalar, field_ref]} if field_ref is not None else scalar
        case "list" | "tags":
            return {"type": "array", "items": scalar, "maxItems": _MAX_LIST}
        case "range":
            return {"type": "array", "prefixItems": [scalar, scalar], "items": False, "minItems": 2}
        case "needle":
            return {"type": "string", "minLength": 1}
        case "pattern":
            return {"type": "string", "minLength": 1, "maxLength": 256}
        case "tag":
            return {"type": "string"}
        case "duration":
            return {"$ref": "#/$defs/duration"}
        case "moment":
            return {
                "anyOf": [
                    {"enum": list(PERIODS)},
                    {"type": "string", "format": "date"},
                    {"type": "string", "format": "date-time"},
                ]
            }
    return {}  # a plugin's own value kind: anything


def _operator_rules(
    names: list[str],
    scalar: dict[str, Any],
    field_ref: dict[str, Any] | None,
    field_value: bool = True,
) -> list[dict[str, Any]]:
    rules = []
    for name in names:
        op = ops.get(name)
        if op is None:
            continue
        ref = field_ref if (op.field_value and field_value) else None
        then: dict[str, Any] = {"properties": {"value": _value_for(op.value, scalar, ref)}}
        if op.value != "none":
            then["required"] = ["value"]
        rules.append(
            {
                "if": {"properties": {"operator": {"const": name}}, "required": ["operator"]},
                "then": then,
            }
        )
    return rules


def _condition(schema: Schema | None) -> dict[str, Any]:
    base_props: dict[str, Any] = {
        "id": {"type": ["string", "null"]},
        "field": {"type": "string", "minLength": 1},
        "operator": {"enum": ops.names()},
        "value": True,
        "ignore_case": {"type": "boolean"},
    }
    cond: dict[str, Any] = {
        "type": "object",
        "properties": base_props,
        "required": ["field", "operator"],
        "additionalProperties": False,
    }
    if schema is None:
        cond["allOf"] = _operator_rules(ops.names(), _scalar_any(), {"$ref": "#/$defs/fieldRef"})
        return cond
    branches = []
    for f in schema:
        names = [
            n
            for n in ops.names()
            if (o := ops.get(n)) is not None
            and f.type in o.types
            and (f.operators is None or n in f.operators)
        ]
        same = [g.name for g in schema if g.type is f.type and g.name != f.name]
        ref = (
            {
                "type": "object",
                "properties": {"field": {"enum": same}},
                "required": ["field"],
                "additionalProperties": False,
            }
            if same
            else None
        )
        branch: dict[str, Any] = {
            "properties": {"field": {"const": f.name}, "operator": {"enum": names}},
            "allOf": _operator_rules(names, _scalar_for(f), ref),
        }
        casing = [n for n in names if (o := ops.get(n)) is not None and o.ignore_case]
        if f.type is not FieldType.STRING or not casing:
            branch["properties"]["ignore_case"] = {"const": False}
        else:
            branch["if"] = {
                "properties": {"ignore_case": {"const": True}},
                "required": ["ignore_case"],
            }
            branch["then"] = {"properties": {"operator": {"enum": casing}}}
        branches.append(branch)
    cond["oneOf"] = branches
    return cond


def json_schema(schema: Schema | None = None) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a native rule, optionally specialised to ``schema``."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "segmentkit rule",
        "description": (
            "A segment rule in segmentkit's native JSON format. Nesting deeper than "
            f"{MAX_DEPTH} levels is refused by the library."
        ),
        "$ref": "#/$defs/rule",
        "$defs": {
            "rule": {
                "oneOf": [
                    {"$ref": "#/$defs/group"},
                    {"$ref": "#/$defs/condition"},
                    {"$ref": "#/$defs/segmentRef"},
                    {"$ref": "#/$defs/eventCondition"},
                ]
            },
            "group": {
                "type": "object",
                "properties": {
                    "id": {"type": ["string", "null"]},
                    "combinator": {"enum": ["and", "or"]},
                    "not": {"type": "boolean"},
                    "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
                },
                "anyOf": [{"required": ["rules"]}, {"required": ["combinator"]}],
                "additionalProperties": False,
            },
            "condition": _condition(schema),
            # An event's ``where`` tests the event's own properties, not the schema's
            # fields: it gets the generic condition shape.
            "eventGroup": {
                "type": "object",
                "properties": {
                    "id": {"type": ["string", "null"]},
                    "combinator": {"enum": ["and", "or"]},
                    "not": {"type": "boolean"},
                    "rules": {"type": "array", "items": {"$ref": "#/$defs/eventRule"}},
                },
                "anyOf": [{"required": ["rules"]}, {"required": ["combinator"]}],
                "additionalProperties": False,
            },
            "eventRule": {
                "oneOf": [
                    {"$ref": "#/$defs/eventGroup"},
                    {"$ref": "#/$defs/eventPropertyCondition"},
                ]
            },
            "eventPropertyCondition": _condition(None),
            "segmentRef": {
                "type": "object",
                "properties": {
                    "id": {"type": ["string", "null"]},
                    "segment": {"type": "string", "minLength": 1, "maxLength": 200},
                },
                "required": ["segment"],
                "additionalProperties": False,
            },
            "eventCondition": {
                "type": "object",
                "properties": {
                    "id": {"type": ["string", "null"]},
                    "event": {"type": "string", "minLength": 1, "maxLength": 200},
                    "where": {"anyOf": [{"$ref": "#/$defs/eventGroup"}, {"type": "null"}]},
                    "count": {"$ref": "#/$defs/countSpec"},
                    "in_last": {"anyOf": [{"$ref": "#/$defs/duration"}, {"type": "null"}]},
                },
                "required": ["event"],
                "additionalProperties": False,
            },
            "fieldRef": {
                "type": "object",
                "properties": {"field": {"type": "string", "minLength": 1}},
                "required": ["field"],
                "additionalProperties": False,
            },
            "duration": {
                "type": "object",
                "properties": {
                    "amount": {"type": "integer", "minimum": 0, "maximum": 100_000},
                    "unit": {"enum": _UNITS},
                },
                "required": ["amount", "unit"],
                "additionalProperties": False,
            },
            "countSpec": {
                "type": "object",
                "properties": {
                    "operator": {"enum": ["eq", "neq", "gt", "gte", "lt", "lte"]},
                    "value": {"type": "integer", "minimum": 0, "maximum": 10**9},
                },
                "additionalProperties": False,
            },
        },
    }
