"""The CLIP presets are shipped (test_shipped_presets.py runs every preset end to end with the
tiny model in place of each real one)."""

from __future__ import annotations

import pixengine
from pixengine.plugins import get_registry

def clip_presets() -> list[str]:
    """Shipped presets with an open_clip model, their parents' included."""
    names = sorted(get_registry().presets)
    return [name for name in names if any(m.entry.name == "open_clip" for m in pixengine.resolve(name).models)]


def test_the_clip_presets_are_shipped():
    assert {"clip_pixels", "clip_duo"} <= set(clip_presets())
