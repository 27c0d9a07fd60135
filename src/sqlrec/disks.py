"""Which disk filled up, said in a hint: a run writes to two places that are often on different disks, the output
folder (Parquet, snapshot) and the spill folder ([engine] temp_directory), and the advice differs."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path


def is_disk_full(exc: BaseException) -> bool:
    text = str(exc)
    return getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in text or \
        "disk" in text.lower() and "space" in text.lower()


def free_space(folder: Path) -> str:
    """`folder`'s file system as "12.3 MB free of 64.0 MB" (the nearest existing parent is asked)."""
    for candidate in (folder, *folder.parents):
        try:
            usage = shutil.disk_usage(candidate)
        except OSError:
            continue
        return f"{_size(usage.free)} free of {_size(usage.total)}"
    return "free space unknown"


def full_disk_hint(folder: Path, setting: str) -> str:
    return (f"the disk holding {folder} is full ({free_space(folder)}): free space there, or point {setting} at "
            "a larger disk; the last published outputs are untouched")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
