"""Component options: declared as dataclasses, documented and checked from one place.

A component's ``Options`` is a dataclass. Its fields give the names, types and defaults;
:func:`option` adds a help text and constraints (choices, bounds) that omegaconf cannot
express, and that :func:`check_constraints` enforces after omegaconf has checked the types.
``__post_init__`` may raise ``ValueError`` for rules across several fields; the message is
shown with the key path and the preset file.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field
from typing import Any

from omegaconf import MISSING as REQUIRED  # "???": omegaconf's marker of a value that must be set


def option(
    default: Any = MISSING,
    *,
    help: str = "",
    choices: Sequence[Any] | None = None,
    min: float | None = None,
    max: float | None = None,
    default_factory: Any = MISSING,
) -> Any:
    """A dataclass field with documentation and constraints.

    >>> @dataclass
    ... class Options:
    ...     mode: str = option("mean", help="how to reduce", choices=["mean", "sum"])
    ...     weight: float = option(1.0, help="multiplier", min=0)
    ...     image: str = option(help="no default: the preset must set it")
    """
    metadata = {"help": help, "choices": list(choices) if choices else None, "min": min, "max": max}
    if isinstance(default, (list, dict, set)):
        value = default
        default_factory = lambda: type(value)(value)  # noqa: E731 - fresh copy per instance
        default = MISSING
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    if default is MISSING:
        # A dataclass field without default cannot follow inherited defaults (``weight``);
        # omegaconf's marker keeps the field required all the same.
        default = REQUIRED
    return field(default=default, metadata=metadata)


@dataclass
class NoOptions:
    """For components without options."""


@dataclass(frozen=True)
class OptionInfo:
    name: str
    type: str
    default: Any
    help: str
    choices: list | None
    min: float | None
    max: float | None


def type_name(annotation: Any) -> str:
    """A readable name for a field's annotation: ``int``, ``list[float]``, ``str | None``."""
    if isinstance(annotation, str):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is None:
        return getattr(annotation, "__name__", str(annotation))
    args = typing.get_args(annotation)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return " | ".join("None" if a is type(None) else type_name(a) for a in args)
    return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(a) for a in args)}]"


def describe(options_cls: type) -> list[OptionInfo]:
    """Each option's name, type, default, help and constraints, in declaration order."""
    hints = typing.get_type_hints(options_cls)
    infos = []
    for f in dataclasses.fields(options_cls):
        if f.default is not MISSING and f.default != REQUIRED:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = MISSING
        meta = f.metadata or {}
        infos.append(
            OptionInfo(
                name=f.name,
                type=type_name(hints.get(f.name, f.type)),
                default=default,
                help=meta.get("help", ""),
                choices=meta.get("choices"),
                min=meta.get("min"),
                max=meta.get("max"),
            )
        )
    return infos


def check_constraints(options_cls: type, values: Any) -> list[tuple[str, str]]:
    """(field name, problem) for every choices/min/max constraint of ``options_cls`` that
    ``values`` (a mapping, or an instance) breaks. Checked before ``__post_init__`` so a value
    out of its own bounds is reported at its own key."""
    read = values.get if isinstance(values, dict) else lambda name: getattr(values, name, None)
    problems = []
    for f in dataclasses.fields(options_cls):
        meta = f.metadata or {}
        value = read(f.name)
        if value is None or value == REQUIRED:
            continue
        choices = meta.get("choices")
        if choices is not None and value not in choices:
            problems.append((f.name, f"{value!r} is not one of {', '.join(map(repr, choices))}"))
        for bound, compare, word in (("min", lambda v, b: v < b, "at least"), ("max", lambda v, b: v > b, "at most")):
            limit = meta.get(bound)
            if limit is None:
                continue
            values_ = value if isinstance(value, (list, tuple)) else [value]
            if any(isinstance(v, (int, float)) and not isinstance(v, bool) and compare(v, limit) for v in values_):
                problems.append((f.name, f"{value!r} must be {word} {limit}"))
    return problems
