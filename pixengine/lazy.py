"""Packages whose public names are imported on first use, so that importing the package (as
``pixengine --help`` or pytest's plugin loading do) does not import torch or other heavy
modules until a name that needs them is used."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module


def lazy_names(package: str, names: dict[str, tuple[str, str]], namespace: dict) -> tuple[Callable, Callable]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps a public name to (the
    submodule that defines it, its name there). A name is imported once and then cached in
    the package's ``namespace``."""

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        module, attribute = names[name]
        value = getattr(import_module(f".{module}", package), attribute)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
