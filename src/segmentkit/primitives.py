"""The bound rule: a small tree of predicate primitives that every backend compiles.

Operators (``operators.py``) own semantics and lower themselves to these nodes;
backends (``compile/*``) own dialects and compile only these nodes. The contract
each backend implements:

* Logic is two-valued. Every predicate is TRUE or FALSE for every row.
* A *leaf* (anything but ``And``/``Or``/``Not``/``Const``) is FALSE when any of
  :func:`nullable_inputs` is NULL, and never NULL itself for non-NULL inputs.
* ``Not`` appears only directly above a leaf (bind pushes negation down) and is
  the exact complement of it: SQL backends emit ``(NOT p OR x IS NULL ...)`` for
  every ``x`` in ``nullable_inputs(p)``; the Python backend emits ``not p``.
* ``Param`` values are already coerced to the field's type (aware UTC datetimes,
  ``Decimal``, NFC strings, lower-cased where the operator asked for it). A
  backend binds them; it never reinterprets them.
* Strings compare by code point; ``Lower`` is the Unicode simple lowercase mapping
  per code point (:func:`segmentkit.types.simple_lower`).

Nodes are frozen, hashable dataclasses so a bound tree can key a compile cache.
:func:`shape` separates a tree into a value-free *shape* and its parameters: two
rules with the same shape compile to the same code/SQL with different parameters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from .schema import Field
from .types import FieldType

__all__ = [
    "And",
    "Compare",
    "CompareOp",
    "Const",
    "Contains",
    "EventCount",
    "FieldRef",
    "InList",
    "InSegment",
    "IsNull",
    "Leaf",
    "Lower",
    "Matches",
    "Not",
    "Or",
    "Param",
    "Predicate",
    "Prefix",
    "Suffix",
    "TagsAny",
    "TagsEmpty",
    "Value",
    "iter_leaves",
    "nullable_inputs",
    "shape",
    "unshape",
]


# --------------------------------------------------------------------------- values
@dataclass(frozen=True, slots=True)
class FieldRef:
    """The value of a schema field for the current contact (NULL when missing)."""

    field: Field

    @property
    def type(self) -> FieldType:
        return self.field.type


@dataclass(frozen=True, slots=True)
class Param:
    """A bound value, already coerced to ``type``. Never NULL."""

    value: Any
    type: FieldType


@dataclass(frozen=True, slots=True)
class Lower:
    """Unicode simple lowercase of a string field (per code point)."""

    operand: FieldRef

    @property
    def type(self) -> FieldType:
        return FieldType.STRING


Value: TypeAlias = FieldRef | Param | Lower

CompareOp = Literal["eq", "lt", "le", "gt", "ge"]


# --------------------------------------------------------------------------- leaves
@dataclass(frozen=True, slots=True)
class IsNull:
    """TRUE when the field is NULL (for tags in a child table: has no rows)."""

    operand: FieldRef


@dataclass(frozen=True, slots=True)
class Compare:
    """``left op right``; both sides share a type; strings by code point.

    ``right`` is a ``Param`` or (field-to-field) a ``FieldRef``/``Lower``.
    Datetimes compare as instants.
    """

    op: CompareOp
    left: Value
    right: Value


@dataclass(frozen=True, slots=True)
class InList:
    """``operand`` equals one of ``values`` (non-empty, de-duplicated, no NULL)."""

    operand: FieldRef | Lower
    values: tuple[Any, ...]
    type: FieldType


@dataclass(frozen=True, slots=True)
class Contains:
    """``needle`` occurs in ``operand`` (code points; no wildcards; needle non-empty)."""

    operand: FieldRef | Lower
    needle: Value  # a Param, or (field-to-field) a FieldRef/Lower taken literally


@dataclass(frozen=True, slots=True)
class Prefix:
    """``operand`` starts with ``needle``."""

    operand: FieldRef | Lower
    needle: Value  # a Param, or (field-to-field) a FieldRef/Lower taken literally


@dataclass(frozen=True, slots=True)
class Suffix:
    """``operand`` ends with ``needle``."""

    operand: FieldRef | Lower
    needle: Value  # a Param, or (field-to-field) a FieldRef/Lower taken literally


@dataclass(frozen=True, slots=True)
class Matches:
    """Regular-expression search of a validated portable pattern (SEMANTICS §5)."""

    operand: FieldRef
    pattern: Param


@dataclass(frozen=True, slots=True)
class TagsAny:
    """The tag set contains at least one of ``values`` (exact, non-empty tuple)."""

    operand: FieldRef
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TagsEmpty:
    """The tag set is present (non-NULL) and has no elements.

    For child-table tags there is no NULL: no rows means NULL, so this is FALSE.
    """

    operand: FieldRef


@dataclass(frozen=True, slots=True)
class InSegment:
    """The contact is a current member of the stored segment ``segment_id``."""

    segment_id: str


@dataclass(frozen=True, slots=True)
class EventCount:
    """The number of the contact's events named ``event`` that satisfy ``where``
    within ``[since, until]`` (either may be None) compares ``op`` to ``count``.

    ``where`` is a predicate over the event schema's fields. No events: count 0.
    """

    event: str
    where: Predicate
    since: dt.datetime | None
    until: dt.datetime | None
    op: CompareOp
    count: int


# --------------------------------------------------------------------------- logic
@dataclass(frozen=True, slots=True)
class Const:
    """TRUE (everyone) or FALSE (no one)."""

    value: bool


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """Exact complement of a leaf (bind guarantees ``item`` is a leaf)."""

    item: Leaf


Leaf: TypeAlias = (
    IsNull
    | Compare
    | InList
    | Contains
    | Prefix
    | Suffix
    | Matches
    | TagsAny
    | TagsEmpty
    | InSegment
    | EventCount
)
Predicate: TypeAlias = Leaf | Const | And | Or | Not

LEAF_TYPES: tuple[type, ...] = (
    IsNull,
    Compare,
    InList,
    Contains,
    Prefix,
    Suffix,
    Matches,
    TagsAny,
    TagsEmpty,
    InSegment,
    EventCount,
)


def _refs(value: Value) -> Iterator[FieldRef]:
    if isinstance(value, FieldRef):
        yield value
    elif isinstance(value, Lower):
        yield value.operand


def nullable_inputs(leaf: Leaf) -> tuple[FieldRef, ...]:
    """The field refs whose NULL makes ``leaf`` FALSE (and NULL in naive SQL).

    A SQL backend compiles ``Not(leaf)`` as ``NOT leaf OR ref IS NULL`` for each.
    ``IsNull``, child-table tags, segment membership and event counts never yield
    NULL, so they have none.
    """
    match leaf:
        case IsNull() | InSegment() | EventCount():
            return ()
        case Compare(left=left, right=right):
            return (*_refs(left), *_refs(right))
        case InList(operand=o):
            return tuple(_refs(o))
        case (
            Contains(operand=o, needle=n)
            | Prefix(operand=o, needle=n)
            | Suffix(operand=o, needle=n)
        ):
            return (*_refs(o), *_refs(n))
        case Matches(operand=o):
            return (o,)
        case TagsAny(operand=o) | TagsEmpty(operand=o):
            from .schema import ChildTable

            return () if isinstance(o.field.tags, ChildTable) else (o,)
    raise TypeError(f"not a leaf: {leaf!r}")  # pragma: no cover


def iter_leaves(pred: Predicate) -> Iterator[Leaf]:
    """Every leaf of a bound tree, depth first (iterative: trees may be wide)."""
    stack: list[Predicate] = [pred]
    while stack:
        node = stack.pop()
        if isinstance(node, And | Or):
            stack.extend(reversed(node.items))
        elif isinstance(node, Not):
            yield node.item
        elif not isinstance(node, Const):
            yield node


# --------------------------------------------------------------------------- shapes
@dataclass(frozen=True, slots=True)
class Slot:
    """Placeholder for the ``index``-th parameter in a shape."""

    index: int
    type: FieldType


def shape(pred: Predicate) -> tuple[Predicate, tuple[Any, ...]]:
    """Split ``pred`` into a value-free shape (hashable) and its parameter values.

    ``Param(v, t)`` becomes ``Param(Slot(i, t), t)``; the values of an ``InList`` or
    ``TagsAny`` become ONE slot holding the whole tuple (``values=(Slot,)``), so a list's
    length is not part of the shape and a backend may bind it as one array parameter or
    expand it. A segment reference's id and an event condition's name and window bounds
    are slots too, so a relative window does not make every ``now`` a new shape; so is
    its count from 2 up (0 and 1 stay: they decide the form of the SQL). The parameters
    come back in slot order.
    """
    params: list[Any] = []
    append = params.append

    def slot(value: Any, ftype: FieldType) -> Slot:
        append(value)
        return Slot(len(params) - 1, ftype)

    # Dispatch on the exact node type: this runs on every compile, so it avoids
    # isinstance chains (the cached-shape compile budget is a fraction of a millisecond).
    def walk(node: Any) -> Any:  # depth is bounded by model.MAX_DEPTH
        handler = handlers.get(type(node))
        return node if handler is None else handler(node)

    handlers: dict[type, Any] = {
        Param: lambda n: Param(slot(n.value, n.type), n.type),
        And: lambda n: And(tuple(map(walk, n.items))),
        Or: lambda n: Or(tuple(map(walk, n.items))),
        Not: lambda n: Not(walk(n.item)),
        Compare: lambda n: Compare(
            n.op,
            n.left,
            walk(n.right) if type(n.right) is Param else n.right,
        ),
        InList: lambda n: InList(n.operand, (slot(n.values, n.type),), n.type),
        Contains: lambda n: Contains(n.operand, walk(n.needle)),
        Prefix: lambda n: Prefix(n.operand, walk(n.needle)),
        Suffix: lambda n: Suffix(n.operand, walk(n.needle)),
        FieldRef: lambda n: n,
        Lower: lambda n: n,
        Matches: lambda n: Matches(n.operand, walk(n.pattern)),
        TagsAny: lambda n: TagsAny(n.operand, (slot(n.values, FieldType.TAGS),)),  # type: ignore[arg-type]
        InSegment: lambda n: InSegment(slot(n.segment_id, FieldType.STRING)),  # type: ignore[arg-type]
        EventCount: lambda n: EventCount(
            slot(n.event, FieldType.STRING),  # type: ignore[arg-type]
            walk(n.where),
            None if n.since is None else slot(n.since, FieldType.DATETIME),  # type: ignore[arg-type]
            None if n.until is None else slot(n.until, FieldType.DATETIME),  # type: ignore[arg-type]
            n.op,
            # Counts of 2 and more all compare COUNT(*); 0 and 1 pick EXISTS forms.
            slot(n.count, FieldType.INTEGER) if n.count >= 2 else n.count,  # type: ignore[arg-type]
        ),
    }
    return walk(pred), tuple(params)


def unshape(node: Any, params: tuple[Any, ...]) -> Any:
    """The bound tree a shape and its parameters came from (the inverse of :func:`shape`)."""
    t = type(node)
    if t is Slot:
        return params[node.index]
    if t is Param:
        return Param(unshape(node.value, params), node.type)
    if t is And or t is Or:
        return t(tuple(unshape(i, params) for i in node.items))
    if t is Not:
        return Not(unshape(node.item, params))
    if t is Compare:
        return Compare(node.op, node.left, unshape(node.right, params))
    if t is InList:
        return InList(node.operand, unshape(node.values[0], params), node.type)
    if t is TagsAny:
        return TagsAny(node.operand, unshape(node.values[0], params))
    if t is Contains or t is Prefix or t is Suffix:
        return t(node.operand, unshape(node.needle, params))
    if t is Matches:
        return Matches(node.operand, unshape(node.pattern, params))
    if t is InSegment:
        return InSegment(unshape(node.segment_id, params))
    if t is EventCount:
        return EventCount(
            unshape(node.event, params),
            unshape(node.where, params),
            unshape(node.since, params),
            unshape(node.until, params),
            node.op,
            unshape(node.count, params),
        )
    return node
