"""The docs' demo experiment figures (docs/evaluation.md) are those a fresh `sqlrec run --demo` and `sqlrec
experiment` publish.

bench/readme_figures.py writes them (and the machine-dependent timings, which this test leaves alone); this test
runs its --check mode, so a change that moves a figure fails here until the page is regenerated.
"""

from __future__ import annotations

import subprocess
import sys

from conftest import CHECKOUT


def test_the_demo_experiment_table_is_what_the_commands_publish():
    done = subprocess.run([sys.executable, str(CHECKOUT / "bench" / "readme_figures.py"), "--check"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "match a fresh run" in done.stdout
