"""pixengine's own tests use the plugin author's kit (pixengine.testing, a pytest plugin
installed with pixengine) like any plugin's tests; these are its fixtures under the short
names the suite uses."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def fresh_registry():
    """Each test sees the installed plugins only, and nothing a previous test registered
    (what the kit's pixengine_registry does, without building a registry for tests that
    need none)."""
    from pixengine import plugins

    plugins._code_plugins.clear()
    plugins.reset()
    yield
    plugins._code_plugins.clear()
    plugins.reset()


@pytest.fixture
def quick(pixengine_overrides):
    """Overrides that make any preset small and quiet, writing into the test's folder."""
    return pixengine_overrides


@pytest.fixture(scope="session")
def tiny_clip(pixengine_tiny_clip):
    """A tiny open_clip model loaded through the real loader (pixengine.testing.tiny_clip)."""
    return pixengine_tiny_clip
