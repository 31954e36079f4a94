"""Registers the presets shipped with pixengine (``presets/`` in the repository)."""

from __future__ import annotations

import importlib.resources

import pixengine


@pixengine.hookimpl
def register_presets(register):
    register(importlib.resources.files("pixengine_presets"))
