"""Write new projects: `sqlrec init DIR` (a commented starter) and the built-in demo project."""

from __future__ import annotations

from pathlib import Path

from .config import CONFIG_FILE
from .datagen import DemoSize, generate
from .errors import ConfigError
from .resources import template_path

DEMO_DIR = "sqlrec-demo"


#: [inputs.items] and [inputs.users] of a starter project: declared when generated data is there to read, shown as
#: comments to fill in otherwise (a declared input whose file is missing would fail the first run).
OTHER_INPUTS = """[inputs.items]
path = "data/items.parquet"

[inputs.users]
path = "data/users.parquet"
"""
OTHER_INPUTS_TO_FILL = """# The catalogue and the users are optional: declare them when you have them.
# [inputs.items]                 # item_id, and any of: category, subcategory, brand, price, title, description,
# path = "data/items.parquet"    #   in_stock, launched_at, tags (yes/no columns: `flags`)
# [inputs.users]                 # user_id, and any of: segment, signup_at
# path = "data/users.parquet"
"""


def init_project(folder: Path, with_data: bool = True, name: str | None = None, demo: bool = False) -> Path:
    """Create a starter project in `folder`: a generic, commented sqlrec.toml (with generated data to try it on,
    unless `with_data` is false), or with `demo` the demo's own settings. Refuses to overwrite a sqlrec.toml."""
    config = folder / CONFIG_FILE
    if config.exists():
        raise ConfigError(f"{config} already exists; not overwriting it",
                          hint="choose another folder, or edit the existing project")
    name = name or folder.resolve().name
    for sub in ("sql/publish", "macros", "python", "data"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    text = template_path("demo.toml" if demo else "sqlrec.toml").read_text()
    text = text.replace("{other_inputs}", OTHER_INPUTS if with_data else OTHER_INPUTS_TO_FILL)
    config.write_text(text.replace("{name}", name))
    readme = folder / "README.md"
    if not readme.exists():
        readme.write_text(template_path("project_README.md").read_text().replace("{name}", name))
    if with_data:
        generate(folder / "data", DemoSize())
    return config


def ensure_demo(folder: Path) -> Path:
    """The demo project at `folder`: created on first use, reused (with the user's edits) afterwards."""
    config = folder / CONFIG_FILE
    if not config.exists():
        init_project(folder, with_data=True, name="sqlrec-demo", demo=True)
    elif not (folder / "data" / "events.parquet").exists():
        generate(folder / "data", DemoSize())
    return config
