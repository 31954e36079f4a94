"""Prompt text -> weighted targets.

The grammar (the same for every loss that takes prompts)::

    prompts := item ( "|" item )*
    item    := text [ ":" weight [ ":" stop ] ] [ "@" range ]
    range   := [ bound ] "-" [ bound ]          bound := integer [ "%" ]

* ``text`` runs up to the first ``:``, ``@`` or ``|``; spaces around every part are ignored.
  A backslash makes the next character literal: ``\\:``, ``\\|``, ``\\@``, ``\\\\``.
* ``weight`` is a number, default 1; a negative weight pushes the image away from the text.
* ``stop`` is a number: the prompt stops pulling once its distance has passed it (below it for a
  positive weight, above it for a negative one). Its value still shows in the loss.
* ``range`` limits the steps at which the prompt is active: ``@0-100`` (steps 0 to 99),
  ``@100-`` (from step 100), ``@-50%`` (the first half of the run). Steps count from 0.

Examples: ``a lighthouse at dusk``, ``a lighthouse:1 | fog:0.5 | text, watermark:-0.3``,
``an oil painting:1:0.8``, ``a seedling@-50% | a tree@50%-``.

A malformed prompt raises :class:`~pixengine.errors.ConfigError` whose message shows the prompt
with a caret under the offending character.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from .errors import ConfigError

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_BOUND = re.compile(r"(\d+)(%?)")
_SPECIAL = ":|@"


@dataclass(frozen=True)
class Bound:
    """One end of a step range: a step index, or a percentage of the run's steps."""

    value: int
    percent: bool = False

    def at(self, steps: int) -> float:
        return self.value * steps / 100.0 if self.percent else float(self.value)

    def __str__(self) -> str:
        return f"{self.value}{'%' if self.percent else ''}"


@dataclass(frozen=True)
class Prompt:
    text: str
    weight: float = 1.0
    #: Distance past which the prompt stops pulling (None: never stops).
    stop: float | None = None
    start: Bound | None = None
    end: Bound | None = None

    def active(self, step: int, steps: int) -> bool:
        """Whether the prompt pulls at ``step`` (0-based) of a run of ``steps`` steps."""
        step = max(step, 0)  # step -1 (scoring before step 1) counts as the first step
        if self.start is not None and step < self.start.at(steps):
            return False
        if self.end is not None and step >= self.end.at(steps):
            return False
        return True

    def __str__(self) -> str:
        # Spaces at the ends of the text belong to it only when escaped (the parser trims the rest).
        n, lead, trail = len(self.text), len(self.text) - len(self.text.lstrip()), len(self.text) - len(self.text.rstrip())
        text = "".join("\\" + c if c in _SPECIAL + "\\" or i < lead or i >= n - trail else c for i, c in enumerate(self.text))
        out = f"{text}:{self.weight:g}"
        if self.stop is not None:
            out += f":{self.stop:g}"
        if self.start is not None or self.end is not None:
            out += f"@{self.start or ''}-{self.end or ''}"
        return out


def caret(source: str, position: int, width: int = 76) -> str:
    """Two lines: ``source`` (a window of it when long) and a caret under ``position``."""
    start = 0
    if len(source) > width:
        start = min(max(0, position - width // 2), len(source) - width)
    shown = source[start : start + width]
    prefix = "..." if start > 0 else ""
    suffix = "..." if start + width < len(source) else ""
    return f"  {prefix}{shown}{suffix}\n  {' ' * (len(prefix) + position - start)}^"


def _fail(source: str, position: int, problem: str, key: str) -> ConfigError:
    return ConfigError(f"malformed prompt: {problem} (character {position + 1}):\n{caret(source, position)}", key=key)


def _split(source: str, key: str) -> list[tuple[list[tuple[str, int, bool]], int]]:
    """The items of ``source``, each as (characters as (char, position, escaped), position of
    the '|' around it, for errors about an empty item)."""
    items: list[tuple[list[tuple[str, int, bool]], int]] = [([], 0)]
    i = 0
    while i < len(source):
        c = source[i]
        if c == "\\":
            if i + 1 == len(source):
                raise _fail(source, i, "a backslash must be followed by the character it escapes", key)
            items[-1][0].append((source[i + 1], i + 1, True))
            i += 2
            continue
        if c == "|":
            if len(items) == 1 and not items[0][0]:
                items[0] = ([], i)  # an empty first item: point at the '|' after it
            items.append(([], i))
        else:
            items[-1][0].append((c, i, False))
        i += 1
    return items


def _fields(chars: list[tuple[str, int, bool]]) -> tuple[list[list[tuple[str, int, bool]]], list[int], list | None, int]:
    """Split an item into the text and ':' fields, and the part after '@'."""
    fields: list[list[tuple[str, int, bool]]] = [[]]
    colons: list[int] = []
    at_part = None
    at_pos = -1
    for c, pos, escaped in chars:
        if at_part is not None:
            at_part.append((c, pos, escaped))
        elif c == ":" and not escaped:
            fields.append([])
            colons.append(pos)
        elif c == "@" and not escaped:
            at_part, at_pos = [], pos
        else:
            fields[-1].append((c, pos, escaped))
    return fields, colons, at_part, at_pos


def _strip(chars: list[tuple[str, int, bool]]) -> list[tuple[str, int, bool]]:
    lo, hi = 0, len(chars)
    while lo < hi and chars[lo][0].isspace() and not chars[lo][2]:
        lo += 1
    while hi > lo and chars[hi - 1][0].isspace() and not chars[hi - 1][2]:
        hi -= 1
    return chars[lo:hi]


def _number(source: str, chars, after: int, what: str, key: str) -> float:
    chars = _strip(chars)
    if not chars:
        raise _fail(source, min(after + 1, len(source) - 1) if source else 0, f"expected a number ({what}) after ':'", key)
    text = "".join(c for c, _, _ in chars)
    match = _NUMBER.match(text)
    length = match.end() if match else 0
    if length < len(text):
        raise _fail(source, chars[length][1], f"expected a number ({what})", key)
    value = float(text)
    if not math.isfinite(value):
        raise _fail(source, chars[0][1], f"{what} must be finite", key)
    return value


def _range(source: str, chars, at_pos: int, key: str) -> tuple[Bound | None, Bound | None]:
    chars = _strip(chars)
    text = "".join(c for c, _, _ in chars)
    usage = "expected a step range after '@' such as 0-100, 100-, -50% or 25%-75%"
    if not chars:
        raise _fail(source, at_pos, usage, key)
    dash = text.find("-")
    if dash < 0:
        raise _fail(source, chars[-1][1], usage + " (the '-' is missing)", key)
    bounds = []
    for lo, hi in ((0, dash), (dash + 1, len(text))):
        part = text[lo:hi].strip()
        if not part:
            bounds.append(None)
            continue
        offset = lo + (len(text[lo:hi]) - len(text[lo:hi].lstrip()))
        match = _BOUND.match(part)
        length = match.end() if match else 0
        if length < len(part):
            raise _fail(source, chars[offset + length][1], usage, key)
        bounds.append(Bound(int(match.group(1)), bool(match.group(2))))
    start, end = bounds
    if start is None and end is None:
        raise _fail(source, chars[dash][1], usage + " (give at least one end)", key)
    if start is not None and end is not None and start.percent == end.percent and end.value <= start.value:
        raise _fail(source, chars[dash][1], f"the range ends ({end}) before it starts ({start})", key)
    return start, end


def parse_prompts(source: str, *, key: str = "prompt") -> list[Prompt]:
    """The prompts of ``source`` in order; an empty or blank source gives none.

    ``key`` names the option the text came from, for errors. Parsing is memoised: the same
    text is checked when a config is validated and used when the run is built."""
    return list(_parse_prompts(source, key))


@functools.lru_cache(maxsize=256)
def _parse_prompts(source: str, key: str) -> tuple[Prompt, ...]:
    if not source or not source.strip():
        return ()
    prompts = []
    for item, bar in _split(source, key):
        fields, colons, at_part, at_pos = _fields(item)
        text_chars = _strip(fields[0])
        if not text_chars:
            # Point where the text should have ended: at the ':' or '@', else the '|'.
            where = colons[0] if colons else at_pos if at_pos >= 0 else item[-1][1] if item else bar
            raise _fail(source, where, "empty prompt text", key)
        if len(fields) > 3:
            raise _fail(source, colons[2], "too many ':' fields; expected text:weight:stop", key)
        weight = _number(source, fields[1], colons[0], "the weight", key) if len(fields) > 1 else 1.0
        stop = _number(source, fields[2], colons[1], "the stop value", key) if len(fields) > 2 else None
        start, end = _range(source, at_part, at_pos, key) if at_part is not None else (None, None)
        text = "".join(c for c, _, _ in text_chars)
        prompts.append(Prompt(text=text, weight=weight, stop=stop, start=start, end=end))
    return tuple(prompts)


def format_prompts(prompts: list[Prompt]) -> str:
    """The text that :func:`parse_prompts` reads back into ``prompts``."""
    return " | ".join(str(p) for p in prompts)
