"""Time per iteration of the default preset (Gatys style transfer through the engine) against
VGG19 forward + backward alone at the same size, and their ratio.

The engine's iteration includes the parameterization, the three losses (content, style and tv,
with the VGG forward shared between content and style), the backward pass and the optimiser
step. The fixed costs (the content and style images' features, computed once when the run is
built) are reported separately and excluded from both per-iteration figures. Medians of
repeats after warm-up steps. Figures, never pass/fail.

    python benchmarks/bench_style.py [--preset default] [--steps 12] [--warmup 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

import pixengine


def engine_iterations(preset: str, steps: int, warmup: int) -> tuple[float, float, tuple[int, int], list[str]]:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        run = pixengine.prepare(preset, steps=warmup + steps, output_dir=out, progress=False, save_every=0)
        build = time.perf_counter() - started
        run.execute()
    seconds = [record["seconds"] for record in run.history[warmup:]]
    layers = sorted({layer for _, loss in run.losses for layer in getattr(loss, "layers", [])})
    return statistics.median(seconds), build, (run.ctx.height, run.ctx.width), layers


def vgg_forward_backward(size: tuple[int, int], layers: list[str], steps: int, warmup: int) -> float:
    from pixengine_plugins.perceptual.vgg import VGG, VGGOptions
    from pixengine.context import RunContext
    from omegaconf import OmegaConf

    ctx = RunContext(torch.device("cpu"), size[1], size[0], 1, 0, OmegaConf.create({}))
    model = VGG(VGGOptions(), ctx).eval()
    model.requires_grad_(False)
    image = torch.rand(1, 3, *size, requires_grad=True)
    times = []
    for i in range(warmup + steps):
        started = time.perf_counter()
        features = model.features(image, layers)
        total = sum(f.pow(2).mean() for f in features.values())
        total.backward()
        image.grad = None
        if i >= warmup:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--steps", type=int, default=12, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    per_step, build, size, layers = engine_iterations(args.preset, args.steps, args.warmup)
    alone = vgg_forward_backward(size, layers, args.steps, args.warmup)
    spec = pixengine.resolve(args.preset)
    print(f"machine: {torch.get_num_threads()} torch threads, torch {torch.__version__}, device cpu")
    print(f"preset '{args.preset}': {size[1]}x{size[0]}, {spec.settings.steps} steps, VGG19 layers {', '.join(layers)}")
    rows = [
        ("build (weights, content and style features; once per run)", f"{build:.2f} s"),
        (f"engine, per iteration (median of {args.steps})", f"{per_step * 1000:.1f} ms"),
        ("VGG19 forward+backward alone, same size and layers", f"{alone * 1000:.1f} ms"),
        ("ratio engine / VGG alone", f"{per_step / alone:.2f}"),
        ("estimated run time of the preset", f"{build + per_step * spec.settings.steps:.0f} s"),
    ]
    for label, value in rows:
        print(f"{label + ':':<62}{value}")


if __name__ == "__main__":
    main()
