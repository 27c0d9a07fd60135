"""Where the built-in stages and macros live: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def builtin_dir(kind: str) -> Path:
    """`kind` is "sql" or "macros". A wheel ships them under sqlrec/_builtin; a checkout keeps them at its top."""
    for candidate in (_PACKAGE / "_builtin" / kind, _PACKAGE.parent.parent / kind):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"sqlrec is installed without its built-in {kind}/ folder (looked in {_PACKAGE})")


def template_path(name: str) -> Path:
    """Files the package writes into new projects (starter config, READMEs)."""
    return _PACKAGE / "templates" / name
