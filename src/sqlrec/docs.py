"""Write docs/reference.md from the code itself: every command (from the CLI), every config key (from the config
schema), every built-in stage with the vars it reads, every macro with its arguments and every published table with
its columns (from the stage headers). A test regenerates it and compares, so it cannot go stale.

    python -m sqlrec.docs            # rewrite docs/reference.md of this checkout
    python -m sqlrec.docs --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from .config import SCHEMA, Key, _expected_form
from .project import Stage, StageHeader, _builtin_python_stages, _sql_stages
from .publish import SNAPSHOT_VIEWS
from .resources import builtin_dir

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"
_MACRO = re.compile(r"\{%-?\s*macro\s+(\w+)\((.*?)\)\s*-?%\}", re.S)
_DEFAULT_NOTE = re.compile(r"\s*\(default:? ([^()]*(?:\([^()]*\)[^()]*)*)\)")
SECTION_NAMES = {"inputs.*": "inputs.<name>", "stages.*": "stages.<stage>",
                 "experiments.*": "experiments.<name>", "experiments.*.variants.*": "experiments.<name>.variants.<variant>"}


def reference() -> str:
    parts = ["# sqlrec reference",
             "",
             "Generated from the code by `python -m sqlrec.docs`; do not edit by hand. The other pages of docs/ explain the "
             "concepts; this page lists everything.",
             "",
             "- [Commands](#commands)", "- [Configuration](#configuration)", "- [Stages](#stages)",
             "- [Macros](#macros)", "- [Outputs](#outputs)", "",
             commands_section(), config_section(), stages_section(), macros_section(), outputs_section()]
    return "\n".join(parts).rstrip() + "\n"


# -- commands --------------------------------------------------------------------------------------------------


def commands_section() -> str:
    from .cli import cli
    lines = ["## Commands", "", "Every command takes `-h` / `--help`. Exit codes: 0 ok, 1 internal error, 2 usage or "
             "configuration, 3 data, 4 runtime or output check, 5 another run holds the lock, 130 interrupted (Ctrl-C), "
             "141 the output pipe closed, 143 stopped by SIGTERM.", ""]
    for name in sorted(cli.commands):
        command = cli.commands[name]
        with click.Context(command, info_name=f"sqlrec {name}") as ctx:
            usage = command.get_usage(ctx).removeprefix("Usage: ")
        lines += [f"### `sqlrec {name}`", "", _clean(command.help or ""), "", "```", usage, "```", ""]
        options = [p for p in command.params if isinstance(p, click.Option)]
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        if arguments or options:
            lines += ["| argument or option | meaning |", "|---|---|"]
            for p in arguments:
                choices = f" one of {', '.join(p.type.choices)}" if isinstance(p.type, click.Choice) else ""
                lines.append(f"| `{p.human_readable_name}` | {'required' if p.required else 'optional'}{choices} |")
            for p in options:
                names = ", ".join(f"`{o}`" for o in (*p.opts, *p.secondary_opts))
                text = p.help or ""
                if isinstance(p.type, click.Choice):
                    text += f" One of {', '.join(p.type.choices)}."
                if p.show_default and p.default not in (None, False):
                    text += f" Default: `{p.default}`."
                lines.append(f"| {names} | {_cell(text)} |")
            lines.append("")
        examples = getattr(command.callback, "examples", "")
        if examples:
            body = [line.strip() for line in examples.splitlines()[2:]]
            lines += ["Examples:", "", "```sh", *body, "```", ""]
    return "\n".join(lines)


# -- configuration ---------------------------------------------------------------------------------------------


def config_keys() -> list[tuple[str, Key]]:
    """(documented name, key) for every key of sqlrec.toml, in schema order; vars.<name> last."""
    keys = []
    for section, entries in SCHEMA.items():
        prefix = SECTION_NAMES.get(section, section)
        keys += [(f"{prefix}.{name}", key) for name, key in entries.items()]
    return keys


def config_section() -> str:
    lines = ["## Configuration", "",
             "Every key of `sqlrec.toml`. Paths are relative to the folder holding it. An unknown key, a wrong type or "
             "a missing file is an error that names the key, the file and the expected form. `sqlrec run --set "
             "KEY=VALUE` overrides any key for one run.", "",
             "| key | type | default | meaning |", "|---|---|---|---|"]
    for name, key in config_keys():
        meaning, default = _default_of(key)
        lines.append(f"| `{name}` | {_cell(_expected_form(key))} | {_cell(default)} | {_cell(meaning)} |")
    lines.append("| `vars.<name>` | a scalar, list or table | none | Values stages read with `var('name')` "
                 "(see [Stages](#stages) for the vars each built-in stage reads); an unread var is an error. |")
    return "\n".join(lines) + "\n"


def _default_of(key: Key) -> tuple[str, str]:
    """The meaning without its `(default: ...)` note, and the default as shown: the TOML value, the note, or
    `required` / none."""
    note = _DEFAULT_NOTE.search(key.doc)
    meaning = _DEFAULT_NOTE.sub("", key.doc).strip() if note else key.doc
    if key.required:
        return meaning, "required"
    if key.default not in (None, {}) or (key.default == {} and not note):
        return meaning, f"`{_toml(key.default)}`"
    return meaning, note.group(1) if note else "none"


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{}" if not value else json.dumps(value)
    return json.dumps(value)


# -- stages ----------------------------------------------------------------------------------------------------


def builtin_stages() -> dict[str, Stage]:
    return {**_sql_stages(builtin_dir("sql"), "builtin"), **_builtin_python_stages()}


def stage_uses() -> dict[str, tuple[list[str], list[str]]]:
    """stage -> (vars it reads, stages and inputs it reads), found by rendering every built-in stage under the
    demo project's config (`sqlrec run --demo`), as a run or an evaluation would; python stages declare theirs."""
    from .config import load_config
    from .plan import EVALUATION_LAYERS, render_one
    from .project import load_project
    from .resources import template_path
    from .templating import make_environment
    stages = builtin_stages()
    optional = {f"stages.{n}.enabled": True for n, s in stages.items() if not s.header.enabled}
    project = load_project(load_config(template_path("demo.toml"), optional))
    env = make_environment(project.macro_files)
    uses = {}
    for name, stage in stages.items():
        if stage.kind == "python":
            uses[name] = (sorted(stage.vars), list(stage.inputs))
            continue
        _sql, ctx = render_one(project, name, env, "evaluate" if stage.layer in EVALUATION_LAYERS else "run")
        uses[name] = (sorted(ctx.vars_read), sorted(ctx.refs) + [f"source:{s}" for s in sorted(ctx.sources)])
    return uses


def stages_section() -> str:
    stages = builtin_stages()
    uses = stage_uses()
    lines = ["## Stages", "",
             "Every built-in stage, by layer (the folder under `sql/`). A project's `sql/**/<name>.sql` or "
             "`python/*.py` stage of the same name replaces it. *vars* are the `[vars]` entries it reads and "
             "*reads* the stages and inputs (`source:`) it reads, under the starter project's settings (`sqlrec "
             "init`); other settings can switch a stage to other inputs (`sqlrec ls` shows a project's graph).", ""]
    for layer in sorted({s.layer for s in stages.values()}):
        lines += [f"### {layer}", "", "| stage | kind | does | vars | reads |", "|---|---|---|---|---|"]
        for stage in sorted((s for s in stages.values() if s.layer == layer), key=lambda s: s.name):
            read_vars, reads = uses[stage.name]
            optional = f" Optional: off unless `[stages.{stage.name}] enabled = true`." \
                if not stage.header.enabled else ""
            lines.append(f"| `{stage.name}` | {stage.kind} | {_cell(stage.header.description + optional)} | "
                         f"{_cell(', '.join(f'`{v}`' for v in read_vars) or '-')} | "
                         f"{_cell(', '.join(f'`{r}`' for r in reads) or '-')} |")
        lines.append("")
    return "\n".join(lines)


# -- macros ----------------------------------------------------------------------------------------------------


def builtin_macros() -> list[tuple[str, str, str, str]]:
    """(file, name, arguments, doc) for every macro in macros/*.sql; doc is the `{# ... #}` block just above it."""
    found = []
    for path in sorted(builtin_dir("macros").glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        for match in _MACRO.finditer(text):
            before = text[:match.start()].rstrip()
            doc = ""
            if before.endswith("#}"):
                doc = before[before.rindex("{#") + 2:-2]
            found.append((path.name, match.group(1), " ".join(match.group(2).split()), _dedent(doc)))
    return found


def macros_section() -> str:
    lines = ["## Macros", "",
             "Every built-in macro, by file under `macros/`. Stages call them as `{{ name(args) }}`; a project's "
             "`macros/*.sql` macro of the same name replaces it.", ""]
    current = None
    for file, name, arguments, doc in builtin_macros():
        if file != current:
            lines += [f"### {file}", ""]
            current = file
        lines += [f"#### `{name}({arguments})`", ""]
        if doc:
            lines += ["```text", doc, "```", ""]
    return "\n".join(lines)


# -- outputs ---------------------------------------------------------------------------------------------------


def published_tables() -> list[tuple[str, Stage]]:
    """(where it is published, stage) for every table sqlrec publishes."""
    from .experiments import tables as experiment_tables
    from .tuning import RESULTS
    stages = builtin_stages()
    found = [("`sqlrec run`: output/current/", s) for s in sorted(stages.values(), key=lambda s: s.name)
             if s.layer == "publish"]
    found += [("`sqlrec evaluate`: output/evaluation/current/", s)
              for s in sorted(stages.values(), key=lambda s: s.name) if s.layer == "eval_publish"]
    found.append(("`sqlrec tune`: output/tuning/current/", RESULTS))
    found += [("`sqlrec experiment NAME`: output/experiments/NAME/current/", s) for s in experiment_tables.ALL]
    return found


def outputs_section() -> str:
    lines = ["## Outputs", "",
             "Every published table: a Parquet file `<table>/data.parquet` in the run's folder and a documented view "
             "of the same name in that folder's `sqlrec.duckdb` snapshot (`COMMENT ON` holds the descriptions below). "
             "Column types are recorded in the project's output contract (`sqlrec.contract.json`); id columns "
             "take the type of the input's ids.", ""]
    for where, stage in published_tables():
        header: StageHeader = stage.header
        lines += [f"### `{stage.name}`", "", _clean(header.description), "",
                  f"Published by {where}. Grain: {header.grain or '-'}."
                  + (f" Unique: ({', '.join(header.unique)})." if header.unique else "")
                  + (f" Rows sorted by ({', '.join(header.row_order)})." if header.row_order else "")
                  + ("" if header.enabled else f" Optional: `[stages.{stage.name}] enabled = true`."), "",
                  "| column | meaning |", "|---|---|"]
        lines += [f"| `{c.name}` | {_cell(c.doc)} |" for c in header.columns]
        lines.append("")
    for name, description, columns in SNAPSHOT_VIEWS:  # built by sqlrec.publish in every snapshot
        lines += [f"### `{name}`", "", description + " A view of every snapshot.", "",
                  "| column | meaning |", "|---|---|"]
        lines += [f"| `{c}` | {_cell(doc)} |" for c, doc in columns]
        lines.append("")
    return "\n".join(lines)


# -- helpers ---------------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _clean(text: str) -> str:
    return text.replace("\b\n", "").strip()  # click's \b (keep this paragraph unwrapped) is not for Markdown


def _dedent(text: str) -> str:
    lines = text.strip("\n").splitlines()
    indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return "\n".join(line[indent:].rstrip() for line in lines).strip()


def main(argv: list[str]) -> int:
    text = reference()
    if "--check" in argv:
        current = REFERENCE.read_text() if REFERENCE.exists() else ""
        if current != text:
            print(f"{REFERENCE} is out of date: run python -m sqlrec.docs", file=sys.stderr)
            return 1
        return 0
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(text)
    print(f"wrote {REFERENCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
