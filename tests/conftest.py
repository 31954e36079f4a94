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


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """A tiny open_clip architecture registered for this session, with random weights in a
    file: ``tiny_clip.arch``, ``tiny_clip.path``, and ``tiny_clip.overrides(label)`` to put it in
    place of a preset's CLIP model (see tests/clip_fixtures.py)."""
    from clip_fixtures import make_tiny_clip

    return make_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))
