"""Benchmark: forward + backward of the strokes renderer, 256 strokes at 224x224 on the CPU.

Target (issue 5): at most 0.4 s per iteration. Prints seconds per iteration (median of the
repeats after warm-up) and the ratio to the target, for three stroke distributions:

* ``clipdraw-start``: CLIPDraw's initial strokes, as the ``strokes`` parameterization draws
  them: a random first point, then control points each within +-5% of the canvas of the
  previous one (``spread`` 0.1), 1-3 cubic segments, width 1 px, random RGBA.
* ``clipdraw-run`` (the target's case): the same shapes with widths uniform in 1-10 px, as
  strokes become during a CLIPDraw run.
* ``thick``: the same shapes with widths uniform in 5-30 px and twice the spread, a heavy case.

The loss is a fixed random weighting of the image's pixels; its gradient reaches every
point, width and colour.

glibc's allocator returns large blocks to the system after each use, so every big temporary
is page-faulted in again; raising ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``
avoids that. They are read when the process starts, so this script runs each measurement in
a fresh child process, once with the default allocator and once with them set, and prints
both. (To use the setting in real runs, export both variables before starting pixengine.)

    python benchmarks/bench_strokes.py [--repeats 10] [--threads N]

Without --threads it measures torch's default thread count and a single thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

TARGET_SECONDS = 0.4
WIDTH = HEIGHT = 224
STROKES = 256
ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "1000000000000", "MALLOC_TRIM_THRESHOLD_": "1000000000000"}
SCENES = {
    # name: (width range in px, spread)
    "clipdraw-start": ((1.0, 1.0), 0.1),
    "clipdraw-run": ((1.0, 10.0), 0.1),
    "thick": ((5.0, 30.0), 0.2),
}


def make_scene(widths: tuple[float, float], spread: float, seed: int = 0):
    import torch

    from pixengine_plugins.strokes.bezier import Curves, collapse_unused

    g = torch.Generator().manual_seed(seed)
    size = torch.tensor([float(WIDTH), float(HEIGHT)])
    start = torch.rand(STROKES, 1, 2, generator=g) * size
    steps = (torch.rand(STROKES, 9, 2, generator=g) - 0.5) * spread * size
    segments = torch.randint(1, 4, (STROKES,), generator=g)
    lo, hi = widths
    return Curves(
        points=collapse_unused(torch.cat([start, start + steps.cumsum(1)], dim=1), segments).requires_grad_(),
        segments=segments,
        closed=torch.zeros(STROKES, dtype=torch.bool),
        widths=(lo + (hi - lo) * torch.rand(STROKES, generator=g)).requires_grad_(),
        colors=torch.rand(STROKES, 4, generator=g).requires_grad_(),
    )


def measure(repeats: int, threads: int | None) -> dict:
    """Runs in the child: every scene with every available backend."""
    import torch

    from pixengine_plugins.strokes import diffvg_backend
    from pixengine_plugins.strokes.raster import render_curves

    if threads:
        torch.set_num_threads(threads)
    background = torch.ones(3)
    weights = torch.rand(1, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(1))
    backends = {"torch": lambda c: render_curves(c, WIDTH, HEIGHT, background)}
    if diffvg_backend.available():
        backends["diffvg"] = lambda c: diffvg_backend.render_curves(c, WIDTH, HEIGHT, background)
    results = {}
    for name, (widths, spread) in SCENES.items():
        curves = make_scene(widths, spread)
        for backend, draw in backends.items():

            def step():
                for tensor in (curves.points, curves.widths, curves.colors):
                    tensor.grad = None
                (draw(curves) * weights).sum().backward()

            for _ in range(2):  # warm-up
                step()
            times, cpu = [], []
            for _ in range(repeats):
                started, started_cpu = time.perf_counter(), time.process_time()
                step()
                times.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
            results[f"{name}/{backend}"] = (statistics.median(times), statistics.median(cpu))
    return {"threads": torch.get_num_threads(), "diffvg": diffvg_backend.available(), "results": results}


def run_child(allocator: bool, repeats: int, threads: int | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ALLOCATOR}
    if allocator:
        env.update(ALLOCATOR)
    command = [sys.executable, __file__, "--child", "--repeats", str(repeats)]
    if threads:
        command += ["--threads", str(threads)]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: measure torch's default and 1)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.repeats, args.threads)))
        return 0

    # Thread counts: on a machine busy with other processes, several threads can be far slower
    # than one (they wait for each other), so by default both are measured.
    thread_counts = [args.threads] if args.threads else [None, 1]
    runs = {}
    for threads in thread_counts:
        for allocator in (False, True):
            result = run_child(allocator, args.repeats, threads)
            runs[(result["threads"], "MALLOC_*_THRESHOLD_" if allocator else "default")] = result
    first = next(iter(runs.values()))
    print(f"strokes renderer: {STROKES} strokes at {WIDTH}x{HEIGHT}, forward + backward, CPU "
          f"({os.cpu_count()} cores), median of {args.repeats} after 2 warm-up iterations")
    if not first["diffvg"]:
        print("diffvg: pydiffvg is not installed here, so only the pure-torch renderer is measured")
    print("s/iter is wall-clock time; cpu s is the process's CPU time (all threads), less sensitive to other load")
    print(f"{'scene/backend':<24} {'threads':>7} {'allocator':<20} {'s/iter':>8} {'/ 0.4 s target':>15} {'cpu s':>7}")
    for key in first["results"]:
        for (threads, allocator), run in runs.items():
            seconds, cpu = run["results"][key]
            print(f"{key:<24} {threads:>7} {allocator:<20} {seconds:>8.3f} {seconds / TARGET_SECONDS:>14.2f}x {cpu:>7.3f}")
    headline = min(run["results"]["clipdraw-run/torch"][0] for run in runs.values())
    verdict = "meets" if headline <= TARGET_SECONDS else "misses"
    print(f"clipdraw-run/torch: best {headline:.3f} s/iter, {verdict} the {TARGET_SECONDS} s target "
          f"(ratio {headline / TARGET_SECONDS:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
