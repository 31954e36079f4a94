"""The installed layout matches the repository: every package is declared, every entry point
imports."""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {"pixengine": "pixengine", "plugins": "pixengine_plugins", "presets": "pixengine_presets"}


def test_every_package_folder_is_declared_in_pyproject():
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, package in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *relative.parts]))
    found |= {"pixengine_presets.assets", "pixengine.serve.static", "pixengine.serve.static.js"}  # data folders
    assert found == declared


def test_every_builtin_entry_point_imports_and_belongs_to_pixengine():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["entry-points"]["pixengine"]
    installed = {ep.name: ep.value for ep in metadata.entry_points(group="pixengine") if ep.dist.name == "pixengine"}
    assert installed == declared, "reinstall (pip install -e .) after changing entry points"
    for value in declared.values():
        importlib.import_module(value)
