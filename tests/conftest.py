"""Test configuration: hypothesis profiles and the cross-backend ``backend`` fixture.

``backend`` is parametrised over memory (the Python evaluator, the reference), SQLite,
DuckDB, PostgreSQL and MariaDB. Server URLs come from ``SEGMENTKIT_TEST_POSTGRES_URL`` /
``SEGMENTKIT_TEST_MYSQL_URL``; an unreachable server is skipped with the reason, or
fails the test when ``SEGMENTKIT_REQUIRE_BACKENDS=1``. Each backend is set up once per
session (tables under session-unique names) and torn down at the end.

Expected gaps: ``backends.gap(request, backend, {"sqlite": ("notyet", "reason")})`` marks the
running test a strict xfail on the named backends, saying the gap's kind (``notimpl``,
``notyet``, ``never``), so a gap that closes fails loudly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))  # tests/ helpers: adversarial, backends

from backends import BACKENDS, REQUIRE, Backend, MemoryBackend, Unavailable

settings.register_profile(
    "dev",
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True,
)
# A long bug hunt on demand: HYPOTHESIS_PROFILE=hunt.
settings.register_profile("hunt", parent=settings.get_profile("ci"), max_examples=2000)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev")
)

_instances: dict[str, Backend] = {}
_failures: dict[str, str] = {}


def _get(name: str) -> Backend:
    if name in _failures:
        _unavailable(_failures[name])
    if name not in _instances:
        try:
            _instances[name] = BACKENDS[name]()
        except Unavailable as exc:
            _failures[name] = str(exc)
            _unavailable(str(exc))
    return _instances[name]


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason} (SEGMENTKIT_REQUIRE_BACKENDS=1)", pytrace=False)
    pytest.skip(reason)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for backend in _instances.values():
        backend.close()
    _instances.clear()


@pytest.fixture(scope="session", params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each backend in turn, loaded with the adversarial contacts."""
    return _get(request.param)


@pytest.fixture(scope="session", params=[n for n in BACKENDS if n != "memory"])
def sql_backend(request: pytest.FixtureRequest) -> Backend:
    """Each SQL backend in turn (no memory)."""
    return _get(request.param)


@pytest.fixture(scope="session")
def reference() -> MemoryBackend:
    """The Python evaluator over the canonical rows: the expected answer."""
    backend = _get("memory")
    assert isinstance(backend, MemoryBackend)
    return backend


@pytest.fixture(scope="session")
def backend_named() -> Callable[[str], Backend]:
    """``backend_named("mariadb")``: one backend by name, for tests of a single engine
    (skipped with the reason when unreachable, failed under SEGMENTKIT_REQUIRE_BACKENDS)."""
    return _get
