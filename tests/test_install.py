"""The wheel carries every built-in stage: installed (not editable) in a fresh venv, the demo runs from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]


def _run(args, cwd, env=None):
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_the_demo_from_an_empty_folder(tmp_path):
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, CHECKOUT],
         cwd=tmp_path)
    wheel = next(wheels.glob("sqlrec-*.whl"))

    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path)
                .stdout.strip())
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel], tmp_path)
    # Dependencies come from this environment, placed after the fresh venv's own packages on the path (and only
    # after the install, so pip does not take this environment's sqlrec for the one it was asked to install).
    (site / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    located = _run([python, "-c", "import sqlrec, sqlrec.resources as r; print(sqlrec.__file__); "
                    "print(r.builtin_dir('sql'))"], empty, env).stdout.split()
    assert all(Path(p).is_relative_to(env_dir) for p in located), located

    result = _run([env_dir / "bin" / "sqlrec", "run", "--demo", "--no-progress"], empty, env)
    assert "Sample of recommendations" in result.stdout
    snapshot = empty / "sqlrec-demo" / "output" / "sqlrec.duckdb"
    views = _run([python, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
                  "print(sorted(r[0] for r in con.sql('SELECT view_name FROM duckdb_views() "
                  "WHERE NOT internal').fetchall()))", snapshot], empty, env).stdout
    assert "'recommendations'" in views and "'popular_items'" in views and "'run_manifest'" in views
