"""The ``pixengine`` command.

    pixengine run [PRESET] [PROMPT] [key=value ...]     run a preset (default: "default")
    pixengine run --from OUTPUT.png [key=value ...]     re-run the run that wrote a PNG
    pixengine run --resume FOLDER [key=value ...]       go on with a run that stopped there
    pixengine run PRESET --variations N [...]           N seeds, and a contact sheet of them
    pixengine presets list | show NAME [key=value ...]
    pixengine plugins list | show COMPONENT
    pixengine models list | fetch NAME
    pixengine bench [PRESET] [PROMPT] [key=value ...]  time a few steps, estimate the whole run
    pixengine serve [--host H] [--port P] [--outputs DIR]  the web studio

Errors meant for the user print one message and exit with status 1 (2 for usage errors,
130 after Ctrl-C); ``--debug`` or ``PIXENGINE_DEBUG=1`` adds the traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import textwrap
import traceback
from dataclasses import MISSING

from omegaconf import OmegaConf

from . import __version__, bench
from .api import prepare, resolve
from .seed_variations import variations
from .components import KINDS
from .config import read_yaml
from .errors import PixengineError
from .options import describe
from .plugins import PLUGINS_ENV, get_registry


def _split_run_args(items: list[str]) -> tuple[list[str], list[str]]:
    """Positional words and key=value overrides, in the order given."""
    words, overrides = [], []
    for item in items:
        (overrides if "=" in item and not item.startswith("=") and " " not in item.split("=", 1)[0] else words).append(item)
    return words, overrides


def _stop_on_sigterm() -> None:
    """Treat SIGTERM (kill, a job scheduler's time limit) like Ctrl-C: the run keeps its image."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def cmd_run(args: argparse.Namespace) -> int:
    _stop_on_sigterm()
    preset, prompt, overrides = _run_arguments(args)
    if args.variations is not None:
        made = variations(preset, prompt, count=args.variations, overrides=overrides, from_image=args.from_image)
        print(f"Wrote {len(made.results)} variations in {made.output_dir}, side by side in {made.sheet_path}")
        return 0
    if args.resume:
        run = prepare(resume=args.resume, overrides=overrides)
    else:
        run = prepare(preset, prompt, overrides=overrides, from_image=args.from_image)
    result = run.execute()
    print(f"Wrote {result.final_path}")
    print(f"Re-run it with: pixengine run --from {result.final_path}")
    if result.checkpoint_path is not None:
        print(f"Go on with it:  pixengine run --resume {result.output_dir} steps={2 * result.steps_done}")
    return 0


def _run_arguments(args: argparse.Namespace) -> tuple[str | None, str | None, list[str]]:
    """The preset, prompt and overrides of `pixengine run`, checked against its options."""
    words, overrides = _split_run_args(args.args)
    if args.from_image and args.resume:
        raise PixengineError("give --from (re-run from the start) or --resume (go on), not both")
    if args.variations is not None and args.resume:
        raise PixengineError("--variations starts new runs; it cannot be combined with --resume")
    if args.from_image or args.resume:
        if words:
            option = "--from" if args.from_image else "--resume"
            raise PixengineError(f"with {option}, give only key=value overrides, not {words!r}")
        return None, None, overrides
    return (*_preset_and_prompt(words, args.prompt), overrides)


def _preset_and_prompt(words: list[str], prompt: str | None = None) -> tuple[str | None, str | None]:
    """`[PRESET] [PROMPT]` from the positional words (the prompt may also come from --prompt)."""
    if len(words) > 2:
        raise PixengineError(f"expected at most a preset and a prompt, got {len(words)} words: {words!r}; quote the prompt")
    if len(words) == 2:
        if prompt is not None:
            raise PixengineError("the prompt was given twice (as a word and with --prompt)")
        prompt = words[1]
    return (words[0] if words else None), prompt


def cmd_bench(args: argparse.Namespace) -> int:
    words, overrides = _split_run_args(args.args)
    preset, prompt = _preset_and_prompt(words)
    timing = bench.time_preset(preset, prompt, steps=args.steps, overrides=overrides)
    print(bench.describe(timing))
    return 0


def cmd_presets_list(args: argparse.Namespace) -> int:
    registry = get_registry()
    if not registry.presets:
        print("no presets are registered")
        return 0
    width = max(len(name) for name in registry.presets)
    for name, entry in sorted(registry.presets.items()):
        try:
            description = str(read_yaml(entry.path).get("description", "") or "")
        except PixengineError as exc:
            description = f"(unreadable: {exc})"
        print(f"{name:<{width}}  {description}  [{entry.plugin}]")
    return 0


def cmd_presets_show(args: argparse.Namespace) -> int:
    words, overrides = _split_run_args(args.args)
    if len(words) != 1:
        raise PixengineError("give one preset name or path, then any key=value overrides")
    spec = resolve(words[0], overrides=overrides)
    print(OmegaConf.to_yaml(spec.config), end="")
    return 0


def cmd_plugins_list(args: argparse.Namespace) -> int:
    registry = get_registry()
    for info in sorted(registry.plugins.values(), key=lambda p: (p.source != "builtin", p.name)):
        state = "" if info.ok else ("  SKIPPED" if info.skipped else "  FAILED")
        print(f"{info.name}  ({info.origin()}){state}")
        if info.error:
            print(textwrap.indent(info.error, "    "))
        for kind in KINDS:
            names = [n for k, n in info.components if k == kind]
            if names:
                print(f"    {kind}: {', '.join(sorted(names))}")
        if info.presets:
            print(f"    presets: {', '.join(sorted(info.presets))}")
        if info.hooks:
            print(f"    hooks: {', '.join(info.hooks)}")
    if PLUGINS_ENV in os.environ:
        print(f"\n{PLUGINS_ENV}={os.environ[PLUGINS_ENV]!r} limits the external plugins loaded.")
    return 0


def cmd_plugins_show(args: argparse.Namespace) -> int:
    registry = get_registry()
    matches = registry.find(args.component)
    if not matches:
        known = sorted({f"{kind}:{name}" for kind in KINDS for name in registry.names(kind)})
        raise PixengineError(f"no component named '{args.component}'. Known: {', '.join(known)}")
    for entry in matches:
        info = registry.plugin_of(entry)
        print(f"{entry.name} ({entry.kind}) from plugin '{info.name}' ({info.origin()})")
        doc = (entry.cls.__doc__ or "").strip()
        if doc:
            print(textwrap.indent(textwrap.dedent(doc), "  "))
        options = describe(entry.cls.Options)
        print("Options:" if options else "Options: none")
        for opt in options:
            default = "(required)" if opt.default is MISSING else repr(opt.default)
            constraints = []
            if opt.choices:
                constraints.append("one of " + ", ".join(map(repr, opt.choices)))
            if opt.min is not None:
                constraints.append(f">= {opt.min}")
            if opt.max is not None:
                constraints.append(f"<= {opt.max}")
            extra = f"  [{'; '.join(constraints)}]" if constraints else ""
            print(f"  {opt.name}: {opt.type} = {default}{extra}")
            if opt.help:
                print(textwrap.indent(textwrap.fill(opt.help, 84), "      "))
        print()
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    registry = get_registry()
    if not registry.names("model"):
        print("no model plugins are installed")
    for name in registry.names("model"):
        entry = registry.get("model", name)
        print(f"{name}  ({entry.cls.summary()})  [plugin {entry.plugin}]")
        try:
            catalog = entry.cls.catalog()
        except Exception as exc:  # a plugin's catalog must not break the listing
            print(f"    catalog unavailable: {type(exc).__name__}: {exc}")
            continue
        for item in catalog:
            where = f"local: {item.local_path}" if item.local_path else "not downloaded"
            print(f"    {item.name:<40} {where}" + (f"  - {item.description}" if item.description else ""))
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    registry = get_registry()
    matches = []
    for name in registry.names("model"):
        cls = registry.get("model", name).cls
        if any(item.name == args.name for item in cls.catalog()):
            matches.append(cls)
    if not matches:
        raise PixengineError(f"no model catalog lists '{args.name}'; see `pixengine models list`")
    path = matches[0].fetch(args.name)
    print(f"Fetched {args.name} to {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixengine", description="Plugin-based generative art engine.")
    parser.add_argument("--version", action="version", version=f"pixengine {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a preset", description="Run a preset: pixengine run [PRESET] [PROMPT] [key=value ...]")
    run.add_argument("args", nargs="*", help="preset name or path, prompt, key=value overrides")
    run.add_argument("--prompt", "-p", help="the text prompt (instead of a second positional word)")
    run.add_argument("--from", dest="from_image", metavar="PNG", help="re-run the run embedded in a PNG written by pixengine")
    run.add_argument(
        "--resume", metavar="FOLDER", help="go on with the run that stopped in FOLDER (its checkpoint.pt); steps=N extends a finished one"
    )
    run.add_argument(
        "--variations", type=int, metavar="N", help="run N seeds (counting up from the preset's) into subfolders and write variations.png"
    )
    run.set_defaults(func=cmd_run)

    timing = commands.add_parser(
        "bench",
        help="time a preset on this machine",
        description="Build a preset, time a few of its steps and estimate the whole run: pixengine bench [PRESET] [PROMPT] [key=value ...]",
    )
    timing.add_argument("args", nargs="*", help="preset name or path, prompt, key=value overrides")
    timing.add_argument("--steps", type=int, default=5, help="steps to time after one warm-up step (default 5)")
    timing.set_defaults(func=cmd_bench)

    presets = commands.add_parser("presets", help="list or show presets").add_subparsers(dest="action", required=True)
    presets.add_parser("list", help="list registered presets").set_defaults(func=cmd_presets_list)
    show = presets.add_parser("show", help="print a preset fully resolved (inheritance, overrides, defaults)")
    show.add_argument("args", nargs="+", help="preset name or path, then key=value overrides")
    show.set_defaults(func=cmd_presets_show)

    plugins = commands.add_parser("plugins", help="list plugins or show a component").add_subparsers(dest="action", required=True)
    plugins.add_parser("list", help="every plugin, its origin, components and errors").set_defaults(func=cmd_plugins_list)
    pshow = plugins.add_parser("show", help="a component's documentation and options")
    pshow.add_argument("component", help="component name, or KIND:NAME")
    pshow.set_defaults(func=cmd_plugins_show)

    models = commands.add_parser("models", help="list or fetch model weights").add_subparsers(dest="action", required=True)
    models.add_parser("list", help="known models and whether their weights are on this machine").set_defaults(func=cmd_models_list)
    fetch = models.add_parser("fetch", help="download a model's weights into the cache")
    fetch.add_argument("name")
    fetch.set_defaults(func=cmd_models_fetch)

    from .serve.cli import add_parser as add_serve_parser  # argparse only: the studio loads when it runs

    add_serve_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse stops collecting `run`'s words at its first option (`run default --variations 4
    # steps=10`); words after it are still the run's.
    unknown = [item for item in extra if item.startswith("-") or args.command not in ("run", "bench")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if extra:
        args.args = [*args.args, *extra]
    debug = args.debug or os.environ.get("PIXENGINE_DEBUG", "") not in ("", "0")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except PixengineError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        if not debug and exc.__cause__ is not None:
            print("(run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
