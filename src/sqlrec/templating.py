"""Render stage templates to SQL text. Pure: no file is opened here but templates (and their compiled code, kept
by template_cache).

Fail-closed: every `{{ ... }}` passes through `_finalize`, which lets through only SQL produced by a filter
(`|ident`, `|lit`), a context function (`ref`, `source`, `this`), a macro, or a plain number. A raw string, a
list or None raises, so a config value can reach the SQL text only as a quoted identifier or a literal.

>>> env = make_environment({})
>>> print(env.from_string("SELECT {{ x | lit }} AS {{ name | ident }}").render(x="it's", name='my col'))
SELECT 'it''s' AS "my col"
"""

from __future__ import annotations

import functools
import math
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup
from sqlglot import exp

from . import template_cache
from .config import DEFAULT_BLEND, blend_source_names
from .errors import TemplateError
from .resources import builtin_dir

DIALECT = "duckdb"  # stages are written in DuckDB SQL; other engines get a transpiled copy
INPUT_PREFIX = "src_"  # engine relation name of an input: source('events') -> "src_events"
_MISSING = object()


class SqlText(Markup):
    """SQL produced by a trusted filter or function. The only strings `_finalize` lets into a stage."""


class UnsafeValueError(Exception):
    """A template tried to print a value that is not SQL (raw string, list, None)."""


def ident(value: Any) -> SqlText:
    """Quote a name as a SQL identifier: `my col` -> "my col"; embedded quotes are doubled."""
    if not isinstance(value, str) or not value:
        raise UnsafeValueError(f"|ident needs a non-empty string, got {value!r}")
    return SqlText(exp.to_identifier(value, quoted=True).sql(DIALECT))


def idents(values: Any) -> SqlText:
    """A comma-separated list of quoted identifiers."""
    if isinstance(values, str) or not isinstance(values, (list, tuple)) or not values:
        raise UnsafeValueError(f"|idents needs a non-empty list of names, got {values!r}")
    return SqlText(", ".join(ident(v) for v in values))


def lit(value: Any) -> SqlText:
    """A SQL literal: strings are quoted and escaped, numbers checked finite, lists become a tuple for IN (...)."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise UnsafeValueError("|lit got an empty list, which has no SQL tuple form")
        return SqlText(exp.Tuple(expressions=[_literal(v) for v in value]).sql(DIALECT))
    return SqlText(_literal(value).sql(DIALECT))


def _literal(value: Any) -> exp.Expression:
    if isinstance(value, float) and not math.isfinite(value):
        raise UnsafeValueError(f"|lit cannot print the non-finite number {value!r}")
    if value is None or isinstance(value, (str, int, float, bool)):
        return exp.convert(value)
    raise UnsafeValueError(f"|lit cannot print a {type(value).__name__}: {value!r}")


def _finalize(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the missing variable
    if isinstance(value, Markup):  # SqlText, or the output of a macro (macros return Markup under autoescape)
        return value
    if isinstance(value, bool) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return lit(value)
    if isinstance(value, str):
        raise UnsafeValueError(
            f"refusing to print the raw string {value[:40]!r} into SQL: "
            "write {{ value | ident }} for a name or {{ value | lit }} for a literal")
    raise UnsafeValueError(f"refusing to print a {type(value).__name__} into SQL: {value!r}"[:200])


def _raise_error(message: str) -> None:
    """For macros that check their arguments: {{ raise_error("what went wrong and what to do") }}."""
    raise UnsafeValueError(str(message))


def _blend_sources(var) -> list[str]:
    """{% set names = blend_sources(var) %}: every source the blend can hold, by name: vars.blend's, each segment's
    own (vars.blend_by_segment) and cross_sell when vars.cross_sell_segments is set. int_blend_parts makes its rows
    from these, and the stages reading them must agree on the list."""
    blend = var("blend", DEFAULT_BLEND)
    if not isinstance(blend, Mapping):
        raise UnsafeValueError("vars.blend must be a table of source weights, e.g. blend = { cooccurrence = 0.7, "
                               "content = 0.3 }")
    by_segment = var("blend_by_segment", {})
    if not isinstance(by_segment, Mapping) or not all(isinstance(w, Mapping) for w in by_segment.values()):
        raise UnsafeValueError("vars.blend_by_segment must hold a table of source weights per segment, e.g. "
                               "[vars.blend_by_segment.loyal] cooccurrence = 0.5")
    return blend_source_names(blend, by_segment, bool(var("cross_sell_segments", [])))


def _sql_concat(values) -> Markup | str:
    """`a ~ b` in a stage. Joining SQL (a filter's, macro's or function's output) needs every part to be SQL or a
    number; joining plain text gives plain text, which can name a stage in ref() but cannot be printed.

    Jinja's own `~` would HTML-escape a raw string and trust the result, which lets `1; DROP TABLE t` through.
    """
    values = list(values)
    if not any(isinstance(v, Markup) for v in values):
        # Only text and numbers: a plain string (e.g. a stage name for ref()), which printing would still refuse.
        if all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
            return "".join(str(v) for v in values)
    parts = []
    for value in values:
        if isinstance(value, Markup):
            parts.append(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(lit(value))
        else:
            raise UnsafeValueError(f"refusing to join {type(value).__name__} {str(value)[:40]!r} into SQL with `~`: "
                                   "pass it through |ident or |lit first")
    return Markup("").join(parts)


class _SqlCodeGenerator(CodeGenerator):
    def _output_child_to_const(self, node, frame, finalize):
        # Jinja folds constant `{{ ... }}` at compile time, escaping instead of calling _finalize; keep it runtime.
        if isinstance(node, nodes.TemplateData):
            return super()._output_child_to_const(node, frame, finalize)
        raise nodes.Impossible()

    def visit_Concat(self, node: nodes.Concat, frame) -> None:
        self.write("environment.sql_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


#: The only filters a stage may use: the SQL ones, and those that return numbers, booleans or collections.
#: Filters that turn text into trusted markup (safe, e, join, format, replace, tojson, ...) are left out.
SAFE_FILTERS = frozenset({"abs", "batch", "count", "default", "d", "dictsort", "first", "float", "int", "items",
                          "last", "length", "list", "map", "max", "min", "reject", "rejectattr", "reverse", "round",
                          "select", "selectattr", "slice", "sort", "sum", "unique"})


class _SqlSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, closed further so that no operation turns a raw string into trusted SQL."""

    code_generator_class = _SqlCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def is_safe_attribute(self, obj, attr, value) -> bool:
        # SQL fragments are Markup, whose methods (replace, format, join, ...) escape HTML and return Markup.
        if isinstance(obj, str):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context, operator, left, right):
        if isinstance(left, str) or isinstance(right, str):
            raise UnsafeValueError(f"refusing `{operator}` on text in a template: arithmetic is for numbers; "
                                   "write SQL text outside {{ }} and values through |lit")
        return super().call_binop(context, operator, left, right)


def make_environment(macro_files: Mapping[str, Path], loader: jinja2.BaseLoader | None = None):
    """A sandboxed environment with the SQL filters and every macro in `macro_files` (name -> path) as globals.

    Later entries of `macro_files` override earlier ones by macro name, so project macros override built-ins.
    """
    env = _SqlSandbox(
        loader=loader or jinja2.DictLoader({}),
        undefined=jinja2.StrictUndefined,
        autoescape=True,  # turns template text and macro output into Markup, which _finalize trusts
        finalize=_finalize,
        optimized=False,  # constant folding would evaluate `~` and filters at compile time, around the checks above
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters = {name: f for name, f in env.filters.items() if name in SAFE_FILTERS}
    env.filters.update(ident=ident, idents=idents, lit=lit)
    env.sql_concat = _sql_concat
    env.globals["raise_error"] = _raise_error
    env.globals["blend_sources"] = _blend_sources
    templates = [(path, _compile_file(env, path, f"macro file {path.name}")) for path in macro_files.values()]
    # Twice: a module sees the globals that exist when it is made, so the second pass lets a macro call macros of
    # files that come after its own.
    for _ in range(2):
        for path, template in templates:
            try:
                module = template.make_module({})
            except Exception as exc:  # a macro file with top-level code that fails
                raise _template_error(exc, f"macro file {path.name}", path) from None
            for name in dir(module):
                macro = getattr(module, name)
                if isinstance(macro, jinja2.runtime.Macro):
                    env.globals[name] = macro
    return env


@functools.cache
def _builtin_dirs() -> tuple[Path, Path]:
    return builtin_dir("macros"), builtin_dir("sql")


def _is_builtin(path: Path) -> bool:
    """A built-in macro file (macros/x.sql) or stage (sql/<layer>/x.sql)."""
    macros, stages = _builtin_dirs()
    return path.parent == macros or path.parent.parent == stages


def _compile_file(env, path: Path, what: str) -> jinja2.Template:
    source = path.read_text(encoding="utf-8")
    try:
        code = template_cache.compiled(source, path.name, str(path),
                                       lambda: env.compile(source, name=path.name, filename=str(path)),
                                       on_disk=_is_builtin(path))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"{what} ({path}), line {exc.lineno}: template syntax error: {exc.message}",
            hint="check the {% %} / {{ }} tags on that line") from None
    return env.template_class.from_code(env, code, env.make_globals(None), None)


@dataclass
class RenderContext:
    """What a stage may look at while rendering, and a record of what it looked at."""

    stage: str
    relations: Callable[[str], str | None]  # stage name -> engine relation name, or None if unknown
    inputs: frozenset[str]  # declared input names
    vars: Mapping[str, Any]
    refs: list[str] = field(default_factory=list)
    unknown_refs: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    missing_sources: list[str] = field(default_factory=list)
    vars_read: set[str] = field(default_factory=set)
    redirect: Mapping[str, str] = field(default_factory=dict)  # input name -> stage read instead (evaluation)
    redirected: list[str] = field(default_factory=list)
    evaluation: Mapping[str, Any] = field(default_factory=dict)  # [evaluate] settings, for the evaluation stages
    holdout: Mapping[str, Any] = field(default_factory=dict)  # tune: the [evaluate] split whose test part it keeps out
    experiment: Mapping[str, Any] | None = None  # `sqlrec experiment`: the experiment whose users are assigned
    refresh: Mapping[str, Any] | None = None  # incremental refresh: the new files and the last run's state tables

    def ref(self, name: str) -> SqlText:
        if not isinstance(name, str):
            raise UnsafeValueError(f"ref() needs a stage name, got {name!r}")
        if name not in self.refs:
            self.refs.append(name)
        relation = self.relations(name)
        if relation is None:
            self.unknown_refs.append(name)
            relation = name
        return ident(relation)

    def source(self, name: str) -> SqlText:
        if not isinstance(name, str):
            raise UnsafeValueError(f"source() needs an input name, got {name!r}")
        if name in self.redirect:  # evaluation: training stages read the training split, never the whole input
            self.redirected.append(self.redirect[name])
            return self.ref(self.redirect[name])
        if name not in self.sources:
            self.sources.append(name)
        if name not in self.inputs:
            self.missing_sources.append(name)
        return ident(INPUT_PREFIX + name)

    def has_input(self, name: str) -> bool:
        return name in self.inputs

    def var(self, name: str, default: Any = _MISSING) -> Any:
        self.vars_read.add(name)
        if name in self.vars:
            return self.vars[name]
        if default is _MISSING:
            raise UnsafeValueError(
                f"var({name!r}) is not set and has no default: add `{name} = ...` under [vars] in sqlrec.toml")
        return default


def render_stage(env, path: Path, ctx: RenderContext) -> str:
    """Render one stage file. Errors name the stage, the file, and the template line."""
    what = f"stage {ctx.stage}"
    template = _compile_file(env, path, what)
    try:
        sql = template.render(ref=ctx.ref, source=ctx.source, var=ctx.var, has_input=ctx.has_input,
                              this=ident(ctx.stage), evaluation=ctx.evaluation, holdout=ctx.holdout,
                              experiment=ctx.experiment, refresh=ctx.refresh)
    except Exception as exc:
        raise _template_error(exc, what, path) from None
    # Jinja's `~` joins a raw string by HTML-escaping it rather than calling _finalize; the escapes it leaves are
    # the trace of a raw value that reached the SQL, so refuse it here too.
    if _ESCAPED.search(sql):
        raise TemplateError(
            f"{what} ({path}): a raw string was joined into the SQL with `~`",
            hint="pass the value through |ident or |lit before joining it")
    return sql


_ESCAPED = re.compile(r"&(#39|#34|amp|lt|gt);")


def _template_error(exc: Exception, what: str, path: Path) -> TemplateError:
    # Jinja rewrites tracebacks so that template frames carry the template's file name and line.
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == str(path):
            line = frame.lineno
    where = f"{what} ({path}" + (f", line {line})" if line else ")")
    if isinstance(exc, jinja2.UndefinedError):
        return TemplateError(f"{where}: {exc.message}", hint="define it, or pass it into the macro that uses it")
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return TemplateError(f"{where}: not allowed in a template: {exc}")
    if isinstance(exc, UnsafeValueError):
        return TemplateError(f"{where}: {exc}")
    return TemplateError(f"{where}: {type(exc).__name__}: {exc}")
