"""Rules at the width limits run on every engine through every compile path.

A flat chain of a thousand conditions parses as a left-deep tree: SQLite refused an ``or``
of 999 conditions ("Expression tree is too large (maximum depth 1000)") and DuckDB hits its
expression-depth limit. The compiler nests long chains in parenthesised groups and turns
an ``or`` of equalities on one field into one ``IN`` list.
"""

from __future__ import annotations

from typing import Any

import pytest

from adversarial import NOW, STRINGS
from backends import COMPILE_PATHS, Backend, MemoryBackend, SQLBackend


def wide(n: int) -> dict[str, dict[str, Any]]:
    ints = [{"field": "n", "operator": "gt", "value": 10 * i} for i in range(n)]
    names = [{"field": "s", "operator": "eq", "value": f"v{i}"} for i in range(n)]
    mixed = [
        {"field": "s", "operator": "neq", "value": s}
        if i % 2
        else {"field": "n", "operator": "lt", "value": -i}
        for i, s in enumerate((STRINGS * (n // len(STRINGS) + 1))[:n])
        if s is not None
    ]
    return {
        f"or-{n}-ranges": {"combinator": "or", "rules": ints},
        f"or-{n}-equalities": {
            "combinator": "or",
            "rules": [*names, {"field": "s", "operator": "eq", "value": "a"}],
        },
        f"and-{n}-negations": {"combinator": "and", "rules": mixed},
        f"or-{n}-of-ands": {
            "combinator": "or",
            "rules": [
                {"combinator": "and", "rules": [r, {"field": "b", "operator": "is_true"}]}
                for r in ints
            ],
        },
    }


RULES = wide(2500)


@pytest.mark.parametrize("path", COMPILE_PATHS)
@pytest.mark.parametrize("name", RULES)
def test_wide_rules_run_everywhere(
    sql_backend: Backend, reference: MemoryBackend, name: str, path: str
) -> None:
    assert isinstance(sql_backend, SQLBackend)
    rule = RULES[name]
    expected = reference.members(rule, NOW)
    assert sql_backend.select_keys(path, rule, sql_backend.schema, NOW) == expected
