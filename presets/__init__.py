"""Presets shipped with pixengine (YAML files here) and the images they use (assets/).
Announced in the ``pixengine.presets`` entry-point group; found without importing this package."""
