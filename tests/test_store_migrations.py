"""The shipped Alembic migrations create exactly the tables ``create_all`` creates.

Checked by reflecting both databases (fresh SQLite files) and comparing every table's
columns (name, type, nullability), primary key, foreign keys, indexes and check
constraints; then with Alembic's own autogenerate comparison, which must find
nothing to change. Also: the migrations run from a *host's* Alembic environment
through ``version_locations``, and downgrade cleanly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

pytest.importorskip("alembic")

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from segmentkit.store import create_all, make_tables
from segmentkit.store.migrations import downgrade, upgrade


def _describe(engine: sa.Engine, prefix: str) -> dict[str, Any]:
    insp = sa.inspect(engine)
    out: dict[str, Any] = {}
    for name in sorted(insp.get_table_names()):
        if not name.startswith(prefix) or name.endswith("alembic_version"):
            continue
        out[name] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(name)],
            "pk": insp.get_pk_constraint(name)["constrained_columns"],
            "fks": sorted(
                (
                    tuple(f["constrained_columns"]),
                    f["referred_table"],
                    tuple(f["referred_columns"]),
                    (f.get("options") or {}).get("ondelete"),
                )
                for f in insp.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in insp.get_indexes(name)
            ),
            "checks": sorted(c["sqltext"] for c in insp.get_check_constraints(name)),
        }
    return out


@pytest.mark.parametrize(
    ("prefix", "key_type", "spec"),
    [("sk_", sa.BigInteger(), "bigint"), ("crm_", sa.String(64), "string:64")],
)
def test_upgrade_head_matches_create_all(
    tmp_path: Path, prefix: str, key_type: Any, spec: str
) -> None:
    migrated = sa.create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    created = sa.create_engine(f"sqlite:///{tmp_path / 'created.db'}")
    upgrade(migrated, prefix=prefix, key_type=spec)
    tables = make_tables(prefix, key_type)
    create_all(created, tables)
    got, want = _describe(migrated, prefix), _describe(created, prefix)
    assert set(got) == {t.name for t in tables.all}
    assert got == want
    with migrated.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": f"{prefix}alembic_version"}
        )
        diffs = compare_metadata(context, tables.metadata)
    assert diffs == []
    assert sa.inspect(migrated).has_table(f"{prefix}alembic_version")
    downgrade(migrated, prefix=prefix, key_type=spec)
    assert _describe(migrated, prefix) == {}
    migrated.dispose()
    created.dispose()


def test_migrations_run_from_a_host_alembic_environment(tmp_path: Path) -> None:
    """A host keeps its own env.py and version table and adds our versions directory."""
    host = tmp_path / "host_migrations"
    (host / "versions").mkdir(parents=True)
    (host / "env.py").write_text(
        "from alembic import context\n"
        "import sqlalchemy as sa\n"
        "cfg = context.config\n"
        "engine = sa.create_engine(cfg.get_main_option('sqlalchemy.url'))\n"
        "with engine.begin() as conn:\n"
        "    context.configure(connection=conn, target_metadata=None)\n"
        "    with context.begin_transaction():\n"
        "        context.run_migrations()\n"
    )
    (host / "versions" / "h001_contacts.py").write_text(
        '"""host: contacts"""\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n"
        "revision = 'h001'\n"
        "down_revision = None\n"
        "branch_labels = None\n"
        "depends_on = None\n"
        "def upgrade():\n"
        "    op.create_table('contacts', sa.Column('id', sa.BigInteger, primary_key=True))\n"
        "def downgrade():\n"
        "    op.drop_table('contacts')\n"
    )
    db = tmp_path / "host.db"
    cfg = Config()
    cfg.set_main_option("script_location", str(host))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option(
        "version_locations", f"{host / 'versions'} segmentkit.store:migrations/versions"
    )
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    cfg.set_main_option("segmentkit_prefix", "app_sk_")
    command.upgrade(cfg, "heads")
    engine = sa.create_engine(f"sqlite:///{db}")
    names = set(sa.inspect(engine).get_table_names())
    assert {"contacts", "alembic_version", "app_sk_segments", "app_sk_members"} <= names
    with engine.connect() as conn:
        heads = {r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}
    assert heads == {"h001", "sk0003"}
    command.downgrade(cfg, "segmentkit@base")
    assert "app_sk_segments" not in set(sa.inspect(engine).get_table_names())
    assert "contacts" in set(sa.inspect(engine).get_table_names())
    engine.dispose()


@pytest.mark.parametrize(
    ("key_type", "spec"), [(sa.BigInteger(), "bigint"), (sa.String(64), "string:64")]
)
def test_mariadb_migrations_give_segment_ids_the_collation_of_create_all(
    key_type: Any, spec: str
) -> None:
    """On MariaDB/MySQL the segment id columns compare by code point after the
    migrations exactly as after ``create_all`` (sk0003), and downgrade cleanly."""
    import os
    import uuid

    url = os.environ.get("SEGMENTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            pass
    except Exception as exc:
        if os.environ.get("SEGMENTKIT_REQUIRE_BACKENDS") == "1":
            raise
        pytest.skip(f"MariaDB unreachable: {type(exc).__name__}")
    migrated, created = f"m{uuid.uuid4().hex[:6]}_", f"c{uuid.uuid4().hex[:6]}_"

    def collations(prefix: str) -> dict[tuple[str, str], tuple[str, str]]:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT table_name, column_name, column_type, collation_name"
                    " FROM information_schema.columns WHERE table_schema = DATABASE()"
                    " AND table_name LIKE :p AND data_type IN ('varchar', 'text')"
                ),
                {"p": prefix.replace("_", "\\_") + "%"},
            ).all()
        return {(t[len(prefix) :], c): (ty, co) for t, c, ty, co in rows if "alembic" not in t}

    tables = make_tables(created, key_type)
    try:
        upgrade(engine, prefix=migrated, key_type=spec)
        create_all(engine, tables)
        got, want = collations(migrated), collations(created)
        assert got == want
        ids = {k: v for k, v in got.items() if k[1] in ("id", "segment_id")}
        assert ids[("segments", "id")][1].endswith("_bin")
        assert ids[("members", "segment_id")][1] == ids[("segments", "id")][1]
        if spec.startswith("string"):
            assert got[("members", "contact_key")][1] == ids[("segments", "id")][1]
        downgrade(engine, prefix=migrated, key_type=spec)
        assert collations(migrated) == {}
    finally:
        tables.metadata.drop_all(engine)
        downgrade(engine, prefix=migrated, key_type=spec)
        engine.dispose()
