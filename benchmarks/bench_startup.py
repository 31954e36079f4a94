"""How fast pixengine starts: whole processes, as a user runs them, timed with their peak memory.

Commands that need no component (--help, --version, presets list, reading a PNG's recipe)
should take at most 0.3 s and 100 MB; ``pixengine run default steps=1`` at most 3 s on a quiet
2-core CPU. Medians of several runs, interleaved; figures, never pass/fail.

    python benchmarks/bench_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


#: Runs a command and prints its peak resident memory (KB), so each command is measured alone.
_PEAK = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); " \
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"


def measure(argv: list[str], cwd: str) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one ``python -m pixengine ARGV`` process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK, sys.executable, "-m", "pixengine", *argv],
                          cwd=cwd, check=True, capture_output=True, text=True)
    # The wrapper adds its own start (~20 ms) to the wall time: an upper bound.
    return time.perf_counter() - started, int(done.stdout.strip()) / 1024


def compile_like_an_install() -> None:
    """Byte-compile pixengine's own modules, as pip does when it installs the wheel: an editable
    checkout in a shell with PYTHONDONTWRITEBYTECODE=1 (the development machines have it) would
    otherwise compile every module from source at every start (0.1 s of a run)."""
    import compileall

    import pixengine
    import pixengine_plugins

    for package in (pixengine, pixengine_plugins):
        for folder in package.__path__:
            compileall.compile_dir(folder, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    compile_like_an_install()
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pixengine", "run", "repaint", "steps=1", "width=16", "height=16",
                        "progress=false", f"output_dir={folder}/made"], check=True, capture_output=True)
        png = str(Path(folder) / "made" / "final.png")
        light = {
            "--help": ["--help"],
            "--version": ["--version"],
            "presets list": ["presets", "list"],
            "info PNG": ["info", png],
        }
        heavy = {"run default steps=1": ["run", "default", "steps=1", "progress=false", f"output_dir={folder}/default"]}
        commands = {**light, **heavy}
        times: dict[str, list[float]] = {name: [] for name in commands}
        peaks: dict[str, float] = {}
        for _ in range(args.repeats):  # interleaved, so the machine's load hits every command alike
            for name, argv in commands.items():
                seconds, peak = measure(argv, folder)
                times[name].append(seconds)
                peaks[name] = max(peak, peaks.get(name, 0.0))
    cpus = os.cpu_count()
    print(f"pixengine start-up, whole processes, median of {args.repeats} ({cpus} CPUs, load {os.getloadavg()[0]:.1f}):")
    for name, values in times.items():
        target, memory_target = (3.0, None) if name in heavy else (0.3, 100)
        median = statistics.median(values)
        memory = f"{peaks[name]:6.0f} MB" + (f" (target {memory_target} MB)" if memory_target else "")
        print(f"  {name:<22} {median:6.2f} s (target {target:g} s: ratio {median / target:.2f}; "
              f"min {min(values):.2f}, max {max(values):.2f})  {memory}")


if __name__ == "__main__":
    main()
