"""Write new projects: `sqlrec init DIR` (a commented starter) and the built-in demo project."""

from __future__ import annotations

from pathlib import Path

from .config import CONFIG_FILE
from .datagen import DemoSize, generate
from .errors import ConfigError
from .resources import template_path

DEMO_DIR = "sqlrec-demo"


def init_project(folder: Path, with_data: bool = True, name: str | None = None) -> Path:
    """Create a starter project in `folder`. Refuses to overwrite an existing sqlrec.toml."""
    config = folder / CONFIG_FILE
    if config.exists():
        raise ConfigError(f"{config} already exists; not overwriting it",
                          hint="choose another folder, or edit the existing project")
    name = name or folder.resolve().name
    for sub in ("sql/publish", "macros", "python", "data"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    config.write_text(template_path("sqlrec.toml").read_text().replace("{name}", name))
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
        init_project(folder, with_data=True, name="sqlrec-demo")
    elif not (folder / "data" / "events.parquet").exists():
        generate(folder / "data", DemoSize())
    return config
