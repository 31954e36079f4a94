"""Shared test fixtures."""

from __future__ import annotations

import pytest

from pixengine import plugins


@pytest.fixture(autouse=True)
def fresh_registry():
    """Each test sees the installed plugins only, and nothing a previous test registered."""
    plugins._code_plugins.clear()
    plugins.reset()
    yield
    plugins._code_plugins.clear()
    plugins.reset()


@pytest.fixture
def quick(tmp_path):
    """Overrides that make any preset small and quiet, writing into the test's folder."""
    return {"output_dir": str(tmp_path / "out"), "progress": False, "save_every": 0}
