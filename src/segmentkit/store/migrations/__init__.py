"""Alembic migrations of the store tables, shipped inside the package.

Standalone (the store is the only thing migrated)::

    from segmentkit.store.migrations import upgrade
    upgrade(engine)                        # or upgrade(engine, prefix="crm_sk_")

From a host's Alembic environment, add this directory to ``version_locations`` in
``alembic.ini`` (the revisions form their own branch, labelled ``segmentkit``)::

    path_separator = space
    version_locations = %(here)s/versions segmentkit.store:migrations/versions
    segmentkit_prefix = sk_
    segmentkit_key_type = bigint          # or string:64

and run ``alembic upgrade heads`` (or ``alembic upgrade segmentkit@head``). The
revisions read the table prefix and key type from those options (or from
``config.attributes["segmentkit_prefix"]`` / ``["segmentkit_key_type"]``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import TypeEngine

__all__ = ["BRANCH", "config", "key_type_from", "settings", "upgrade"]

BRANCH = "segmentkit"
SCRIPT_LOCATION = "segmentkit.store:migrations"


def key_type_from(spec: str) -> TypeEngine[Any]:
    """``"bigint"`` -> BigInteger, ``"string:N"`` -> String(N)."""
    spec = spec.strip().lower()
    if spec in ("bigint", "biginteger", "integer"):
        return sa.BigInteger()
    if spec.startswith("string"):
        _, _, n = spec.partition(":")
        return sa.String(int(n) if n else 64)
    raise ValueError(f"unknown segmentkit_key_type {spec!r} (use 'bigint' or 'string:N')")


def settings() -> tuple[str, TypeEngine[Any]]:
    """(prefix, key type) for the running migration, from the Alembic config."""
    from alembic import context

    cfg = context.config
    prefix = cfg.attributes.get("segmentkit_prefix") or cfg.get_main_option(
        "segmentkit_prefix", "sk_"
    )
    key = cfg.attributes.get("segmentkit_key_type") or cfg.get_main_option(
        "segmentkit_key_type", "bigint"
    )
    return str(prefix), key if isinstance(key, TypeEngine) else key_type_from(str(key))


def config(
    bind: Engine | Connection | None = None,
    *,
    prefix: str = "sk_",
    key_type: str | TypeEngine[Any] = "bigint",
) -> Any:
    """An Alembic ``Config`` for the store's own migration environment."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.attributes["segmentkit_prefix"] = prefix
    cfg.attributes["segmentkit_key_type"] = key_type
    if bind is not None:
        cfg.attributes["connection"] = bind
    return cfg


def upgrade(
    bind: Engine | Connection,
    revision: str = "heads",
    *,
    prefix: str = "sk_",
    key_type: str | TypeEngine[Any] = "bigint",
) -> None:
    """Run the store migrations up to ``revision`` on ``bind``."""
    from alembic import command

    if isinstance(bind, Engine):
        with bind.begin() as conn:
            command.upgrade(config(conn, prefix=prefix, key_type=key_type), revision)
    else:
        command.upgrade(config(bind, prefix=prefix, key_type=key_type), revision)


def downgrade(
    bind: Engine | Connection,
    revision: str = "base",
    *,
    prefix: str = "sk_",
    key_type: str | TypeEngine[Any] = "bigint",
) -> None:
    """Run the store migrations down to ``revision`` on ``bind``."""
    from alembic import command

    if isinstance(bind, Engine):
        with bind.begin() as conn:
            command.downgrade(config(conn, prefix=prefix, key_type=key_type), revision)
    else:
        command.downgrade(config(bind, prefix=prefix, key_type=key_type), revision)
