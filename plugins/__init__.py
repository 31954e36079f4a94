"""pixengine's built-in plugins (installed as ``pixengine_plugins``).

Each module or folder here is one plugin, declared in pyproject.toml under
``[project.entry-points.pixengine]`` and loaded exactly like a third-party plugin.
"""
