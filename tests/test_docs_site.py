"""The documentation site: it builds with ``mkdocs build --strict``, its generated operator
table is up to date, and the shell commands of docs/cli.md run with the exit codes the page
states. (The Python examples of every page run through Sybil; see conftest.py.)"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

sys.path.insert(0, str(ROOT / "docs"))
import gen_operators  # noqa: E402


def test_operator_reference_is_generated_from_the_registry() -> None:
    import segmentkit as sk

    page = gen_operators.PAGE.read_text(encoding="utf-8")
    assert gen_operators.render(page) == page, "run: python docs/gen_operators.py"
    for name in sk.operators.names():
        assert f"| `{name}`" in page


def test_operator_generator_notices_a_stale_table(tmp_path: Path) -> None:
    page = gen_operators.PAGE.read_text(encoding="utf-8")
    stale = page.replace("| `gte` *field* |", "| `gte` |")
    assert stale != page and gen_operators.render(stale) == page


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(BIN)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.fail("mkdocs is not installed: pip install '.[docs]' (or the test extra)")
    site = tmp_path / "site"
    done = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "WARNING" not in done.stderr
    for page in ("index", "quickstart", "concepts", "cli", "notebooks", "operators"):
        path = site / ("index.html" if page == "index" else f"{page}/index.html")
        assert path.exists(), page
    operators = (site / "operators" / "index.html").read_text(encoding="utf-8")
    assert "not_ends_with" in operators and "country = 'DE'" in operators


def _cli_commands() -> list[tuple[str, int]]:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            if not line.startswith("$ "):
                continue
            command, _, comment = line[2:].partition("  # exit ")
            out.append((command, int(comment) if comment else 0))
    return out


def test_cli_page_commands_run(tmp_path: Path) -> None:
    commands = _cli_commands()
    assert len(commands) >= 15
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("SEGMENTKIT_DB", None)
    for command, expected in commands:
        assert shlex.split(command)[0] in ("segmentkit", "echo")
        done = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {command}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == expected, (
            f"{command}\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
        )
    assert (tmp_path / "adults.csv").read_text(encoding="utf-8").startswith("key,since\n")


def test_readme_starts_with_the_two_set_up_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(\w*)\n(.*?)```", readme, flags=re.S)
    assert blocks[0] == (
        "bash",
        "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/segmentkit demo\n",
    )
    assert blocks[1][0] == "bash" and blocks[1][1].startswith("python3 -m venv .venv && ")
