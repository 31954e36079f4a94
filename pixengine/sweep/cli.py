"""``pixengine sweep`` (and a minimal ``pixengine info``), added to the main parser by
:func:`add_parser`. Imports nothing heavy until a command runs.

    pixengine sweep SPEC.yaml [key=value ...] [-o DIR] [--workers N | --ray [ADDRESS]] [--dry-run]
    pixengine sweep PRESET [PROMPT] --grid KEY=V1,V2 ... --seeds N [key=value ...]
    pixengine sweep SWEEP_DIR                     go on with a sweep that stopped
    pixengine info SWEEP_DIR
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

#: Runs a sweep may have without --yes.
DEFAULT_LIMIT = 100


def _split(items: list[str]) -> tuple[list[str], list[str]]:
    """Positional words and key=value overrides, as ``pixengine run`` tells them apart."""
    words, overrides = [], []
    for item in items:
        is_override = "=" in item and not item.startswith("=") and " " not in item.split("=", 1)[0]
        (overrides if is_override else words).append(item)
    return words, overrides


def _parse_value(raw: str, key: str):
    from .. import safe_yaml

    return safe_yaml.load(raw, f"command line (--grid {key})", mapping=False)


def parse_grid(items: list[str]) -> dict:
    """``--grid KEY=V1,V2`` (values read as YAML; ``KEY=[a, "b,c"]`` for values with commas)."""
    from ..errors import ConfigError

    grid: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--grid '{item}' is not KEY=V1,V2,...", source="command line")
        if key in grid:
            raise ConfigError(f"--grid names '{key}' twice", key=key, source="command line")
        raw = raw.strip()
        if raw.startswith("["):
            values = _parse_value(raw, key)
        else:
            values = [_parse_value(part.strip(), key) for part in raw.split(",") if part.strip()] if raw else []
        grid[key] = values
    return grid


def _overrides_mapping(items: list[str]) -> dict:
    from ..config import _split_override

    return dict(_split_override(item, "command line") for item in items)


def _spec_from_args(args: argparse.Namespace, words: list[str], overrides: list[str]):
    from ..errors import PixengineError
    from . import spec as spec_module

    axes_given = bool(args.grid or args.seeds is not None or args.prompts_file)
    if len(words) == 1 and words[0].endswith((".yaml", ".yml")) and not axes_given and Path(words[0]).is_file():
        spec = spec_module.load(words[0])
        extra = _overrides_mapping(overrides)
        spec.overrides.update(extra)
        spec_module.check_axes_apart(spec)
    else:
        if len(words) > 2:
            raise PixengineError(f"expected a sweep spec, a sweep folder, or a preset and a prompt; got {len(words)} words: {words!r}")
        if not words:
            raise PixengineError("name a sweep spec (.yaml), a sweep folder to go on with, or a preset with --grid/--seeds")
        if not axes_given:
            raise PixengineError(f"'{words[0]}' is neither a sweep spec file nor a sweep folder; to sweep a preset, "
                                 "give axes: --grid KEY=V1,V2 and/or --seeds N (or --prompts-file FILE)")
        data: dict = {"recipe": words[0], "overrides": _overrides_mapping(overrides), "grid": parse_grid(args.grid or [])}
        if len(words) == 2:
            data["prompt"] = words[1]
        if args.seeds is not None:
            data["seeds"] = args.seeds
        if args.prompts_file:
            data["prompts_file"] = args.prompts_file
        spec = spec_module.from_data(data, "command line")
    if args.name:
        spec.name = args.name
    if args.keep_best is not None:
        spec.keep_best = args.keep_best
    if args.by is not None:
        spec.by = args.by
    if args.eta is not None:
        spec.eta = args.eta
    if args.columns:
        spec.columns = args.columns
    if spec.keep_best is not None and spec.keep_best < 1:
        raise PixengineError("--keep-best needs K >= 1")
    return spec


def _print_plan(planned, root: Path, exists: bool) -> None:
    from .halving import steps_spent

    for run in planned.runs:
        values = " ".join(f"{key}={value!r}" if isinstance(value, str) and " " in value else f"{key}={value}"
                          for key, value in run.overrides.items())
        print(f"  {run.id}: {values}")
    shape = " x ".join(f"{axis.name} {len(axis)}" for axis in planned.axes) or "no axes"
    print(f"{len(planned.runs)} runs ({shape}) of {planned.spec.recipe}, {planned.steps} steps each")
    if planned.rungs:
        spent = steps_spent(len(planned.runs), planned.steps, planned.rungs)
        full = len(planned.runs) * planned.steps
        print(f"best-of-N: keep {planned.spec.keep_best} by {planned.spec.by}; rungs: "
              + ", ".join(f"step {r.step} keeps {r.keep}" for r in planned.rungs)
              + f"; {spent} of {full} steps ({100 * spent / full:.0f}%)")
    print(f"{'would go on in' if exists else 'would write to'} {root}")


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, PixengineError
    from . import driver, folder, make_executor, plan

    _stop_on_sigterm()
    words, overrides = _split(args.args)
    record = None
    if len(words) == 1 and folder.is_sweep(words[0]):
        if overrides or args.grid or args.seeds is not None or args.prompts_file or args.keep_best is not None:
            raise PixengineError(f"'{words[0]}' is a sweep folder: going on with it takes no axes or overrides "
                                 "(they are recorded in it); start a new sweep to change them")
        root = Path(words[0])
        recorded = folder.SweepFolder(root).read_record()
        device, count = recorded.get("device", "auto"), len(recorded["runs"])
        if args.dry_run:
            print(f"{count} runs recorded in {root}; would go on with the unfinished ones")
            return 0
    else:
        spec = _spec_from_args(args, words, overrides)
        planned = plan.make_plan(spec)
        record, device, count = planned.to_record(), planned.device, len(planned.runs)
        if args.output:
            root, exists = Path(args.output), folder.is_sweep(args.output)
        else:
            root, exists = folder.default_root(spec.name, planned.fingerprint)
        if args.dry_run:
            _print_plan(planned, root, exists)
            return 0
        if count > args.limit and not args.yes:
            raise ConfigError(f"the sweep has {count} runs, more than the limit of {args.limit}; give --yes to run them "
                              "all (or --limit N), or --dry-run to list them")
        if exists:
            print(f"Going on with the sweep in {root} (same runs); -o DIR starts another")
    ray = None
    if args.ray is not None:
        ray = args.ray or os.environ.get("RAY_ADDRESS") or "local"
    executor = make_executor(workers=args.workers, ray=ray, device=device, gpus_per_run=args.gpus_per_run,
                             cpus_per_run=args.cpus_per_run, retries=args.retries)
    print(f"Sweep of {count} runs in {root} on {executor.describe()}")
    try:
        result = driver.run(root, executor, record=record)
    finally:
        executor.close()
    from .summary import describe

    print(describe(result.root))
    failed = [line for line in result.entries if line["status"] in ("failed", "nonfinite")]
    return 1 if failed else 0


def _stop_on_sigterm() -> None:
    """SIGTERM (kill, a scheduler's time limit) stops the driver like Ctrl-C: workers are
    stopped, their runs keep checkpoints, the index and sheet are written."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def add_parser(commands) -> None:
    """Add ``sweep`` to ``pixengine``'s subparsers (``pixengine info SWEEP_DIR`` is the general
    ``info``, which hands sweep folders to :func:`pixengine.sweep.describe`)."""
    sweep = commands.add_parser(
        "sweep",
        help="run many seeds, prompts and settings of a recipe (locally or on Ray)",
        description="Run a sweep: pixengine sweep SPEC.yaml | SWEEP_DIR | PRESET [PROMPT] --grid KEY=V1,V2 --seeds N [key=value ...]",
    )
    sweep.add_argument("args", nargs="*", help="sweep spec, sweep folder, or preset [prompt]; then key=value overrides for every run")
    sweep.add_argument("--grid", action="append", metavar="KEY=V1,V2", help="an axis: every value of KEY (repeat for more axes)")
    sweep.add_argument("--seeds", type=int, metavar="N", help="N seeds counting up from the recipe's")
    sweep.add_argument("--prompts-file", metavar="FILE", help="an axis of prompts, one a line")
    sweep.add_argument("-o", "--output", metavar="DIR", help="the sweep folder (default outputs/sweep-NAME-DATE)")
    sweep.add_argument("--name", help="the sweep's name (default: the spec file's or recipe's)")
    sweep.add_argument("--dry-run", action="store_true", help="list the runs and their count; run nothing")
    sweep.add_argument("--workers", type=int, default=1, metavar="N", help="local worker processes (default 1)")
    sweep.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="run on Ray: a local runtime, or the cluster at ADDRESS (HOST:PORT; default $RAY_ADDRESS)")
    sweep.add_argument("--gpus-per-run", type=float, metavar="F", help="Ray: GPUs per run, a fraction to share one (default 1 for CUDA runs)")
    sweep.add_argument("--cpus-per-run", type=float, default=1, metavar="F", help="Ray: CPUs per run (default 1)")
    sweep.add_argument("--retries", type=int, default=2, metavar="N", help="times a run whose worker died is retried (default 2)")
    sweep.add_argument("--keep-best", type=int, metavar="K", help="best-of-N: stop the worst runs early; only K finish")
    sweep.add_argument("--by", metavar="LOSS", help="what best-of-N ranks by: total (default) or a loss label")
    sweep.add_argument("--eta", type=int, metavar="N", help="best-of-N: each rung keeps 1/N of the runs (default 2)")
    sweep.add_argument("--columns", metavar="AXIS", help="the axis the sheet lays out in columns")
    sweep.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="N", help=f"refuse more runs than this without --yes (default {DEFAULT_LIMIT})")
    sweep.add_argument("--yes", action="store_true", help="run a sweep larger than --limit")
    sweep.set_defaults(func=cmd_sweep)
