"""Helpers shared by the interop formats: problem collection, JSON loading, limits,
operator twins, and mapping bind's error paths back into the input document.

Every importer builds native rule dicts while recording, for each native node, the
JSON pointer of the construct it came from; problems found later (by ``parse`` or by
``bind`` against a schema) are reported at the *input's* path, not the native one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from .. import operators as ops
from ..errors import Problem, RuleError, pointer
from ..model import (
    MAX_DEPTH,
    MAX_NODES,
    Condition,
    EventCondition,
    Group,
    SegmentRef,
    load_json,
    parse,
)
from ..schema import Schema

__all__ = [
    "MAX_CONTAINER_DEPTH",
    "Node",
    "Problems",
    "as_rule",
    "check_json_depth",
    "check_tree_depth",
    "load",
    "twin_of",
]

Node = Group | Condition | SegmentRef | EventCondition
Path = tuple[str | int, ...]

# A rule level is at most a few JSON containers deep in any of the formats (a group
# object, its rules array, a value list ...); this bounds the recursion of every
# converter far below Python's recursion limit.
MAX_CONTAINER_DEPTH = 4 * MAX_DEPTH + 8


class Problems:
    """Collects problems (JSON pointer into the input + message) and raises them together."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: Path | str, message: str) -> None:
        where = path if isinstance(path, str) else pointer(path)
        self.items.append(Problem(where, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise RuleError(self.items)


def load(source: Any, what: str) -> Any:
    """Decode JSON text/bytes (anything else is returned as is) into Python data."""
    return load_json(source, what)


def check_json_depth(data: Any, what: str, limit: int = MAX_CONTAINER_DEPTH) -> None:
    """Refuse over-deep or over-large JSON before any recursive converter touches it.

    Iterative: a 10,000-deep document gives a RuleError, never RecursionError.
    """
    stack: list[tuple[Any, int, Path]] = [(data, 1, ())]
    count = 0
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, Mapping):
            items: Iterable[tuple[str | int, Any]] = node.items()
        elif isinstance(node, list | tuple):
            items = enumerate(node)
        else:
            continue
        count += 1
        if count > 4 * MAX_NODES:
            raise RuleError(
                f"{what} has more than {4 * MAX_NODES:,} objects and arrays", pointer(path)
            )
        if depth > limit:
            raise RuleError(
                f"{what} is nested deeper than segmentkit's limit of {MAX_DEPTH} rule levels",
                pointer(path),
            )
        for key, child in items:
            if isinstance(child, Mapping | list | tuple):
                stack.append((child, depth + 1, (*path, key)))
            elif isinstance(child, Decimal) and child.is_nan():
                # Python callers only (JSON has no Decimal); NaN decimals raise
                # InvalidOperation in any comparison, so they stop here.
                raise RuleError(f"{what} holds a decimal NaN", pointer((*path, key)))


def check_tree_depth(rule: Node) -> None:
    """Refuse a rule tree built in code deeper than ``MAX_DEPTH`` (``parse`` enforces the
    limit on dicts, not on nodes); iterative, so exporters may then recurse."""
    stack: list[tuple[Node, int]] = [(rule, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH + 1:
            raise RuleError(f"rule nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, Group):
            stack.extend((child, depth + 1) for child in node.rules)
        elif isinstance(node, EventCondition) and node.where is not None:
            stack.append((node.where, depth + 1))


def twin_of(name: str) -> str | None:
    """The exact complement of an operator (``eq`` <-> ``neq``), if it has one."""
    op = ops.get(name)
    if op is None:
        return None
    if op.complement_of is not None:
        return op.complement_of
    for other in ops.names():
        o = ops.get(other)
        if o is not None and o.complement_of == name:
            return other
    return None


def value_kind(name: str) -> str | None:
    """The value kind of a registered operator (``scalar``, ``list`` ...), or None."""
    op = ops.get(name)
    return op.value if op is not None else None


class PathMap:
    """Native JSON pointer -> input JSON pointer, recorded while converting."""

    def __init__(self) -> None:
        self.map: dict[str, str] = {}

    def record(self, native: Path, source: Path | str) -> None:
        self.map[pointer(native)] = source if isinstance(source, str) else pointer(source)

    def translate(self, path: str, keep_suffix: bool) -> str:
        probe = path
        while True:
            if probe in self.map:
                tail = path[len(probe) :]
                return self.map[probe] + (tail if keep_suffix else "")
            if not probe:
                return path
            probe = probe.rsplit("/", 1)[0]


def as_rule(
    native: dict[str, Any],
    paths: PathMap,
    *,
    schema: Schema | None,
    keep_suffix: bool,
    suffix_keys: Mapping[str, str] | None = None,
) -> Node:
    """Validate the native dict (shape, and against ``schema`` when given); errors come
    back with paths into the input document."""
    try:
        rule = parse(native)
        if schema is not None:
            from ..bind import bind

            bind(rule, schema)
    except RuleError as exc:
        problems = []
        for p in exc.errors:
            where = paths.translate(p.path, keep_suffix)
            if keep_suffix and suffix_keys:
                head, _, last = where.rpartition("/")
                if last in suffix_keys:
                    where = f"{head}/{suffix_keys[last]}"
            problems.append(Problem(where, p.message))
        raise RuleError(problems) from None
    return rule


def is_field_ref(value: Any) -> bool:
    return (
        isinstance(value, Mapping) and set(value) == {"field"} and isinstance(value["field"], str)
    )


def show(value: Any) -> str:
    """A short rendering of an input value for an error message (never raises)."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):  # huge ints, odd keys, deep nesting
        text = f"a {type(value).__name__} value"
    return text if len(text) <= 60 else text[:57] + "..."
