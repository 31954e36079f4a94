"""Best-of-N by successive halving: the rule, and nothing else (no processes, no files).

N runs start; at each rung (a step count) the runs are ranked by a recorded loss (lower is
better) and only the best 1/eta go on; the rungs are placed so that exactly K reach the last
step. With N=16, K=2, eta=2 and 80 steps: all 16 run to step 10, 8 go on to 20, 4 to 40,
and 2 finish: 16*10 + 8*10 + 4*20 + 2*40 = 400 steps instead of 1280.

The rungs are synchronous: a run that reaches a rung stops there (``RunView.stop``, keeping
its checkpoint) until every run has reached it, and the ones kept resume from their
checkpoints. A resumed pixengine run makes the image of one that never stopped, so a kept
run's result is the same as if it had been run alone, the decisions depend only on the
recorded losses (not on which worker was faster), and a sweep interrupted anywhere redoes
the same decisions from its run folders. (Ray Tune's ASHA promotes asynchronously instead:
it never waits, but early arrivals pass a rung against fewer rivals, so the number that
finish is not K and depends on timing.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Rung:
    #: The step count at which runs are compared.
    step: int
    #: How many runs go on after it.
    keep: int


def schedule(runs: int, keep: int, steps: int, eta: int = 2) -> list[Rung]:
    """The rungs for ``runs`` runs of ``steps`` steps of which ``keep`` should finish."""
    if keep < 1 or eta < 2 or steps < 1:
        raise ValueError("keep >= 1, eta >= 2 and steps >= 1")
    if runs <= keep:
        return []
    levels = math.ceil(math.log(runs / keep) / math.log(eta) - 1e-9)
    rungs: list[Rung] = []
    for level in range(levels):
        step = max(1, round(steps / eta ** (levels - level)))
        survivors = max(keep, math.ceil(runs / eta ** (level + 1)))
        if step >= steps:
            step = steps - 1  # a run of few steps: decide as late as possible, before the end
        if step < 1:
            continue
        if rungs and rungs[-1].step >= step:  # too few steps to tell rungs apart: merge them
            rungs[-1] = Rung(rungs[-1].step, survivors)
        else:
            rungs.append(Rung(step, survivors))
    # The last rung keeps exactly `keep` (ceil(runs / eta**levels) <= keep); a run of one step
    # has no step to stop at before its end, and all of its runs finish.
    return rungs


def select(values: dict[str, float | None], keep: int, order: dict[str, int] | None = None) -> list[str]:
    """The ``keep`` best runs by value (lower first); a run without a value (failed, non-finite)
    ranks last; ties go to the run that comes first in the sweep."""
    order = order or {}

    def rank(run_id: str) -> tuple:
        value = values[run_id]
        missing = value is None or not math.isfinite(value)
        return (missing, value if not missing else 0.0, order.get(run_id, 0), run_id)

    return sorted(values, key=rank)[:keep]


def steps_spent(runs: int, steps: int, rungs: list[Rung]) -> int:
    """Steps a halving sweep runs in all when nothing fails (for the compute saved)."""
    total, alive, done = 0, runs, 0
    for rung in rungs:
        total += alive * (rung.step - done)
        alive, done = rung.keep, rung.step
    return total + alive * (steps - done)
