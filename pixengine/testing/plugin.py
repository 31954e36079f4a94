"""pixengine's pytest plugin (registered through the ``pytest11`` entry point): fixtures for
testing plugins. Importing it imports nothing heavy; each fixture imports what it needs."""

from __future__ import annotations

import pytest


@pytest.fixture
def pixengine_registry():
    """A registry built afresh for the test from the installed plugins (code plugins registered
    by earlier tests forgotten), and forgotten again after it."""
    from pixengine import plugins

    plugins._code_plugins.clear()
    plugins.reset()
    yield plugins.get_registry()
    plugins._code_plugins.clear()
    plugins.reset()


@pytest.fixture
def pixengine_plugin(pixengine_registry):
    """Register a code plugin for this test: ``pixengine_plugin(MyLoss, MyAugmentation,
    settings={"mine": MySettings}, hooks={"on_step": fn}, name="mine")`` (or a ready module
    as the only argument); returns its ``PluginInfo`` (``.ok``, ``.error``, ``.refused``)."""
    import types

    from pixengine import plugins

    from .registration import make_plugin

    names = []

    def register(*components, name: str = "test_plugin", **kwargs):
        module = components[0] if len(components) == 1 and isinstance(components[0], types.ModuleType) else None
        if module is None:
            module = make_plugin(*components, name=name, **kwargs)
        plugins.register(module, name)
        names.append(name)
        return plugins.get_registry().plugins[name]

    yield register
    for name in names:
        plugins.unregister(name)


@pytest.fixture
def pixengine_overrides(tmp_path):
    """Overrides that make any recipe small-output and quiet, writing into the test's folder."""
    from .runs import quick_overrides

    return quick_overrides(tmp_path)


@pytest.fixture(scope="session")
def pixengine_tiny_clip(tmp_path_factory):
    """A tiny open_clip model (random weights in a file, loaded through the real loader):
    ``pixengine_tiny_clip.overrides("clip")`` puts it in place of a recipe's CLIP model."""
    from .tiny_clip import make_tiny_clip

    return make_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture
def pixengine_context():
    """A factory of CPU run contexts, to build a component directly."""
    from .runs import run_context

    return run_context
