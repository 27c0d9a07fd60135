"""Compiled templates are kept between runs, and a cache that is stale, corrupt or unwritable never changes a result."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sqlrec import template_cache
from sqlrec.resources import builtin_dir
from sqlrec.templating import RenderContext, make_environment, render_stage

STAGE = builtin_dir("sql") / "features" / "int_user_profile.sql"  # the installed package's, as a run reads it


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SQLREC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(template_cache, "_memory", {})
    return tmp_path / "cache" / "templates"


def _counting_compile(env, source, name, calls):
    def compile_():
        calls.append(name)
        return env.compile(source, name=name, filename=name)
    return compile_


def test_a_template_is_compiled_once_then_read_back_from_disk(cache):
    env, calls = make_environment({}), []
    first = template_cache.compiled("SELECT {{ 1 }}", "a.sql", "a.sql", _counting_compile(env, "SELECT {{ 1 }}",
                                                                                         "a.sql", calls))
    template_cache._memory.clear()  # as a new process would start
    again = template_cache.compiled("SELECT {{ 1 }}", "a.sql", "a.sql", _counting_compile(env, "SELECT {{ 1 }}",
                                                                                         "a.sql", calls))
    assert calls == ["a.sql"] and len(list(cache.glob("*.bin"))) == 1
    assert again.co_code == first.co_code and again is not first
    changed = template_cache.compiled("SELECT {{ 2 }}", "a.sql", "a.sql", _counting_compile(env, "SELECT {{ 2 }}",
                                                                                           "a.sql", calls))
    assert calls == ["a.sql", "a.sql"] and changed.co_consts != first.co_consts  # a changed text compiles again


def test_a_corrupt_or_unwritable_cache_only_costs_the_compile(cache):
    env, calls = make_environment({}), []
    template_cache.compiled("SELECT 1", "b.sql", "b.sql", _counting_compile(env, "SELECT 1", "b.sql", calls))
    [stored] = cache.glob("*.bin")
    stored.write_bytes(b"\x00not marshal data")
    template_cache._memory.clear()
    template_cache.compiled("SELECT 1", "b.sql", "b.sql", _counting_compile(env, "SELECT 1", "b.sql", calls))
    assert calls == ["b.sql", "b.sql"]
    for entry in cache.iterdir():
        entry.unlink()
    cache.chmod(0o500)  # read-only: nothing can be written
    try:
        template_cache._memory.clear()
        template_cache.compiled("SELECT 2", "c.sql", "c.sql", _counting_compile(env, "SELECT 2", "c.sql", calls))
        assert calls[-1] == "c.sql" and (os.geteuid() == 0 or not list(cache.iterdir()))
    finally:
        cache.chmod(0o700)


def test_a_stage_renders_the_same_from_the_cache_in_a_new_process(tmp_path):
    """Two fresh processes render a built-in stage: the second reads the first's compiled code, same SQL."""
    script = ("import sys\nfrom pathlib import Path\nfrom sqlrec.templating import RenderContext, make_environment, "
              "render_stage\n"
              "ctx = RenderContext(stage='int_user_profile', relations=lambda name: name, inputs=frozenset({'events'}),"
              " vars={})\n"
              f"print(render_stage(make_environment({{}}), Path({str(STAGE)!r}), ctx))\n")
    env = {**os.environ, "SQLREC_CACHE_DIR": str(tmp_path / "cache")}
    first, second = (subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                    check=True).stdout for _ in range(2))
    assert first == second and "FROM" in first
    assert len(list((tmp_path / "cache" / "templates").glob("*.bin"))) == 1
    ctx = RenderContext(stage="int_user_profile", relations=lambda name: name, inputs=frozenset({"events"}), vars={})
    assert render_stage(make_environment({}), STAGE, ctx) + "\n" == first


# -- the lint verdicts of rendered SQL ------------------------------------------------------------------------------

def test_sql_that_passed_the_lint_is_not_parsed_again_and_a_failure_is_never_remembered(cache, monkeypatch):
    from sqlrec import sql_lint
    from sqlrec.errors import TemplateError

    monkeypatch.setattr(sql_lint, "_passed", set())
    parsed = []
    real_parse = sql_lint.parse_stage
    monkeypatch.setattr(sql_lint, "parse_stage", lambda *args: parsed.append(args[1]) or real_parse(*args))
    good, bad = "SELECT item_id FROM int_items", "SELECT item_id FROM read_parquet('/etc/x.parquet')"
    sql_lint.lint_stage(good, "a", "a.sql", {"int_items"})
    sql_lint._passed.clear()  # as a new process would start: the verdict is read back from disk
    sql_lint.lint_stage(good, "a", "a.sql", {"int_items"})
    assert parsed == ["a"] and len(list((cache.parent / "lint").iterdir())) == 1
    for _ in range(2):  # a failing stage is parsed, and fails, every time
        with pytest.raises(TemplateError, match="read_parquet"):
            sql_lint.lint_stage(bad, "b", "b.sql", {"int_items"})
    assert parsed == ["a", "b", "b"]
    with pytest.raises(TemplateError, match="neither a CTE, a stage nor an input"):  # the relations are in the key
        sql_lint.lint_stage(good, "a", "a.sql", {"int_other"})
    assert len(list((cache.parent / "lint").iterdir())) == 1

