"""Benchmark: sweeps' throughput and scheduling overhead, locally and on a local Ray runtime,
and the compute best-of-N saves on a real sweep.

1. Overhead. The same RUNS runs (``repaint`` at 48x48, STEPS steps) made three ways: one
   after another in this process with ``pixengine.run`` (the baseline: building, stepping
   and writing a run), as a sweep on one local worker process, and as a sweep on a local
   Ray runtime with one CPU (so one run at a time, like the others). The overhead per run is
   the sweep's wall time per run, after its one-off start (spawning the worker, starting
   Ray), minus the baseline's; the issue's target is under 5% of a 10-second run (0.5 s).
   Runs per minute are given with and without the start.
2. Best-of-N. A sweep of 16 learning rates drawn log-uniformly (``repaint`` at 96x64, 80
   steps) run to the end, and the same with ``--keep-best 2``: steps and wall time of each,
   and where the two kept runs rank in the full sweep.

    python benchmarks/bench_sweep.py [--runs 8] [--steps 120] [--skip-ray]

Prints figures and ratios; never pass/fail. Timings on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

TEN_SECOND_RUN = 10.0


def quiet(line: str) -> None:
    pass


def baseline(runs: int, steps: int, out: Path) -> tuple[float, float]:
    """(seconds per run, of which the steps) made in this process one after another (after a
    warm-up run)."""
    import pixengine

    settings = {"steps": steps, "width": 48, "height": 48, "save_every": 0, "progress": False}
    pixengine.run("repaint", **settings, output_dir=str(out / "warm"))
    started, stepping = time.perf_counter(), 0.0
    for seed in range(runs):
        result = pixengine.run("repaint", **settings, seed=seed, output_dir=str(out / f"run{seed}"))
        stepping += sum(record["seconds"] for record in result.history)
    return (time.perf_counter() - started) / runs, stepping / runs


def timed_sweep(runs: int, steps: int, out: Path, **executor_options) -> dict:
    """(start-up seconds, seconds per run after it, in-run step seconds per run) of a sweep."""
    from pixengine import sweep

    spec = sweep.spec.from_data({"recipe": "repaint", "seeds": runs,
                                 "overrides": {"steps": steps, "width": 48, "height": 48, "save_every": 0}}, "bench")
    started = time.perf_counter()
    executor = sweep.make_executor(**executor_options)
    # Start the worker (or Ray's) before the clock of the runs: a one-off cost per sweep.
    warm = sweep.spec.from_data({"recipe": "repaint", "overrides": {"steps": 1, "width": 48, "height": 48}}, "bench")
    sweep.run(warm, output=out / "warm", executor=executor, echo=quiet)
    startup = time.perf_counter() - started
    begun = time.perf_counter()
    result = sweep.run(spec, output=out / "sweep", executor=executor, echo=quiet)
    wall = time.perf_counter() - begun
    executor.close()
    stepping = statistics.mean(line["seconds"] for line in result.entries)
    return {"startup": startup, "per_run": wall / runs, "stepping": stepping, "wall": wall}


def overhead(args: argparse.Namespace, tmp: Path) -> None:
    print(f"1. {args.runs} runs of repaint at 48x48, {args.steps} steps, one at a time")
    alone, alone_steps = baseline(args.runs, args.steps, tmp / "alone")
    outside = alone - alone_steps
    print(f"   in this process (pixengine.run):  {alone:.3f} s per run ({alone_steps:.3f} s of steps, "
          f"{outside:.3f} s building and writing), {60 / alone:.1f} runs/min")
    ways = [("local worker (--workers 1)", {"workers": 1})]
    if not args.skip_ray:
        ways.append(("local Ray runtime (1 CPU)", {"ray": "local", "cpus_per_run": 1}))
    for name, options in ways:
        if options.get("ray"):
            import ray

            ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
        figures = timed_sweep(args.runs, args.steps, tmp / name.split()[1], **options)
        if options.get("ray"):
            import ray

            ray.shutdown()
        # Compare the time outside the steps: workers may run the steps faster or slower than
        # this process (Ray gives a 1-CPU task one torch thread), which is not the sweep's doing.
        extra = (figures["per_run"] - figures["stepping"]) - outside
        print(f"   {name}: start {figures['startup']:.1f} s once, then {figures['per_run']:.3f} s per run "
              f"({figures['stepping']:.3f} s of steps), {60 / figures['per_run']:.1f} runs/min "
              f"({60 * args.runs / (figures['wall'] + figures['startup']):.1f} with the start)")
        print(f"      scheduling overhead per run (time outside the steps beyond in-process's): {extra:+.3f} s "
              f"= {100 * extra / TEN_SECOND_RUN:+.1f}% of a 10-second run (target < 5%)")


def best_of_n(args: argparse.Namespace, tmp: Path) -> None:
    from pixengine import sweep

    data = {"recipe": "repaint", "random": {"count": 16, "seed": 1, "optimizer.lr": {"log": [0.003, 0.3]}},
            "overrides": {"steps": 80, "width": 96, "height": 64, "save_every": 0}}
    print("2. best-of-N: 16 learning rates (log-uniform 0.003-0.3), repaint at 96x64, 80 steps, 1 local worker")
    results = {}
    for name, extra in [("all to the end", {}), ("--keep-best 2", {"keep_best": 2, "by": "total"})]:
        executor = sweep.make_executor(workers=1)
        sweep.run(sweep.spec.from_data({"recipe": "repaint", "overrides": {"steps": 1, "width": 48, "height": 48}}, "w"),
                  output=tmp / f"warm-{len(results)}", executor=executor, echo=quiet)
        started = time.perf_counter()
        result = sweep.run(sweep.spec.from_data({**data, **extra}, "bench"), output=tmp / f"bon-{len(results)}",
                           executor=executor, echo=quiet)
        executor.close()
        steps = sum(line["step"] for line in result.entries)
        results[name] = (result, steps, time.perf_counter() - started)
    full, full_steps, full_wall = results["all to the end"]
    kept, kept_steps, kept_wall = results["--keep-best 2"]
    print(f"   all to the end: {full_steps} steps, {full_wall:.1f} s")
    print(f"   --keep-best 2:  {kept_steps} steps ({100 * (1 - kept_steps / full_steps):.0f}% saved), {kept_wall:.1f} s "
          f"({100 * (1 - kept_wall / full_wall):.0f}% saved; pausing at rungs rebuilds runs)")
    ranking = [line["id"] for line in sorted(full.entries, key=lambda line: line["total"])]
    winners = [line["id"] for line in kept.entries if line["status"] == "finished"]
    print(f"   the kept runs rank {sorted(ranking.index(w) + 1 for w in winners)} of 16 in the full sweep by final total; "
          f"their finals equal the full sweep's: "
          f"{all(_same_final(full.root, kept.root, w) for w in winners)}")


def _same_final(a: Path, b: Path, run_id: str) -> bool:
    import numpy as np
    from PIL import Image

    images = [np.asarray(Image.open(root / "runs" / run_id / "final.png").convert("RGB")) for root in (a, b)]
    return bool(np.array_equal(*images))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--skip-best-of-n", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        overhead(args, tmp)
        if not args.skip_best_of_n:
            best_of_n(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
