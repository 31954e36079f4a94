"""The ``pixengine`` command.

    pixengine run [RECIPE] [PROMPT] [key=value ...]     run a recipe (default: the "default" preset)
    pixengine run --from OUTPUT.png [key=value ...]     re-run the run that wrote a PNG
    pixengine run --resume FOLDER [key=value ...]       go on with a run that stopped there
    pixengine run PRESET --variations N [...]           N seeds, and a contact sheet of them
    pixengine share RECIPE -o FILE.zip                  a bundle that runs on another machine
    pixengine info FILE                                 what made a PNG, run folder or bundle
    pixengine presets list | show | validate | diff
    pixengine plugins list | show COMPONENT | new NAME
    pixengine models list | fetch NAME
    pixengine bench [RECIPE] [PROMPT] [key=value ...]  time a few steps, estimate the whole run
    pixengine sweep SPEC.yaml | RECIPE --grid K=V1,V2 --seeds N   many runs (see pixengine.sweep)
    pixengine serve [--host H] [--port P] [--outputs DIR]  the web studio

A RECIPE is a preset name or .yaml file, a PNG written by pixengine, a run folder or a bundle.

Errors meant for the user print one message and exit with status 1 (2 for usage errors, 130
after Ctrl-C, 143 after SIGTERM); ``--debug`` or ``PIXENGINE_DEBUG=1`` adds the traceback.
Each command imports what it needs when it runs, so ``--help``, ``--version``, ``presets list``
and ``info`` start without torch.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import sys
import textwrap
import traceback

from .errors import PixengineError

#: Exit status after SIGTERM (128 + 15), as shells report a process the signal ended.
SIGTERM_EXIT = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered as an interrupt so the run keeps its image like after Ctrl-C."""


def _split_run_args(items: list[str]) -> tuple[list[str], list[str]]:
    """Positional words and key=value overrides, in the order given."""
    words, overrides = [], []
    for item in items:
        (overrides if "=" in item and " " not in item.split("=", 1)[0] else words).append(item)
    return words, overrides


def _stop_on_sigterm() -> None:
    """Treat SIGTERM (kill, a job scheduler's time limit) like Ctrl-C: the run keeps its image."""

    def interrupt(signum, frame):
        raise Terminated

    signal.signal(signal.SIGTERM, interrupt)


def cmd_run(args: argparse.Namespace) -> int:
    _stop_on_sigterm()
    try:
        return _run_command(args)
    finally:
        gc.unfreeze()  # what the start froze can be collected again by a caller in this process


def _run_command(args: argparse.Namespace) -> int:
    with _collector_paused():
        from .api import prepare
        from .plugins import get_registry, warn_about_failed_plugins

        preset, prompt, overrides = _run_arguments(args)
        warn_about_failed_plugins(get_registry())
        if args.resume:
            run = prepare(resume=args.resume, overrides=overrides)
        elif args.variations is None:
            run = prepare(preset, prompt, overrides=overrides, from_image=args.from_image)
    if args.variations is not None:
        from .seed_variations import variations

        made = variations(preset, prompt, count=args.variations, overrides=overrides, from_image=args.from_image)
        print(f"Wrote {len(made.results)} variations in {made.output_dir}, side by side in {made.sheet_path}")
        return 0
    result = run.execute()
    print(f"Wrote {result.final_path}")
    print(f"Re-run it with: pixengine run --from {result.final_path}")
    if result.checkpoint_path is not None:
        print(f"Go on with it:  pixengine run --resume {result.output_dir} steps={max(2 * result.steps_done, 1)}")
    return 0


@contextlib.contextmanager
def _collector_paused():
    """Python's cycle collector off while modules load and the run is built: torch's import and
    the run's set-up make a great many long-lived objects, which the collector would scan again
    and again (about 0.25 s of a run's start on 2 cores) and never free. They are then frozen
    out of later collections (until the command ends), and the collector works as usual
    during the run."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _run_arguments(args: argparse.Namespace) -> tuple[str | None, str | None, list[str]]:
    """The recipe, prompt and overrides of `pixengine run`, checked against its options."""
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
    """`[RECIPE] [PROMPT]` from the positional words (the prompt may also come from --prompt)."""
    if len(words) > 2:
        raise PixengineError(f"expected at most a recipe and a prompt, got {len(words)} words: {words!r}; quote the prompt")
    if len(words) == 2:
        if prompt is not None:
            raise PixengineError("the prompt was given twice (as a word and with --prompt)")
        prompt = words[1]
    return (words[0] if words else None), prompt


def cmd_bench(args: argparse.Namespace) -> int:
    from . import bench

    words, overrides = _split_run_args(args.args)
    preset, prompt = _preset_and_prompt(words)
    timing = bench.time_preset(preset, prompt, steps=args.steps, overrides=overrides)
    print(bench.describe(timing))
    return 0


def cmd_share(args: argparse.Namespace) -> int:
    from .sharing.bundle import write_bundle

    words, overrides = _split_run_args(args.args)
    if len(words) != 1:
        raise PixengineError("give one recipe to share (a preset name or file, a run folder, a PNG), then any key=value overrides")
    written = write_bundle(words[0], args.output, overrides=overrides)
    print(f"Wrote {written.path}: the recipe and {len(written.files)} file(s) it uses")
    for key, named, member in written.files:
        print(f"  {key}: {named} -> {member}")
    needs = ", ".join(
        sorted({f"{info['distribution']} {info['version']}" for info in written.manifest["plugins"].values() if info.get("distribution")})
    )
    print(f"It needs {needs or 'pixengine'}" + (" and the weights listed in its manifest" if written.manifest["weights"] else ""))
    print(f"Run it anywhere with: pixengine run {written.path}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .sweep.folder import is_sweep

    if Path(args.file).is_dir() and is_sweep(args.file):
        from .sweep.summary import describe

        print(describe(args.file))
        return 0
    from .sharing.report import info_text

    print(info_text(args.file))
    return 0


def cmd_presets_list(args: argparse.Namespace) -> int:
    from .presets import index
    from .safe_yaml import load_file

    data = index()
    if not data.presets:
        print("no presets are registered")
        return 0
    width = max(len(name) for name in data.presets)
    for name, entry in sorted(data.presets.items()):
        try:
            description = str(load_file(entry.path).get("description", "") or "")
        except PixengineError as exc:
            description = f"(unreadable: {exc})"
        print(f"{name:<{width}}  {description}  [{entry.plugin}]")
    refused = [line for info in data.plugins.values() for line in info.refused]
    for line in refused:
        print(f"warning: {line}", file=sys.stderr)
    return 0


def cmd_presets_show(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from .api import resolve

    words, overrides = _split_run_args(args.args)
    if len(words) != 1:
        raise PixengineError("give one recipe (a preset name or path, a PNG, a run folder, a bundle), then any key=value overrides")
    spec = resolve(words[0], overrides=overrides)
    print(OmegaConf.to_yaml(spec.config), end="")
    return 0


def cmd_presets_validate(args: argparse.Namespace) -> int:
    from .sharing.report import validate_recipe

    results = [validate_recipe(ref) for ref in args.files]
    if args.json:
        print(json.dumps([{"file": r.ref, "valid": r.valid, "problems": r.problems} for r in results], indent=2))
    else:
        for result in results:
            for line in result.lines():
                print(line)
    return 0 if all(r.valid for r in results) else 1


def cmd_presets_diff(args: argparse.Namespace) -> int:
    from .sharing.report import diff_lines

    lines = diff_lines(args.a, args.b)
    print("\n".join(lines) if lines else "no differences")
    return 0


def cmd_plugins_list(args: argparse.Namespace) -> int:
    from .api_version import API_VERSION, incompatibility
    from .plugins import get_registry
    from .registry import KINDS

    registry = get_registry()
    debug = _debug(args)
    for info in sorted(registry.plugins.values(), key=lambda p: (not p.builtin, p.name)):
        state = "" if info.ok else ("  SKIPPED" if info.skipped else "  FAILED")
        api = ""
        if info.api:
            api = f"  [API {info.api}: {'compatible' if incompatibility(info.api) is None else 'incompatible'}]"
        elif info.ok and not info.builtin and info.module and not info.presets_package:
            api = "  [API not declared (PIXENGINE_API)]"
        print(f"{info.name}  ({info.origin()}){state}{api}")
        if info.error:
            print(textwrap.indent(info.error, "    "))
        if debug and info.traceback:
            print(textwrap.indent(info.traceback.rstrip(), "    | "))
        for kind in KINDS:
            names = [n for k, n in info.components if k == kind]
            if names:
                print(f"    {kind}: {', '.join(sorted(names))}")
        if info.presets:
            print(f"    presets: {', '.join(sorted(info.presets))}")
        if info.hooks:
            print(f"    hooks: {', '.join(info.hooks)}")
        for line in info.refused:
            print(f"    REFUSED {line}")
    print(f"\nThis pixengine has plugin API {API_VERSION}.")
    from .discovery import PLUGINS_ENV

    if PLUGINS_ENV in os.environ:
        print(f"{PLUGINS_ENV}={os.environ[PLUGINS_ENV]!r} chooses the external plugins loaded.")
    return 0


def cmd_plugins_show(args: argparse.Namespace) -> int:
    from dataclasses import MISSING

    from .options import describe, file_options
    from .plugins import get_registry
    from .registry import KINDS

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
        files = file_options(entry.cls.Options)
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
            if opt.name in files:
                constraints.append(f"{files[opt.name].kind} file")
            extra = f"  [{'; '.join(constraints)}]" if constraints else ""
            print(f"  {opt.name}: {opt.type} = {default}{extra}")
            if opt.help:
                print(textwrap.indent(textwrap.fill(opt.help, 84), "      "))
        print()
    return 0


def cmd_plugins_new(args: argparse.Namespace) -> int:
    from .scaffold import create

    made = create(args.name, args.kind, args.output)
    print(f"Wrote a {made.kind} plugin in {made.folder}:")
    for path in made.files:
        print(f"  {path.relative_to(made.folder)}")
    print(f"Next: cd {made.folder} && pip install -e '.[test]' && pytest && pixengine run {made.name}_demo")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from .plugins import get_registry

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
    from .plugins import get_registry

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


class _Version(argparse.Action):
    """--version, reading the version only when asked (package metadata is slow to read)."""

    def __call__(self, parser, namespace, values, option_string=None):
        import pixengine

        print(f"pixengine {pixengine.__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixengine", description="Plugin-based generative art engine.")
    parser.add_argument("--version", action=_Version, nargs=0, help="print pixengine's version and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors (and of plugins that failed to load)")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="run a recipe",
        description="Run a recipe: pixengine run [RECIPE] [PROMPT] [key=value ...]. A recipe is a preset name or .yaml "
        "file, a PNG written by pixengine, a run folder or a bundle .zip.",
    )
    run.add_argument("args", nargs="*", help="recipe, prompt, key=value overrides")
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
        help="time a recipe on this machine",
        description="Build a recipe, time a few of its steps and estimate the whole run: pixengine bench [RECIPE] [PROMPT] [key=value ...]",
    )
    timing.add_argument("args", nargs="*", help="recipe, prompt, key=value overrides")
    timing.add_argument("--steps", type=int, default=5, help="steps to time after one warm-up step (default 5)")
    timing.set_defaults(func=cmd_bench)

    share = commands.add_parser(
        "share", help="bundle a recipe with its files", description="Write a bundle .zip: the resolved recipe, every file it "
        "names, and a manifest of the plugins and weights it needs. `pixengine run FILE.zip` runs it on any machine."
    )
    share.add_argument("args", nargs="+", help="a preset name or file, a run folder or a PNG written by pixengine; then key=value overrides")
    share.add_argument("-o", "--output", required=True, metavar="FILE.zip", help="the bundle to write")
    share.set_defaults(func=cmd_share)

    info = commands.add_parser("info", help="what made a PNG, run folder or bundle, and what is missing here")
    info.add_argument("file", help="a PNG written by pixengine, a run folder, a bundle .zip or a sweep folder")
    info.set_defaults(func=cmd_info)

    presets = commands.add_parser("presets", help="list, show, validate or compare presets").add_subparsers(dest="action", required=True)
    presets.add_parser("list", help="list registered presets").set_defaults(func=cmd_presets_list)
    show = presets.add_parser("show", help="print a recipe fully resolved (inheritance, overrides, defaults)")
    show.add_argument("args", nargs="+", help="recipe, then key=value overrides")
    show.set_defaults(func=cmd_presets_show)
    validate = presets.add_parser(
        "validate", help="validate recipes without building models (exit 0 only if all are valid)",
        description="Validate recipes (presets, PNGs, run folders, bundles) the way `pixengine run` would before step 1, "
        "without loading models: one line per problem. Meant for the CI of a preset repository.",
    )
    validate.add_argument("files", nargs="+", help="recipes to validate")
    validate.add_argument("--json", action="store_true", help="print the results as JSON")
    validate.set_defaults(func=cmd_presets_validate)
    diff = presets.add_parser("diff", help="the key-by-key difference of two fully resolved recipes")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.set_defaults(func=cmd_presets_diff)

    plugins = commands.add_parser("plugins", help="list plugins, show a component, scaffold a plugin").add_subparsers(dest="action", required=True)
    plugins.add_parser("list", help="every plugin, its origin, components, API and errors").set_defaults(func=cmd_plugins_list)
    pshow = plugins.add_parser("show", help="a component's documentation and options")
    pshow.add_argument("component", help="component name, or KIND:NAME")
    pshow.set_defaults(func=cmd_plugins_show)
    new = plugins.add_parser(
        "new", help="write a ready plugin package (component, preset, tests, README)",
        description="Write a plugin package: a pyproject with the entry points, a working component of the chosen kind "
        "(or a preset pack with an asset), a preset using it, tests using pixengine.testing, and a README.",
    )
    new.add_argument("name", help="the plugin's name: lowercase letters, digits and '_' (the component is named after it)")
    new.add_argument("--kind", choices=["loss", "parameterization", "augmentation", "model", "presets"], default="loss")
    new.add_argument("-o", "--output", metavar="DIR", help="where to write it (default ./pixengine-NAME)")
    new.set_defaults(func=cmd_plugins_new)

    models = commands.add_parser("models", help="list or fetch model weights").add_subparsers(dest="action", required=True)
    models.add_parser("list", help="known models and whether their weights are on this machine").set_defaults(func=cmd_models_list)
    fetch = models.add_parser("fetch", help="download a model's weights into the cache")
    fetch.add_argument("name")
    fetch.set_defaults(func=cmd_models_fetch)

    from .sweep.cli import add_parser as add_sweep_parser

    add_sweep_parser(commands)
    from .serve.cli import add_parser as add_serve_parser  # argparse only: the studio loads when it runs

    add_serve_parser(commands)
    return parser


def _debug(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("PIXENGINE_DEBUG", "") not in ("", "0")


#: Commands whose trailing words may follow their options (`run default --variations 4 steps=10`).
_WORDY = ("run", "bench", "share", "sweep")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse stops collecting `run`'s words at its first option; words after it are still the run's.
    unknown = [item for item in extra if item.startswith("-") or args.command not in _WORDY]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if extra:
        args.args = [*args.args, *extra]
    debug = _debug(args)
    try:
        return args.func(args)
    except BrokenPipeError:  # `pixengine ... | head`: the reader has what it wanted
        sys.stdout = open(os.devnull, "w")
        return 0
    except Terminated:
        return SIGTERM_EXIT
    except KeyboardInterrupt:
        return 130
    except PixengineError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        if not debug and exc.__cause__ is not None:
            print("(run with --debug for the traceback)", file=sys.stderr)
        return 1


def console_main() -> int:
    """The ``pixengine`` command and ``python -m pixengine``: :func:`main`, in a process that
    ends right after. Its objects are frozen first, so that Python's last collection at exit does
    not walk torch's and the run's objects only to free memory the system takes back anyway
    (0.3 s after a run)."""
    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(console_main())
