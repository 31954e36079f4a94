"""Mutation testing with mutmut over pixengine/ and the built-in plugins: `make mutation`.

    python scripts/mutation.py [--sample N | --all] [--seed S] [--max-children K] [--report-only]

mutmut (configured under [tool.mutmut] in pyproject.toml) runs in build/mutation/, a staging
folder of links to the repository in which plugins/ appears under its installed name,
pixengine_plugins: mutmut names each mutant after its file's path, and the tests import
pixengine_plugins.*. Its results stay there (build/mutation/mutants/), so
`cd build/mutation && ../../.venv/bin/mutmut show NAME` (or `browse`) works afterwards.

The full set of mutants does not fit a working session on a 2-core machine, so by default a
reproducible sample is run: N mutants drawn with a fixed seed, stratified by source file
(each file gets its share of N by its number of mutants, at least one). --all runs every mutant.

The score counts a mutant as caught when mutmut reports it killed or timed out. Mutants listed
in tests/mutation_equivalents.md (changes that cannot alter behaviour, each with its reason)
are left out of the denominator; every other mutant, including those no test reaches, counts.
For a sample, the score is the stratified estimate sum(W_h * p_h) (W_h: the file's share of all
mutants) with a normal-approximation 95% interval whose per-file variance uses (k+1)/(n+2) so
that a file whose few sampled mutants all died still contributes uncertainty.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / "build" / "mutation"
EQUIVALENTS = ROOT / "tests" / "mutation_equivalents.md"
# staging name -> repository path
LINKS = {
    "pixengine": "pixengine",
    "pixengine_plugins": "plugins",
    "tests": "tests",
    "pyproject.toml": "pyproject.toml",
    "README.md": "README.md",
    "presets": "presets",
    "plugins": "plugins",
    "docs": "docs",
    "scripts": "scripts",
    "benchmarks": "benchmarks",
    "Makefile": "Makefile",
}
CAUGHT = {"killed", "timeout"}


def stage() -> None:
    STAGE.mkdir(parents=True, exist_ok=True)
    for name, target in LINKS.items():
        link = STAGE / name
        if not link.is_symlink():
            link.symlink_to(ROOT / target)


# Processes the tests start (sweep workers, the CLI in a subprocess) import the mutated code and
# inherit MUTANT_UNDER_TEST, so they run the mutant too. mutmut's trampolines, and mutmut itself
# where multiprocessing's spawn re-runs the main script (mutmut) in a worker, read its config
# from the working directory, which in such a process is anywhere. This loads it from mutants/.
SITECUSTOMIZE = """\
import os

if "MUTANT_UNDER_TEST" in os.environ:
    try:
        from mutmut import configuration

        _here = os.getcwd()
        os.chdir({mutants!r})
        try:
            configuration.config()
        finally:
            os.chdir(_here)
    except Exception:
        pass
"""


def mutmut_bin() -> str:
    return str(Path(sys.executable).parent / "mutmut")


def generate() -> dict[str, list[str]]:
    """Write the mutants (mutmut's own generation step, no tests run) and list them by file."""
    code = (
        "from mutmut.__main__ import copy_src_dir, copy_also_copy_files, create_mutants\n"
        "from mutmut.configuration import config\n"
        "from mutmut.utils.file_utils import walk_source_files\n"
        "import contextlib, io, pathlib\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    copy_src_dir(); copy_also_copy_files(); create_mutants(2)\n"
        "# Files taken out of mutation since the last run keep their old list of mutants: drop it.\n"
        "for path in walk_source_files():\n"
        "    if not config().should_mutate(path):\n"
        "        pathlib.Path('mutants', str(path) + '.meta').unlink(missing_ok=True)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=STAGE, check=True)
    return mutants_by_file()


def mutants_by_file() -> dict[str, list[str]]:
    by_file: dict[str, list[str]] = {}
    for meta in sorted((STAGE / "mutants").rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        names = sorted(data["exit_code_by_key"])
        if names:
            by_file[str(meta.relative_to(STAGE / "mutants"))[: -len(".meta")]] = names
    return by_file


def results() -> dict[str, int | None]:
    codes: dict[str, int | None] = {}
    for meta in (STAGE / "mutants").rglob("*.py.meta"):
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return codes


def allocate(by_file: dict[str, list[str]], size: int) -> dict[str, int]:
    """Each file's share of `size` by its number of mutants (largest remainder), at least one."""
    total = sum(len(v) for v in by_file.values())
    exact = {f: size * len(v) / total for f, v in by_file.items()}
    counts = {f: max(1, math.floor(x)) for f, x in exact.items()}
    left = size - sum(counts.values())
    for f in sorted(exact, key=lambda f: (exact[f] - math.floor(exact[f]), f), reverse=True):
        if left <= 0:
            break
        counts[f] += 1
        left -= 1
    return {f: min(n, len(by_file[f])) for f, n in counts.items()}


def draw(by_file: dict[str, list[str]], size: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    chosen = []
    for f, n in sorted(allocate(by_file, size).items()):
        chosen += rng.sample(by_file[f], n)
    return chosen


def equivalents() -> dict[str, str]:
    """Mutant name -> the heading of its table in tests/mutation_equivalents.md (why it is out)."""
    found, heading = {}, "excluded"
    for line in EQUIVALENTS.read_text().splitlines() if EQUIVALENTS.exists() else []:
        if line.startswith("## "):
            heading = line[3:].split(":")[0].strip().lower()
        m = re.match(r"\|\s*`([^`]+__mutmut_\d+)`\s*\|", line)
        if m:
            found[m.group(1)] = heading
    return found


def status_of(code: int | None) -> str:
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[code]


def report(by_file: dict[str, list[str]], chosen: list[str]) -> dict:
    codes = results()
    equiv = equivalents()
    file_of = {name: f for f, names in by_file.items() for name in names}
    total = sum(len(v) for v in by_file.values())
    per_file: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    statuses: dict[str, int] = defaultdict(int)
    survivors = []
    for name in chosen:
        if name in equiv:
            statuses[f"left out: {equiv[name]}"] += 1
            continue
        status = status_of(codes.get(name))
        statuses[status] += 1
        per_file[file_of[name]]["n"] += 1
        if status in CAUGHT:
            per_file[file_of[name]]["k"] += 1
        else:
            survivors.append(f"{status}: {name}")
    estimate, variance = 0.0, 0.0
    for f, c in per_file.items():
        n_h, k_h = c["n"], c["k"]
        if not n_h:
            continue
        w = len(by_file[f]) / total
        estimate += w * k_h / n_h
        p = (k_h + 1) / (n_h + 2)
        fpc = 1 - n_h / len(by_file[f])
        variance += w * w * p * (1 - p) / n_h * fpc
    # Files whose sampled mutants were all equivalent: renormalise the weights over the rest.
    covered = sum(len(by_file[f]) / total for f, c in per_file.items() if c["n"])
    estimate, half = estimate / covered, 1.96 * math.sqrt(variance) / covered
    counted = sum(c["n"] for c in per_file.values())
    caught = sum(c["k"] for c in per_file.values())
    return {
        "mutants_in_total": total,
        "sampled": len(chosen),
        "counted (sampled minus equivalent)": counted,
        "caught": caught,
        "statuses": dict(sorted(statuses.items())),
        "score": round(estimate, 4),
        "ci95": [round(max(0.0, estimate - half), 4), round(min(1.0, estimate + half), 4)],
        "raw caught/counted": round(caught / counted, 4) if counted else None,
        "survivors": sorted(survivors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=200, help="mutants to draw (default 200)")
    parser.add_argument("--all", action="store_true", help="run every mutant instead of a sample")
    parser.add_argument("--seed", type=int, default=17, help="the sample's seed (default 17)")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--report-only", action="store_true", help="score the last run, run nothing")
    parser.add_argument(
        "--rerun-uncaught",
        action="store_true",
        help="test again only the drawn mutants not caught by the last run (after adding tests; a caught mutant "
        "stays caught as long as no test was weakened, and mutants of changed functions are tested anew)",
    )
    args = parser.parse_args()

    stage()
    by_file = generate()
    known = {n for names in by_file.values() for n in names}
    if args.rerun_uncaught and (STAGE / "sample.txt").exists():
        # The last run's mutants, not a new draw: the code may have changed since, which moves the draw.
        chosen = [n for n in (STAGE / "sample.txt").read_text().split() if n in known]
    else:
        chosen = sorted(known) if args.all else draw(by_file, args.sample, args.seed)
    (STAGE / "sample.txt").write_text("\n".join(chosen) + "\n")
    if not args.report_only:
        site = STAGE / "site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(mutants=str(STAGE / "mutants")))
        env = dict(os.environ)
        # Subprocesses started by tests (the CLI, sweep workers) import the mutated code too.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), str(STAGE / "mutants"), env.get("PYTHONPATH")]))
        # One thread per test process: --max-children processes share the cores.
        env.setdefault("OMP_NUM_THREADS", "1")
        # mutmut passes the tests of a mutant as a set: a fixed hash seed fixes their order.
        env.setdefault("PYTHONHASHSEED", "0")
        codes = results()
        uncaught = [name for name in chosen if status_of(codes.get(name)) not in CAUGHT and name not in equivalents()]
        to_run = uncaught if args.rerun_uncaught else ([] if args.all else chosen)
        if args.rerun_uncaught and not to_run:
            print("every drawn mutant is caught or left out; nothing to run")
            to_run = None
        done = subprocess.run([mutmut_bin(), "run", "--max-children", str(args.max_children), *to_run], cwd=STAGE, env=env) \
            if to_run is not None else subprocess.CompletedProcess([], 0)
        if done.returncode != 0:
            print(f"mutmut run failed (exit {done.returncode}); no score", file=sys.stderr)
            return done.returncode
    summary = report(by_file, chosen)
    summary["design"] = "all mutants" if args.all else f"stratified random sample of {args.sample}, seed {args.seed}"
    if args.rerun_uncaught:
        summary["design"] += "; the last run's mutants, those it did not catch tested again"
    (STAGE / "score.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "survivors"}, indent=2))
    print(f"{len(summary['survivors'])} not caught (listed in build/mutation/score.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
