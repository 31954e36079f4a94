"""YAML from files that may come from a stranger: presets, overrides, the run a PNG carries,
run.yaml, checkpoints' documents, bundles' recipes.

Every such text is read the same bounded way, whatever its origin:

* its size is capped before parsing;
* aliases are counted and the size of the document *with aliases expanded* is computed on the
  composed node graph, before anything is constructed, so an alias bomb ("billion laughs") is
  refused in milliseconds instead of exhausting memory;
* only plain data comes out (mappings with string keys, lists, strings, numbers, booleans,
  null): no tags that construct objects, bytes, dates or sets;
* errors name the file and the line and column, and never echo the file's content.

PyYAML's ``SafeLoader`` already refuses Python object tags; what it lacks is the bounds, which
no YAML library offers, hence this module.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


@dataclass(frozen=True)
class Limits:
    #: Bytes of YAML text. Presets and run documents are a few kilobytes.
    max_bytes: int = 1 << 20
    #: Nodes of the document with every alias expanded (what a consumer would walk).
    max_nodes: int = 50_000
    #: Alias uses (``*name``); presets rarely need any.
    max_aliases: int = 1_000
    #: Nesting depth of mappings and lists.
    max_depth: int = 64


DEFAULT_LIMITS = Limits()


_TIMESTAMP = "tag:yaml.org,2002:timestamp"
#: YAML 1.2 floats: PyYAML follows YAML 1.1, where ``1e-3`` is a string; presets mean a number.
_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$")


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts alias uses while composing (the pure-Python composer, so the
    count is exact; documents are small, speed is not a concern), reads YAML 1.2 floats,
    keeps dates as text and refuses duplicate keys."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str, limits: Limits, source: str):
        super().__init__(stream)
        self.limits = limits
        self.source = source
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > self.limits.max_aliases:
                mark = self.peek_event().start_mark
                raise ConfigError(
                    f"line {mark.line + 1}: more than {self.limits.max_aliases} YAML aliases; refused "
                    "(a shared file should not need them)",
                    source=self.source,
                )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise ConfigError(
                        f"line {key_node.start_mark.line + 1}: key '{key_node.value}' appears twice in one mapping",
                        source=self.source,
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_BoundedLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


class _Dumper(yaml.SafeDumper):
    """SafeDumper that reads scalars as :class:`_BoundedLoader` does, so text that the loader
    would take for a number (``1e5``) or a date is quoted and reads back as text."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeDumper.yaml_implicit_resolvers.items()
    }


_Dumper.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def dump(data: Any) -> str:
    """YAML text of plain ``data`` that :func:`load` reads back unchanged."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def _expanded_size(node: yaml.Node, limits: Limits, source: str) -> int:
    """Nodes in ``node`` with aliases expanded, computed once per distinct node; refuses
    cycles, too many nodes and too deep nesting without building anything."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(current: yaml.Node, depth: int) -> int:
        key = id(current)
        if key in sizes:
            return sizes[key]
        if depth > limits.max_depth:
            raise ConfigError(f"line {current.start_mark.line + 1}: nested deeper than {limits.max_depth} levels", source=source)
        if key in active:
            raise ConfigError(f"line {current.start_mark.line + 1}: an alias refers to itself (a cycle)", source=source)
        active.add(key)
        total = 1
        if isinstance(current, yaml.SequenceNode):
            children = current.value
        elif isinstance(current, yaml.MappingNode):
            children = [part for pair in current.value for part in pair]
        else:
            children = []
        for child in children:
            total += size(child, depth + 1)
            if total > limits.max_nodes:
                raise ConfigError(
                    f"line {current.start_mark.line + 1}: the document expands to more than {limits.max_nodes} "
                    "values (an alias bomb?); refused",
                    source=source,
                )
        active.discard(key)
        sizes[key] = total
        return total

    return size(node, 0)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """line, column and problem of a YAML error, without the snippet of the file yaml adds."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or type(exc).__name__
    if "'\\t'" in problem or "\\t" in problem:
        problem = "a tab character; YAML indents with spaces only"
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"not valid YAML: {where}{problem}"


_PLAIN = (str, int, float, bool, type(None))


def check_plain(value: Any, source: str | None, path: str = "") -> None:
    """Only data omegaconf and JSON can hold: no bytes, dates, sets or non-string keys."""
    if isinstance(value, dict):
        for key, child in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"key {key!r} at '{path or 'top level'}' is not a string; quote it", source=source)
            check_plain(child, source, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            check_plain(child, source, f"{path}[{index}]")
    elif not isinstance(value, _PLAIN):
        kind = "a date" if isinstance(value, (dt.date, dt.datetime)) else type(value).__name__
        raise ConfigError(f"'{path}' is {kind}, which a recipe cannot hold; quote it to pass text", source=source)


def load(text: str | bytes, source: str, *, mapping: bool = True, limits: Limits = DEFAULT_LIMITS, what: str = "document") -> Any:
    """Parse untrusted YAML ``text`` into plain data; ``source`` names it in errors.

    With ``mapping`` (the default) the document must be a mapping; an empty document is
    refused naming ``what`` it should have been."""
    if isinstance(text, bytes):
        if len(text) > limits.max_bytes:
            raise ConfigError(f"{len(text)} bytes of YAML, more than the {limits.max_bytes} allowed; refused", source=source)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 text (byte {exc.start}); is it a YAML file?", source=source) from None
    if len(text) > limits.max_bytes:
        raise ConfigError(f"{len(text)} characters of YAML, more than the {limits.max_bytes} allowed; refused", source=source)
    loader = None
    try:
        loader = _BoundedLoader(text, limits, source)  # refuses unprintable characters already
        node = loader.get_single_node()
        if node is None:
            data = None
        else:
            _expanded_size(node, limits, source)
            data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(exc), source=source) from None
    except RecursionError:
        raise ConfigError(f"nested deeper than {limits.max_depth} levels", source=source) from None
    finally:
        if loader is not None:
            loader.dispose()
    if mapping:
        if data is None:
            raise ConfigError(f"the file is empty; a {what} is a YAML mapping of keys to values", source=source)
        if not isinstance(data, dict):
            raise ConfigError(f"a {what} must be a YAML mapping of keys to values, not {_kind(data)}", source=source)
    check_plain(data, source)
    return data


def load_file(path: str | Path, *, what: str = "preset", limits: Limits = DEFAULT_LIMITS) -> dict:
    """Read and :func:`load` a YAML file (a mapping), checking its size before reading it."""
    path = Path(path)
    source = str(path)
    try:
        if path.is_dir():
            raise ConfigError(f"is a folder, not a {what} file", source=source)
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ConfigError(f"{size} bytes, more than the {limits.max_bytes} a {what} may have; refused", source=source)
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} file does not exist", source=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file: {exc.strerror or exc}", source=source) from None
    return load(data, source, limits=limits, what=what)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a single string"
    return f"a {type(value).__name__}"
