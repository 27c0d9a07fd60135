"""Compiled stage templates kept between runs, so that a run does not compile its 70 templates again.

Jinja compiles a template to Python code: half a second for the built-in stages and macros, on every run, although
they rarely change. The code object of each template is kept in memory for the process (tune and experiments
build many plans) and, for the built-in templates, on disk (`$SQLREC_CACHE_DIR`, default
`~/.cache/sqlrec/templates`) for later processes: one file per built-in template and sqlrec version.

The key is a hash of everything the code depends on: the template's text, name and file, Jinja's and Python's
versions, and the text of sqlrec's templating module (its environment's settings and code generator). A file
that cannot be read, written or loaded is ignored: the template is compiled as if there were no cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import marshal
import os
import sys
import tempfile
from pathlib import Path
from types import CodeType
from typing import Callable

import jinja2

_memory: dict[str, CodeType] = {}
_salt: bytes | None = None


def cache_root() -> Path:
    """`$SQLREC_CACHE_DIR`, default `~/.cache/sqlrec` (or under `$XDG_CACHE_HOME`)."""
    chosen = os.environ.get("SQLREC_CACHE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sqlrec"


def cache_dir() -> Path:
    return cache_root() / "templates"


def compiled(source: str, name: str, filename: str, compile_: Callable[[], CodeType],
             on_disk: bool = True) -> CodeType:
    """The code of a template: from memory, from disk, or `compile_()` (then kept in both; on disk only with
    `on_disk`, which the built-in templates use: a project's own are few, and kept on disk they would pile up)."""
    key = _key(source, name, filename)
    code = _memory.get(key)
    if code is not None:
        return code
    path = cache_dir() / f"{key}.bin"
    try:
        code = marshal.loads(path.read_bytes()) if on_disk else None
    except (OSError, ValueError, EOFError, TypeError):
        code = None
    if not isinstance(code, CodeType):
        code = compile_()
        if on_disk:
            store(path, marshal.dumps(code))
    _memory[key] = code
    return code


def _key(source: str, name: str, filename: str) -> str:
    global _salt
    if _salt is None:
        from . import templating
        _salt = b"\0".join([jinja2.__version__.encode(), importlib.util.MAGIC_NUMBER, sys.version.encode(),
                            Path(templating.__file__).read_bytes()])
    return cache_key(_salt, source, name, filename)


def cache_key(salt: bytes, *parts: str) -> str:
    """The name of a cached entry: a hash of `salt` (what the entry's meaning depends on) and `parts`."""
    digest = hashlib.sha256(salt)
    for part in parts:
        digest.update(b"\0" + part.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def store(path: Path, data: bytes) -> None:
    """Write atomically (a reader never sees half a file); a read-only or full disk only loses the saving."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
