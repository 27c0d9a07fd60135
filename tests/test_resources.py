"""Resource limits: under a tight memory limit the large stages spill to disk and the run finishes with the same
lists; when the spill space, the memory or the output disk runs out, the error says which knob to turn and the last
published outputs stay as they were."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import sqlrec
from conftest import generated_world, project_on, tree_digest
from sqlrec.errors import StageRunError

TIGHT = "350MB"  # below what this world's co-occurrence stages hold without spilling (see the second half)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return generated_world(tmp_path_factory, users=6_000, items=1_500, events=300_000, seed=9)


def _project(world: Path, root: Path, engine: str = "") -> Path:
    return project_on(world, root, engine=f"threads = 2\n{engine}")


@pytest.fixture(scope="module")
def unlimited(world, tmp_path_factory):
    return sqlrec.run(_project(world, tmp_path_factory.mktemp("free") / "p"), progress=False)


def test_a_tight_memory_limit_spills_and_gives_the_same_lists(world, tmp_path, unlimited):
    tight = sqlrec.run(_project(world, tmp_path / "tight", f'memory_limit = "{TIGHT}"\n'), progress=False)
    keys = ["user_id", "item_id", "rank", "source"]
    assert tight.table("recommendations").select(keys).equals(unlimited.table("recommendations").select(keys))
    # the same limit without room to spill fails: so the run above did spill
    root = _project(world, tmp_path / "nospill", f'memory_limit = "{TIGHT}"\nmax_temp_size = "1MB"\n')
    with pytest.raises(StageRunError) as info:
        sqlrec.run(root, progress=False)
    assert "max_temp_size" in info.value.hint and info.value.exit_code == 4


@pytest.mark.parametrize("engine, knob", [
    ('memory_limit = "1MB"\n', "memory_limit"),
    (f'memory_limit = "{TIGHT}"\nmax_temp_size = "1MB"\n', "max_temp_size"),
])
def test_an_impossible_limit_fails_clearly_and_keeps_the_last_outputs(world, tmp_path, engine, knob):
    root = _project(world, tmp_path / "p")
    sqlrec.run(root, progress=False)
    before = tree_digest(root / "out")
    (root / "sqlrec.toml").write_text((root / "sqlrec.toml").read_text().replace("[engine]\n", f"[engine]\n{engine}"))
    with pytest.raises(StageRunError) as info:
        sqlrec.run(root, progress=False)
    assert knob in info.value.hint and info.value.exit_code == 4
    assert tree_digest(root / "out") == before
    assert not (root / "out" / ".staging").exists() or not any((root / "out" / ".staging").iterdir())


def _mount_tmpfs(target: Path, size: str) -> bool:
    target.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)], capture_output=True)
    return done.returncode == 0


@pytest.mark.parametrize("room", [30_000, 1_500_000, 3_000_000])  # fills at: Parquet, refresh state, snapshot
def test_a_full_output_disk_fails_clearly_and_keeps_the_last_outputs(world, tmp_path, room):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "64m"):
        if os.environ.get("CI"):  # CI runs as root: there the test must run, not skip
            pytest.fail("CI could not mount a tmpfs; the full-disk test needs root with CAP_SYS_ADMIN")
        pytest.skip("mounting a small tmpfs (a disk that fills up) needs root with CAP_SYS_ADMIN")
    try:
        root = _project(world, tmp_path / "p")
        (root / "sqlrec.toml").write_text((root / "sqlrec.toml").read_text().replace(
            'path = "out"', f'path = "{disk / "out"}"\nkeep_runs = 1\ngrace_seconds = 0'))
        sqlrec.run(root, progress=False, vars={"k": 2})
        before = tree_digest(disk / "out")
        filler = disk / "filler"
        with open(filler, "wb") as handle:  # leave less room than the next run needs
            handle.write(b"\0" * (shutil.disk_usage(disk).free - room))
        with pytest.raises(StageRunError) as info:
            sqlrec.run(root, progress=False, vars={"k": 2})
        print(f"\n{room} bytes left: {info.value.message}\n  hint: {info.value.hint}")
        # the hint names the disk that filled (the output's, not the spill folder's, which has room)
        assert f"the disk holding {disk / 'out'}" in info.value.hint and "spill" not in info.value.hint
        assert "free of 67.1 MB" in info.value.hint  # the 64 MiB tmpfs
        assert tree_digest(disk / "out") == before
        filler.unlink()
        assert sqlrec.run(root, progress=False, vars={"k": 2}).run_id  # room again: the next run just works
    finally:
        subprocess.run(["umount", str(disk)], check=False)
        os.sync()
