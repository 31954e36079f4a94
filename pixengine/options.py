"""Component options: declared as dataclasses, documented and checked from one place.

A component's ``Options`` is a dataclass. Its fields give the names, types and defaults;
:func:`option` adds a help text and constraints (choices, bounds) that omegaconf cannot
express, and that :func:`check_constraints` enforces after omegaconf has checked the types.
``__post_init__`` may raise ``ValueError`` for rules across several fields; the message is
shown with the key path and the preset file.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field
from pathlib import PurePath
from typing import Any



@dataclass(frozen=True)
class FileOption:
    """Declares that an option's value names files (``option(..., file="image")``).

    The value may be a path, a list of paths or a mapping whose keys are paths. ``prefix``:
    the text names a file only after it (``image:cat.png``); ``needs_suffix``: text without a
    file suffix is something else (a colour name). Declared files are what ``pixengine share``
    packs into a bundle, and what a recipe from a PNG or a bundle may only name inside the
    bundle (or as ``pkg:`` resources)."""

    kind: str = "file"
    prefix: str = ""
    needs_suffix: bool = False

    def paths_in(self, value: Any) -> list[str]:
        """The file names in ``value`` (a string, list or mapping), in order."""
        if isinstance(value, dict):
            items = [str(key) for key in value]
        elif isinstance(value, (list, tuple)):
            items = [str(item) for item in value]
        elif isinstance(value, str):
            items = [value]
        else:
            return []
        paths = []
        for item in items:
            if self.prefix:
                if not item.startswith(self.prefix):
                    continue
                item = item[len(self.prefix) :]
            if not item or (self.needs_suffix and not PurePath(item).suffix):
                continue
            paths.append(item)
        return paths

    def replace(self, value: Any, new: dict[str, str]) -> Any:
        """``value`` with each of its file names replaced by ``new[name]`` where given."""

        def one(item: Any) -> Any:
            text = str(item)
            bare = text[len(self.prefix) :] if self.prefix and text.startswith(self.prefix) else None
            if self.prefix:
                return f"{self.prefix}{new[bare]}" if bare in new else item
            return new.get(text, item)

        if isinstance(value, dict):
            return {one(key): v for key, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [one(item) for item in value]
        return one(value) if isinstance(value, str) else value


#: omegaconf's marker of a value that must be set (omegaconf.MISSING), spelt out so that reading
#: options does not import omegaconf (``pixengine --help`` stays light).
REQUIRED = "???"


def option(
    default: Any = MISSING,
    *,
    help: str = "",
    choices: Sequence[Any] | None = None,
    min: float | None = None,
    max: float | None = None,
    default_factory: Any = MISSING,
    file: str | FileOption | None = None,
) -> Any:
    """A dataclass field with documentation and constraints.

    ``file`` declares that the value names files (``"image"``, ``"weights"``..., or a
    :class:`FileOption` for values such as ``image:PATH``).

    >>> @dataclass
    ... class Options:
    ...     mode: str = option("mean", help="how to reduce", choices=["mean", "sum"])
    ...     weight: float = option(1.0, help="multiplier", min=0)
    ...     image: str = option(help="no default: the preset must set it", file="image")
    """
    if isinstance(file, str):
        file = FileOption(kind=file)
    metadata = {"help": help, "choices": list(choices) if choices else None, "min": min, "max": max, "file": file}
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
        values_ = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in values_):
            problems.append((f.name, f"{value!r} is not a finite number"))
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


def file_options(options_cls: type) -> dict[str, FileOption]:
    """The options of ``options_cls`` declared to name files, by field name."""
    return {f.name: f.metadata["file"] for f in dataclasses.fields(options_cls) if (f.metadata or {}).get("file")}


# -- checking a plugin's declarations, when it registers --------------------------------------

_SCALARS = {int: "int", float: "float", str: "str", bool: "bool"}


def _matches(value: Any, annotation: Any) -> bool:
    """Whether a default ``value`` fits ``annotation`` (one of the supported forms)."""
    if annotation is Any:
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if _is_union(origin):
        return any(_matches(value, arg) for arg in args)
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation in (str, bool):
        return isinstance(value, annotation)
    if origin is list:
        return isinstance(value, (list, tuple)) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items())
    return False


def _is_union(origin: Any) -> bool:
    return origin is typing.Union or str(origin) == "<class 'types.UnionType'>"


def _unsupported(annotation: Any) -> str | None:
    """Why ``annotation`` cannot be an option's type (None when it can)."""
    if annotation is Any or annotation in _SCALARS:
        return None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if _is_union(origin):
        others = [a for a in args if a is not type(None)]
        if len(others) == 1 and len(args) == 2:
            return _unsupported(others[0])
        return "a union other than Optional[X]"
    if origin is list and len(args) == 1:
        return None if args[0] in _SCALARS or args[0] is Any else "a list of something other than int, float, str or bool"
    if origin is dict and len(args) == 2:
        if args[0] is not str:
            return "a dict whose keys are not str"
        return None if args[1] in _SCALARS or args[1] is Any else "a dict of something other than int, float, str or bool"
    return f"'{type_name(annotation)}'"


def _numeric(annotation: Any) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if _is_union(origin):
        return all(_numeric(a) for a in args if a is not type(None))
    if origin is list:
        return _numeric(args[0])
    return annotation in (int, float)


SUPPORTED_TYPES = "int, float, str, bool, Any, Optional[X], list[X] and dict[str, X] of those scalars"


def declaration_problems(options_cls: Any) -> list[str]:
    """What is wrong with an ``Options`` declaration, one message per option: unsupported
    annotations, defaults that do not fit their annotation, their choices or their bounds,
    bounds on options that are not numbers. Empty when the declaration is sound."""
    if not dataclasses.is_dataclass(options_cls):
        return [f"Options ({getattr(options_cls, '__name__', options_cls)!r}) is not a dataclass"]
    try:
        hints = typing.get_type_hints(options_cls)
    except Exception as exc:  # a forward reference that does not resolve
        return [f"its annotations cannot be read: {type(exc).__name__}: {exc}"]
    problems = []
    for f in dataclasses.fields(options_cls):
        annotation = hints.get(f.name, f.type)
        meta = f.metadata or {}
        why = _unsupported(annotation)
        if why is not None:
            problems.append(f"option '{f.name}': type {why} is not supported; use {SUPPORTED_TYPES}")
            continue
        for bound in ("min", "max"):
            if meta.get(bound) is not None and not _numeric(annotation):
                problems.append(f"option '{f.name}': {bound}= is only for numbers, and '{f.name}' is {type_name(annotation)}")
        choices = meta.get("choices")
        for choice in choices or []:
            if not _matches(choice, annotation):
                problems.append(f"option '{f.name}': choice {choice!r} is not {type_name(annotation)}")
        if f.default is not MISSING and f.default != REQUIRED:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            continue  # required: the preset must set it
        if not _matches(default, annotation):
            problems.append(f"option '{f.name}': default {default!r} is not {type_name(annotation)}")
            continue
        for name, message in check_constraints(options_cls, {f.name: default}):
            problems.append(f"option '{name}': the default {message}")
    return problems
