"""Presets shipped with pixengine (YAML files here) and the images they use (assets/).
Registered by the built-in plugin ``pixengine_plugins.builtin_presets``."""
