"""The rule tree and the Segment model (pydantic v2), and ``parse``.

Native JSON format (DESIGN.md)::

    group      {"combinator": "and"|"or", "not": false, "rules": [...]}
    condition  {"field": "age", "operator": "gte", "value": 18, "ignore_case": false}
    reference  {"segment": "vip-customers"}
    event      {"event": "purchase", "where": <group>, "count": {"operator": "gte", "value": 3},
                "in_last": {"amount": 30, "unit": "days"}}

``operator`` stays a plain string here; it is checked against the operator
registry at bind time, so a custom operator needs no model change.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from .errors import Problem, RuleError, pointer

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_VALUE_DEPTH",
    "Condition",
    "CountSpec",
    "Duration",
    "EventCondition",
    "Group",
    "Rule",
    "Segment",
    "SegmentRef",
    "parse",
    "parse_segment",
]

MAX_DEPTH = 64
MAX_NODES = 10_000
# A rule value is a scalar, a list of scalars or a small object ({"field": ...},
# {"amount": ..., "unit": ...}); anything nested deeper than this is refused at parse.
MAX_VALUE_DEPTH = 8
# No field type holds an integer this large (a double's range ends below 2**1024).
MAX_INTEGER_BITS = 1100
# Nor does any field type hold a decimal with more digits or a larger exponent.
MAX_DECIMAL_DIGITS = 400
MAX_DECIMAL_EXPONENT = 400
# Python refuses to read longer integers from text (sys.get_int_max_str_digits).
_MAX_JSON_INT_DIGITS = 4_300
TimeUnit = Literal["minutes", "hours", "days", "weeks", "months", "years"]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    def to_dict(self) -> dict[str, Any]:
        """The native JSON form (defaults left out, so it round-trips through ``parse``)."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def __str__(self) -> str:
        # The readable text form when the text format is available.
        from .formats.text import to_text

        try:
            return to_text(self)
        except (RuleError, RecursionError, ValueError, TypeError):
            pass  # a value with no text form (e.g. NaN or a deep list built in code)
        try:
            return self.to_json()
        except (RecursionError, ValueError, TypeError):
            return f"<{type(self).__name__} that has no text or JSON form>"

    def __repr__(self) -> str:
        from .display import rule_repr

        return rule_repr(self)

    def _repr_html_(self) -> str:
        from .display import rule_html

        return rule_html(self)


class Duration(_Node):
    """A relative amount of time: ``{"amount": 30, "unit": "days"}``."""

    amount: int = Field(ge=0, le=100_000)
    unit: TimeUnit

    @field_validator("amount", mode="before")
    @classmethod
    def _no_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("amount must be an integer, not a boolean")
        return v


class CountSpec(_Node):
    """How many events: ``{"operator": "gte", "value": 3}``."""

    operator: Literal["eq", "neq", "gt", "gte", "lt", "lte"] = "gte"
    value: int = Field(default=1, ge=0, le=10**9)


class Condition(_Node):
    """One test of one field."""

    id: str | None = None
    field: str
    operator: str
    value: Any = None
    ignore_case: bool = False


class SegmentRef(_Node):
    """Membership of another stored segment."""

    id: str | None = None
    segment: str = Field(min_length=1, max_length=200)


class Group(_Node):
    """A combination of rules. ``and`` of nothing is TRUE, ``or`` of nothing FALSE."""

    id: str | None = None
    combinator: Literal["and", "or"] = "and"
    not_: bool = Field(default=False, alias="not")
    rules: tuple[Rule, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        # Explicit so that an empty nested group keeps the keys that identify it as a group.
        out: dict[str, Any] = {} if self.id is None else {"id": self.id}
        out["combinator"] = self.combinator
        if self.not_:
            out["not"] = True
        out["rules"] = [r.to_dict() for r in self.rules]
        return out


class EventCondition(_Node):
    """The contact performed ``event`` (filtered by ``where``) ``count`` times in a window."""

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.where is not None:
            out["where"] = self.where.to_dict()
        return out

    id: str | None = None
    event: str = Field(min_length=1, max_length=200)
    where: Group | None = None
    count: CountSpec = CountSpec()
    in_last: Duration | None = None


def _discriminate(value: Any) -> str | None:
    if isinstance(value, Mapping):
        if "rules" in value or "combinator" in value:
            return "Group"
        if "segment" in value:
            return "SegmentRef"
        if "event" in value:
            return "EventCondition"
        return "Condition"
    if isinstance(value, Group | SegmentRef | EventCondition | Condition):
        return type(value).__name__
    return None


Rule: TypeAlias = Annotated[
    Annotated[Group, Tag("Group")]
    | Annotated[Condition, Tag("Condition")]
    | Annotated[SegmentRef, Tag("SegmentRef")]
    | Annotated[EventCondition, Tag("EventCondition")],
    Discriminator(
        _discriminate,
        custom_error_type="rule_shape",
        custom_error_message="expected a group, condition, segment reference or event condition",
    ),
]

Group.model_rebuild()
EventCondition.model_rebuild()
_RULE = TypeAdapter(Rule)


class Segment(BaseModel):
    """A named segment: its type, status, rule and manual overrides."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str = Field(min_length=1, max_length=200)
    name: str = Field(default="", max_length=500)
    description: str = ""
    type: Literal["dynamic", "static", "hybrid"] = "dynamic"
    status: Literal["active", "inactive", "archived"] = "active"
    rule: Rule | None = None
    include: list[Any] = Field(default_factory=list)
    exclude: list[Any] = Field(default_factory=list)
    member_count: int | None = None
    last_calculated_at: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def __repr__(self) -> str:
        from .display import segment_text

        return segment_text(self)

    def _repr_html_(self) -> str:
        from .display import segment_html

        return segment_html(self)


# --------------------------------------------------------------------------- parsing
def load_json(source: Any, what: str = "rule") -> Any:
    """Decode JSON text or bytes into Python data (anything else is returned as is).

    Every failure is a ``RuleError`` naming what was being read, including input
    nested too deeply for the JSON decoder.
    """
    if isinstance(source, bytes | bytearray):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RuleError(
                f"{what} is not valid UTF-8: {exc.reason} at byte {exc.start}"
            ) from None
    if isinstance(source, str):
        return json_loads(source, what)
    return source


class _LongNumber(Exception):
    pass


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_JSON_INT_DIGITS:
        raise _LongNumber
    return int(text)


def json_loads(text: str, what: str = "rule", path: str = "") -> Any:
    """``json.loads`` whose every failure is a ``RuleError`` (at ``path``) naming ``what``:
    syntax errors, nesting too deep for the decoder, and integers too long for Python
    to read (more than 4,300 digits)."""
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise RuleError(
            f"invalid JSON in {what}: {exc.msg} at line {exc.lineno} column {exc.colno}", path
        ) from None
    except _LongNumber:
        raise RuleError(
            f"{what} has a number with more than {_MAX_JSON_INT_DIGITS:,} digits", path
        ) from None
    except RecursionError:
        raise RuleError(f"{what} nested deeper than {MAX_DEPTH} levels", path) from None
    except ValueError as exc:  # pragma: no cover - defensive: any other decoder refusal
        raise RuleError(f"invalid JSON in {what}: {exc}", path) from None


def check_value(value: Any, path: tuple[str | int, ...]) -> None:
    """Refuse rule values no operator can use and that would break printing them:
    nested deeper than ``MAX_VALUE_DEPTH``, object keys that are not strings, integers
    beyond every field type's range. Iterative."""
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 1, path)]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, bool) or item is None or isinstance(item, str | float):
            continue
        if isinstance(item, Decimal):
            if item.is_nan():  # raises InvalidOperation in comparisons: stop it here
                raise RuleError("a decimal NaN is not a value", pointer(where))
            if item.is_finite() and (
                len(item.as_tuple().digits) > MAX_DECIMAL_DIGITS
                or not -MAX_DECIMAL_EXPONENT <= item.adjusted() <= MAX_DECIMAL_EXPONENT
            ):
                # Decimal("1e999999999") is 12 characters; int() or a plain rendering
                # of it is a billion digits.
                raise RuleError("decimal beyond every field type's range", pointer(where))
            continue
        if isinstance(item, int):
            if item.bit_length() > MAX_INTEGER_BITS:
                raise RuleError("integer too large for any field type", pointer(where))
            continue
        if isinstance(item, Mapping | list | tuple | set | frozenset):
            if depth > MAX_VALUE_DEPTH:
                raise RuleError(
                    f"value nested deeper than {MAX_VALUE_DEPTH} levels", pointer(where)
                )
            if isinstance(item, Mapping):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise RuleError(
                            f"object keys must be strings, got {type(key).__name__}",
                            pointer(where),
                        )
                    stack.append((child, depth + 1, (*where, key)))
            else:
                for i, child in enumerate(item):
                    stack.append((child, depth + 1, (*where, i)))


def check_size(data: Any) -> None:
    """Refuse over-deep or over-large trees before recursive validation touches them.

    Iterative on purpose: a 10,000-deep input must give a RuleError, not RecursionError.
    """
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(data, 1, ())]
    nodes = 0
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, Mapping):
            nodes += 1
            if nodes > MAX_NODES:
                raise RuleError(f"rule has more than {MAX_NODES:,} nodes", pointer(path))
            for key in node:
                if not isinstance(key, str):
                    raise RuleError(
                        f"object keys must be strings, got {type(key).__name__}", pointer(path)
                    )
            if "value" in node:
                check_value(node["value"], (*path, "value"))
            children = node.get("rules")
            where = node.get("where")
            if (children is not None or where is not None) and depth >= MAX_DEPTH:
                raise RuleError(f"rule nested deeper than {MAX_DEPTH} levels", pointer(path))
            if isinstance(children, list | tuple):
                for i, child in enumerate(children):
                    stack.append((child, depth + 1, (*path, "rules", i)))
            if isinstance(where, Mapping):
                stack.append((where, depth + 1, (*path, "where")))


_TAGS = frozenset({"Group", "Condition", "SegmentRef", "EventCondition"})


def problems_from_validation(
    exc: ValidationError, prefix: tuple[str | int, ...] = ()
) -> list[Problem]:
    """Turn a pydantic ValidationError into problems with JSON-pointer paths."""
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        # Drop discriminator tags (capitalised, so never a rule key) from the location.
        loc = [p for p in err["loc"] if p not in _TAGS]
        path = pointer((*prefix, *("not" if p == "not_" else p for p in loc)))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown key {str(loc[-1])!r}" if loc else "unknown key"
        elif err["type"] == "missing":
            msg = f"missing required key {str(loc[-1])!r}" if loc else "missing value"
        key = (path, msg)
        if key not in seen:
            seen.add(key)
            out.append(Problem(path, msg))
    return out


def parse(source: Any) -> Group | Condition | SegmentRef | EventCondition:
    """Parse a rule from a dict, JSON text/bytes or an existing rule node.

    Raises one :class:`RuleError` listing every structural problem.
    """
    if isinstance(source, Group | Condition | SegmentRef | EventCondition):
        return source
    data = load_json(source)
    if not isinstance(data, Mapping):
        raise RuleError("a rule must be a JSON object")
    check_size(data)
    try:
        return _RULE.validate_python(data)
    except ValidationError as exc:
        raise RuleError(problems_from_validation(exc)) from None
    except RecursionError:  # pragma: no cover - check_size prevents it
        raise RuleError(f"rule nested deeper than {MAX_DEPTH} levels") from None


def parse_segment(source: Any) -> Segment:
    """Parse a Segment from a dict or JSON text."""
    if isinstance(source, Segment):
        return source
    data = load_json(source, "segment")
    if not isinstance(data, Mapping):
        raise RuleError("a segment must be a JSON object")
    if isinstance(data.get("rule"), Mapping):
        check_size(data["rule"])
    try:
        return Segment.model_validate(data)
    except ValidationError as exc:
        raise RuleError(problems_from_validation(exc)) from None
