"""Segment references: which segments a rule uses, and the order to recalculate in.

A rule's ``{"segment": id}`` nodes make its segment depend on ``id``. Recalculation
runs dependencies first (a topological order); a cycle is a :class:`RuleError`
whose message shows the path (``a -> b -> a``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import RuleError
from ..model import EventCondition, Group, SegmentRef

__all__ = ["dependency_order", "rule_refs"]


def rule_refs(rule: Any) -> set[str]:
    """The segment ids a parsed rule references (anywhere in the tree)."""
    out: set[str] = set()
    stack: list[Any] = [rule]
    while stack:
        node = stack.pop()
        if isinstance(node, Group):
            stack.extend(node.rules)
        elif isinstance(node, SegmentRef):
            out.add(node.segment)
        elif isinstance(node, EventCondition) and node.where is not None:
            stack.append(node.where)
    return out


def dependency_order(
    roots: Iterable[str],
    depends_on: Callable[[str], Iterable[str]] | Mapping[str, Iterable[str]],
    *,
    closure: bool = False,
) -> list[str]:
    """``roots`` ordered so every segment comes after the segments it depends on.

    ``depends_on`` gives a segment's direct dependencies. With ``closure`` the
    dependencies of the roots (transitively) are included in the result; otherwise
    only the roots are returned, still in an order consistent with paths through
    other segments. Raises :class:`RuleError` on a cycle, naming its path.
    """
    deps = depends_on.get if isinstance(depends_on, Mapping) else depends_on
    wanted = list(dict.fromkeys(roots))
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done
    for root in wanted:
        if state.get(root) == 2:
            continue
        # Iterative DFS (dependency chains may be long); the stack holds the path.
        stack: list[tuple[str, list[str]]] = [(root, sorted(deps(root) or ()))]
        state[root] = 1
        while stack:
            node, todo = stack[-1]
            if todo:
                nxt = todo.pop(0)
                st = state.get(nxt)
                if st == 1:
                    path = [n for n, _ in stack]
                    cycle = [*path[path.index(nxt) :], nxt]
                    raise RuleError(
                        "segment references form a cycle: " + " -> ".join(cycle), "/segment"
                    )
                if st is None:
                    state[nxt] = 1
                    stack.append((nxt, sorted(deps(nxt) or ())))
                continue
            stack.pop()
            state[node] = 2
            order.append(node)
    if closure:
        return order
    keep = set(wanted)
    return [n for n in order if n in keep]
