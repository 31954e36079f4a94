"""Share: a run folder as a recipe bundle (a ``.zip`` another pixengine re-runs).

Bundles are written by ``pixengine.sharing.bundle.write_bundle(source, dest)``; this adapter is
the studio's only contact with it, so the studio works (without Share) on a pixengine that
does not have bundles yet, and says so instead of failing.
"""

from __future__ import annotations

import importlib
from pathlib import Path


class BundlesUnavailable(Exception):
    pass


def _module():
    try:
        return importlib.import_module("pixengine.sharing.bundle")
    except ImportError:
        return None


def available() -> bool:
    module = _module()
    return module is not None and hasattr(module, "write_bundle")


def write_bundle(folder: Path, dest: Path) -> Path:
    """The bundle of the run in ``folder``, written to ``dest``."""
    module = _module()
    if module is None or not hasattr(module, "write_bundle"):
        raise BundlesUnavailable("sharing bundles are not available in this pixengine (pixengine.sharing.bundle is missing)")
    written = module.write_bundle(folder, dest)
    return Path(written) if written is not None else dest
