"""Which ``${...}`` a recipe may contain.

omegaconf resolves ``${oc.env:TOKEN}``, ``${oc.decode:...}`` and any registered resolver when a
config is resolved, so a shared preset or PNG could copy a secret into the run's outputs. A
recipe may only refer to its own keys (``${prompt}``, ``${losses.style.image}``); every
resolver call is refused when the text is read, before anything is built, naming the file and
the key. :data:`SAFE_RESOLVERS` is where a resolver would be allowed, after review.

The check uses omegaconf's own grammar, so it sees exactly what omegaconf would resolve
(nested interpolations, escapes such as ``\\${not an interpolation}``).
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ConfigError

#: Resolvers a recipe may call. None: each one reads something outside the recipe.
SAFE_RESOLVERS: frozenset[str] = frozenset()

_ESCAPE = re.compile(r"(\\*)\$\{")


def _resolver_calls(text: str) -> list[str]:
    """The resolvers ``text`` would call when omegaconf resolves it (GrammarParseError if it
    is a malformed interpolation)."""
    from omegaconf.grammar.gen.OmegaConfGrammarParser import OmegaConfGrammarParser
    from omegaconf.grammar_parser import parse

    found: list[str] = []

    def walk(tree: Any) -> None:
        if isinstance(tree, OmegaConfGrammarParser.InterpolationResolverContext):
            found.append(tree.resolverName().getText())
        for index in range(tree.getChildCount()):
            child = tree.getChild(index)
            if hasattr(child, "getChildCount"):
                walk(child)

    walk(parse(text))
    return found


def check_text(text: str, *, key: str | None, source: str | None) -> None:
    """Refuse ``text`` if resolving it would call a resolver that is not safe."""
    if "${" not in text:
        return
    from omegaconf.errors import GrammarParseError

    try:
        calls = _resolver_calls(text)
    except GrammarParseError:
        raise ConfigError(
            f"malformed interpolation in {text!r}; write \\${{ for a literal '${{'", key=key, source=source
        ) from None
    refused = [name for name in calls if name not in SAFE_RESOLVERS]
    if refused:
        raise ConfigError(
            f"{text!r} calls the resolver '{refused[0]}'; a recipe may only refer to its own keys, such as "
            "${prompt}: no environment variables, decoding or other resolvers",
            key=key,
            source=source,
        )


def check(data: Any, *, source: str | None, prefix: str = "") -> None:
    """Check every key and string value of plain ``data`` (dicts, lists, scalars)."""
    if isinstance(data, dict):
        for name, value in data.items():
            path = f"{prefix}.{name}" if prefix else str(name)
            check_text(str(name), key=path, source=source)
            check(value, source=source, prefix=path)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            check(value, source=source, prefix=f"{prefix}[{index}]")
    elif isinstance(data, str):
        check_text(data, key=prefix or None, source=source)


def escape(data: Any) -> Any:
    """``data`` with every ``${`` in its strings escaped, so text that was resolved once (a
    run's resolved config) reads back as the same text instead of as an interpolation."""
    if isinstance(data, dict):
        return {key: escape(value) for key, value in data.items()}
    if isinstance(data, list):
        return [escape(value) for value in data]
    if isinstance(data, str) and "${" in data:
        # omegaconf reads "\${" as a literal "${", and "\\" right before one as a backslash.
        return _ESCAPE.sub(lambda m: m.group(1) * 2 + "\\${", data)
    return data
