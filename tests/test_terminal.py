"""Control characters in the data never reach the terminal: tables and messages show them as escapes, on a real
terminal (a pseudo-terminal) and through a pipe; JSON and CSV keep them exactly."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import sqlrec
from conftest import world_project
from sqlrec.cli import cli
from sqlrec.datagen import WorldSize, generate
from sqlrec.terminal import printable

CLEAR_SCREEN = "\x1b[2J"
SET_TITLE = "\x1b]0;pwned\x07"
REVERSE = "\u202e"
HOSTILE = f"Mug{CLEAR_SCREEN}{SET_TITLE}{REVERSE}gpj.exe\r\n"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    """A published run whose every item title holds a clear-screen, a set-title and a right-to-left override."""
    root = tmp_path_factory.mktemp("shop")
    generate(root / "data", WorldSize(users=200, items=60, events=3_000, seed=8))
    items = pq.read_table(root / "data" / "items.parquet")
    titles = pa.array([f"{t} {HOSTILE}" for t in items.column("title").to_pylist()])
    pq.write_table(items.set_column(items.column_names.index("title"), "title", titles), root / "data" / "items.parquet")
    (root / "sqlrec.toml").write_text(world_project(root / "data"))
    sqlrec.run(root, progress=False)
    return root


def _a_user(shop: Path) -> str:
    return str(pq.read_table(shop / "out" / "current" / "recommendations" / "data.parquet").column("user_id")[0])


def _an_item_with_neighbours(shop: Path) -> str:
    return str(pq.read_table(shop / "out" / "current" / "similar_items" / "data.parquet").column("item_id")[0])


STYLING = (b"\x1b[1m", b"\x1b[0m")  # the only escape sequences sqlrec's own tables write: bold on, bold off


def _on_a_terminal(args: list[str]) -> bytes:
    """What a command writes to a real terminal: its stdout and stderr are a pseudo-terminal, 400 columns wide (so
    that tables do not wrap the long titles this test looks for)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # the terminal's size decides
    child = subprocess.Popen([sys.executable, "-m", "sqlrec", *args], stdout=follower, stderr=follower,
                             stdin=subprocess.DEVNULL, env=env)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    child.wait(timeout=60)
    os.close(leader)
    assert child.returncode == 0, out
    return out


def test_tables_show_control_characters_as_escapes_on_a_terminal(shop):
    user = _a_user(shop)
    for args in (["recommend", "--user", user, "-k", "3"], ["similar", "--item", _an_item_with_neighbours(shop), "-k", "3"]):
        shown = _on_a_terminal([*args, "-p", str(shop)])
        assert b"\x1b[1mrank\x1b[0m" in shown or b"\x1b[1msource\x1b[0m" in shown  # a table drawn for a terminal
        for styling in STYLING:
            shown = shown.replace(styling, b"")
        assert b"\x1b" not in shown and "\u202e".encode() not in shown and b"\x07" not in shown, shown
        assert b"Mug\\x1b[2J\\x1b]0;pwned\\x07\\u202egpj.exe\\x0d\\x0a" in shown


def test_through_a_pipe_too_and_in_explain(shop):
    user = _a_user(shop)
    recs = json.loads(CliRunner().invoke(cli, ["recommend", "--user", user, "-k", "1", "--format", "json",
                                               "-p", str(shop)]).output)
    for args in (["recommend", "--user", user], ["explain", "--user", user, "--item", str(recs[0]["item_id"])]):
        done = subprocess.run([sys.executable, "-m", "sqlrec", *args, "-p", str(shop)], capture_output=True)
        assert done.returncode == 0, done.stderr
        assert b"\x1b" not in done.stdout and b"\x07" not in done.stdout, done.stdout
        assert b"\\x1b]0;pwned\\x07" in done.stdout


def test_json_and_csv_keep_the_titles_exactly(shop):
    user = _a_user(shop)
    as_json = json.loads(CliRunner().invoke(cli, ["recommend", "--user", user, "--format", "json",
                                                  "-p", str(shop)]).output)
    assert as_json and all(r["title"].endswith(HOSTILE) for r in as_json)
    done = subprocess.run([sys.executable, "-m", "sqlrec", "recommend", "--user", user, "--format", "csv",
                           "-p", str(shop)], capture_output=True)
    as_csv = list(csv.DictReader(io.StringIO(done.stdout.decode(), newline="")))
    assert [r["title"] for r in as_csv] == [r["title"] for r in as_json]


def test_printable_escapes_every_control_character_and_keeps_letters():
    assert printable("é ü 日本 a-b") == "é ü 日本 a-b"
    for code in [*range(0x20), 0x7f, *range(0x80, 0xa0), 0x202a, 0x202e, 0x2066, 0x2069]:
        escaped = printable(chr(code))
        assert escaped.startswith("\\") and escaped.isascii() and escaped.isprintable(), hex(code)
