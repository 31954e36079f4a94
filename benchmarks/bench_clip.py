"""Engine overhead of CLIP guidance: one engine iteration versus the bare model.

Prints, in one run:
  * the time per engine iteration of a pixels run with the ``clip`` loss and ``cutouts``
    (the shipped ``clip_pixels`` preset with only those two kept), measured between
    consecutive ``on_step`` hooks, so logging and the optimiser step are included;
  * the time of a bare open_clip ``encode_image`` forward + backward to the input on the same
    number of views of the same size, with the same model object;
  * their ratio (target: at most 1.05 for ViT-B-32 and 8 views of 224).

The model has random weights (timing does not depend on them), saved to a temporary file and
loaded by path through the same loader and encoding path a real run uses. Medians of several
iterations after warm-up; the engine and the bare loop alternate in rounds so a busy machine
disturbs both alike.

    python benchmarks/bench_clip.py [--arch ViT-B-32] [--views 8] [--size 224] [--steps 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import pixengine
from pixengine import plugins


class StepClock:
    """A code plugin recording when each engine step ends."""

    def __init__(self):
        self.stamps: list[float] = []

    @pixengine.hookimpl
    def on_run_start(self, run):
        self.stamps = [time.perf_counter()]

    @pixengine.hookimpl
    def on_step(self, run, step, image, losses):
        self.stamps.append(time.perf_counter())

    def intervals(self) -> list[float]:
        return [b - a for a, b in zip(self.stamps, self.stamps[1:])]


def save_random_weights(arch: str, folder: Path) -> Path:
    import open_clip
    from safetensors.torch import save_file

    logging.getLogger().setLevel(logging.ERROR)  # open_clip's "initialized randomly": that is the point here
    model = open_clip.create_model(arch, pretrained=None, force_quick_gelu=True)
    path = folder / f"{arch}-random.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def engine_round(args, weights: Path, out: Path, clock: StepClock) -> tuple[list[float], object]:
    overrides = {
        "steps": args.warmup + args.steps,
        "width": args.size,
        "height": args.size,
        "progress": False,
        "save_every": 0,
        "output_dir": str(out),
        "device": args.device,
        "models.clip.arch": args.arch,
        "models.clip.pretrained": None,
        "models.clip.path": str(weights),
        "models.clip.quick_gelu": True,
        "augmentations.cutouts.count": args.views,
        "augmentations.cutouts.size": args.size,
        # only the clip loss and cutouts
        "augmentations.affine": None,
        "augmentations.color": None,
        "augmentations.noise": None,
        "losses.smooth": None,
    }
    run = pixengine.prepare("clip_pixels", **overrides)
    run.execute()
    return clock.intervals()[args.warmup :], run.ctx.models["clip"]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_round(args, model) -> list[float]:
    """open_clip alone: normalise, encode, backward to the input; nothing else."""
    clip = model.clip
    mean, std = model.mean, model.std
    device = mean.device
    times = []
    for i in range(args.warmup + args.steps):
        x = torch.rand(args.views, 3, args.size, args.size, device=device, requires_grad=True)
        synchronize(device)
        started = time.perf_counter()
        features = clip.encode_image((x - mean) / std)
        features.sum().backward()
        synchronize(device)  # the engine waits for its losses each step; wait here alike
        times.append(time.perf_counter() - started)
    return times[args.warmup :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="ViT-B-32")
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=5, help="timed iterations per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu", help="cpu (the target's machine), cuda, or auto")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    clock = StepClock()
    plugins.register(clock, name="bench_clock")
    engine_times: list[float] = []
    bare_times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = save_random_weights(args.arch, Path(tmp))
        for r in range(args.rounds):
            times, model = engine_round(args, weights, Path(tmp) / f"run{r}", clock)
            device = model.mean.device
            engine_times += times
            bare_times += bare_round(args, model)
            del model
    engine = statistics.median(engine_times)
    bare = statistics.median(bare_times)
    print(f"machine: {torch.get_num_threads()} torch threads, torch {torch.__version__}, device {device}")
    print(f"model {args.arch}, {args.views} views of {args.size}x{args.size}, median of {len(engine_times)} iterations each")
    print(f"engine iteration (pixels + cutouts + clip loss, Adam, log): {engine:.3f} s")
    print(f"bare open_clip encode_image forward + backward:           {bare:.3f} s")
    print(f"ratio engine / bare: {engine / bare:.3f}  (target <= 1.05)")
    print(f"all engine iterations: {', '.join(f'{t:.3f}' for t in engine_times)}")
    print(f"all bare iterations:   {', '.join(f'{t:.3f}' for t in bare_times)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
