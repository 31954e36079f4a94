"""Write docs/cli.md, the command-line reference: the --help of pixengine and of every
subcommand, at a fixed width so the page does not depend on the terminal. A test keeps it in
step with the parser (tests/test_cli.py), so a changed option or help text shows up in review.

    python scripts/make_cli_reference.py
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
WIDTH = 100


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(words, parser) for ``parser`` and each subcommand below it, depth first, in declared order."""
    yield path, parser
    for action in parser._actions:  # argparse has no public way to list subcommands
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, (*path, name))


def python_version() -> str:
    """argparse lays help out a little differently from one Python to the next."""
    return f"Python {sys.version_info.major}.{sys.version_info.minor}"


def reference() -> str:
    from pixengine.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH + 2)  # argparse wraps at COLUMNS - 2
    try:
        parts = [f"# Command-line reference\n\nThe `--help` of each command (made by `scripts/make_cli_reference.py` with "
                 f"{python_version()}).\n"]
        for words, parser in _commands(build_parser()):
            parts.append(f"## pixengine {' '.join(words)}".rstrip() + "\n\n```\n" + parser.format_help().rstrip() + "\n```\n")
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(parts)


if __name__ == "__main__":
    PAGE.write_text(reference(), encoding="utf-8")
    print(f"wrote {PAGE}")
