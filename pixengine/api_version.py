"""The version of the plugin API: the hooks, their arguments, the component base classes, the
option declarations, the run view lifecycle hooks receive, and ``pixengine.testing``.

``MAJOR.MINOR``: a minor release only adds (a hook, an argument a hook may ignore, a method
with a default); anything that can break a plugin written for an earlier minor version bumps
the major version. A plugin states the version it was written against as a module attribute::

    PIXENGINE_API = "1.1"

and is refused, with a message saying why, by a pixengine whose API has another major version
or an older minor one. What changed in each version is listed in docs/plugins.md
("Compatibility and deprecation policy").
"""

from __future__ import annotations

API_VERSION = "1.4"


def parse(text: str) -> tuple[int, int]:
    """``"1.1"`` -> (1, 1); ``"1"`` -> (1, 0); ValueError for anything else."""
    parts = str(text).strip().split(".")
    if not 1 <= len(parts) <= 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"'{text}' is not an API version such as '{API_VERSION}'")
    major, minor = int(parts[0]), int(parts[1]) if len(parts) == 2 else 0
    return major, minor


def incompatibility(required: str, current: str = API_VERSION) -> str | None:
    """Why a plugin written for API ``required`` cannot run on ``current`` (None if it can)."""
    try:
        needed = parse(required)
    except ValueError as exc:
        return f"PIXENGINE_API: {exc}"
    have = parse(current)
    if needed[0] != have[0]:
        return f"written for plugin API {required}, and this pixengine has API {current} (another major version)"
    if needed[1] > have[1]:
        return f"needs plugin API {required}, and this pixengine has only API {current}; upgrade pixengine"
    return None
