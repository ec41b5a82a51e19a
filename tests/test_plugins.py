"""Custom operators: the public registration API and the entry-point group."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import segmentkit as sk
from segmentkit import operators, primitives

SCHEMA = sk.Schema([sk.Field("id", "integer"), sk.Field("email", "string")])


def _email_domain(ctx: object, ref: primitives.FieldRef, value: str) -> primitives.Predicate:
    return primitives.Suffix(
        primitives.Lower(ref), primitives.Param("@" + sk.simple_lower(value), sk.FieldType.STRING)
    )


@pytest.fixture
def domain_operator() -> Iterator[sk.Operator]:
    op = sk.Operator(
        "email_domain",
        frozenset({sk.FieldType.STRING}),
        "needle",
        _email_domain,
        description="the e-mail address is at the domain (case-insensitive)",
    )
    sk.register_operator(op)
    yield op
    operators.unregister("email_domain")


def test_registered_operator_works_and_negates(domain_operator: sk.Operator) -> None:
    rows = [
        {"id": 1, "email": "a@Example.com"},
        {"id": 2, "email": "b@other.org"},
        {"id": 3, "email": None},
    ]
    match = sk.compile_python(
        {"field": "email", "operator": "email_domain", "value": "EXAMPLE.com"}, SCHEMA
    )
    assert [r["id"] for r in match.filter(rows)] == [1]
    negated = sk.compile_python(
        {
            "not": True,
            "rules": [{"field": "email", "operator": "email_domain", "value": "example.com"}],
        },
        SCHEMA,
    )
    assert [r["id"] for r in negated.filter(rows)] == [2, 3]


def test_registration_checks_completeness() -> None:
    with pytest.raises(ValueError, match="description"):
        sk.register_operator(
            sk.Operator("x_op", frozenset({sk.FieldType.STRING}), "needle", _email_domain)
        )
    with pytest.raises(ValueError, match="value kind"):
        sk.register_operator(
            sk.Operator(
                "x_op", frozenset({sk.FieldType.STRING}), "blob", _email_domain, description="d"
            )
        )
    with pytest.raises(ValueError, match="exactly one"):
        sk.register_operator(
            sk.Operator("x_op", frozenset({sk.FieldType.STRING}), "needle", description="d")
        )
    with pytest.raises(ValueError, match="already registered"):
        sk.register_operator(
            sk.Operator(
                "eq", frozenset({sk.FieldType.STRING}), "scalar", _email_domain, description="d"
            )
        )
    with pytest.raises(ValueError, match="identifier"):
        sk.register_operator(
            sk.Operator(
                "1; DROP",
                frozenset({sk.FieldType.STRING}),
                "needle",
                _email_domain,
                description="d",
            )
        )


def test_entry_point_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package that declares a `segmentkit.operators` entry point is picked up when installed."""
    (tmp_path / "sk_domain_plugin.py").write_text(
        textwrap.dedent("""
        import segmentkit as sk
        from segmentkit import primitives as p

        def _lower(ctx, ref, value):
            return p.Suffix(p.Lower(ref), p.Param("@" + sk.simple_lower(value), sk.FieldType.STRING))

        OPERATOR = sk.Operator("plugin_domain", frozenset({sk.FieldType.STRING}), "needle", _lower,
                               description="e-mail domain, from a plugin")
    """)
    )
    dist = tmp_path / "sk_domain_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sk-domain-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[segmentkit.operators]\nplugin_domain = sk_domain_plugin:OPERATOR\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert "plugin_domain" in operators.load_plugins()
        match = sk.compile_python(
            {"field": "email", "operator": "plugin_domain", "value": "x.org"}, SCHEMA
        )
        assert match({"email": "me@X.ORG"}) and not match({"email": "me@y.org"})
    finally:
        operators.unregister("plugin_domain")
        sys.modules.pop("sk_domain_plugin", None)


def test_shipped_example_plugin_installs_and_registers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/plugin is a real package: pip-install it into a folder and load it."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(root / "examples" / "plugin"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    monkeypatch.syspath_prepend(str(target))
    try:
        loaded = operators.load_plugins()
        assert {"email_domain", "not_email_domain"} <= set(loaded)
        rows = [
            {"id": 1, "email": "a@Example.COM"},
            {"id": 2, "email": "b@x.org"},
            {"id": 3, "email": None},
        ]
        match = sk.compile_python(
            {"field": "email", "operator": "not_email_domain", "value": "@example.com"}, SCHEMA
        )
        assert [r["id"] for r in match.filter(rows)] == [2, 3]
    finally:
        operators.unregister("not_email_domain")
        operators.unregister("email_domain")
        sys.modules.pop("segmentkit_email_domain", None)
