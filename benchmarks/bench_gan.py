"""Cost of one optimisation step through the published GAN architectures (never pass/fail).

Builds the networks at their published sizes with random weights (the timing does not depend
on the values; no weight file is needed) and prints, per configuration, the seconds of one
forward + backward pass to the latent, and of decoding one sample without gradients (the unit
of FuseDream's top-k scoring). Run: python benchmarks/bench_gan.py [--repeats N] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from pixengine.device import choose_device
from pixengine_plugins.gan import stylegan2, vqgan
from pixengine_plugins.gan.ops import to_unit_range


def timed(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_vqgan(side: int, repeats: int, device: torch.device) -> tuple[float, float]:
    torch.manual_seed(0)
    net = vqgan.VQGAN(vqgan.VQGANConfig()).to(device).eval().requires_grad_(False)
    cells = side // net.config.factor
    z = torch.randn(1, net.config.embed_dim, cells, cells, device=device, requires_grad=True)

    def step():
        image = to_unit_range(net.decode(net.quantize(z)))
        image.mean().backward()

    def decode():
        with torch.no_grad():
            net.decode(net.quantize(z))

    return timed(step, repeats, device), timed(decode, repeats, device)


def bench_stylegan2(size: int, repeats: int, device: torch.device) -> tuple[float, float]:
    torch.manual_seed(0)
    cfg = stylegan2.StyleGAN2Config(size=size, channels=stylegan2.published_channels(size, 2))
    net = stylegan2.Generator(cfg).to(device).eval().requires_grad_(False)
    w = torch.randn(1, cfg.n_latent, cfg.style_dim, device=device, requires_grad=True)

    def step():
        to_unit_range(net.synthesis(w)).mean().backward()

    def decode():
        with torch.no_grad():
            net.synthesis(w)

    return timed(step, repeats, device), timed(decode, repeats, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="only the smallest configurations")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = choose_device(args.device)
    print(f"device: {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{'configuration':<44} {'fwd+bwd s':>10} {'decode s':>10} {'ratio':>6}")
    rows = [("VQGAN f16-16384, 256 px (16x16 latents)", bench_vqgan, 256)]
    rows.append(("StyleGAN2 config-f, 256 px, W+", bench_stylegan2, 256))
    if not args.quick:
        rows.append(("VQGAN f16-16384, 512 px (32x32 latents)", bench_vqgan, 512))
        rows.append(("StyleGAN2 config-f, 1024 px (FFHQ), W+", bench_stylegan2, 1024))
    for label, bench, side in rows:
        step, decode = bench(side, args.repeats, device)
        print(f"{label:<44} {step:>10.3f} {decode:>10.3f} {step / decode:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
