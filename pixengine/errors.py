"""Errors a user can act on.

Every error pixengine raises on purpose derives from :class:`PixengineError`; the CLI prints
its message without a traceback. Messages name the file, key or plugin at fault and what
would be valid.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PixengineError(Exception):
    """Base class of errors meant for the user, not for a traceback."""


class ConfigError(PixengineError):
    """A preset, override or option is wrong.

    ``source`` is the file (or "command line") that set the offending key, ``key`` its dotted
    path in the resolved config.
    """

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None):
        self.key = key
        self.source = source
        self.detail = message
        where = ": ".join(part for part in (source, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class PluginError(PixengineError):
    """A plugin failed to load, or a component it provides failed to build."""


class WeightsNotFoundError(PixengineError):
    """Model weights are not on disk and cannot be downloaded."""

    def __init__(self, model: str, looked: Iterable[str], how: str):
        self.model = model
        self.looked = list(looked)
        lines = [f"weights for model '{model}' were not found."]
        if self.looked:
            lines.append("Looked in:")
            lines.extend(f"  - {place}" for place in self.looked)
        lines.append(how)
        super().__init__("\n".join(lines))


class NonFiniteLossError(PixengineError):
    """The loss became NaN or infinite; the run stopped and kept its last finite image."""

    def __init__(self, message: str, paths: list | None = None):
        self.paths = list(paths or [])
        super().__init__(message)


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """A short hint listing the valid names, closest first."""
    valid = sorted(set(valid))
    if not valid:
        return "there are none"
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
    listing = ", ".join(valid)
    if close:
        return f"did you mean {' or '.join(repr(c) for c in close)}? Valid: {listing}"
    return f"valid: {listing}"


def omegaconf_message(exc: Exception) -> str:
    """The first line of an omegaconf error: the rest ("full_key: ...", "object_type=...")
    repeats the key the caller names anyway, in omegaconf's internal terms."""
    text = getattr(exc, "msg", None) or str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
