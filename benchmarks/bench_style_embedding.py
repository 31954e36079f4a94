"""The style_embedding networks: torch ports against onnxruntime (agreement and speed), and the
cost of one optimisation step of the embedding. Prints figures; never pass/fail.

    .venv/bin/python benchmarks/bench_style_embedding.py [--threads N] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from style_embedding_fixtures import arbitrary_model, cin26_model, nhwc, ort_session, photo  # noqa: E402

S_INPUT = "mobilenet_conv/Conv/BiasAdd"


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def agreement(reference: np.ndarray, port: np.ndarray) -> str:
    diff = np.abs(reference - port)
    return f"max {diff.max():.2g}  mean {diff.mean():.2g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats}; times in ms")

    cin26 = cin26_model().net
    arbitrary, unrounded = arbitrary_model(), arbitrary_model(quantize=False)

    print("\nmultistyle26 (Dumoulin CIN), float32")
    for size in (128, 256, 512):
        image = photo(size, size)
        weights = torch.eye(26)[7]
        session = ort_session("cin26")
        feed = {"image": image.numpy(), "style_weights": weights.numpy()}
        reference = session.run(None, feed)[0]
        with torch.no_grad():
            port = cin26(image, weights=weights).numpy()
        t_ort = timed(lambda: session.run(None, feed), args.repeats)
        with torch.no_grad():
            t_fwd = timed(lambda: cin26(image, weights=weights), args.repeats)
        logits = torch.zeros(26, requires_grad=True)
        t_step = timed(lambda: cin26(image, weights=torch.softmax(logits, 0)).mean().backward(), args.repeats)
        print(
            f"  {size}x{size}: onnxruntime {1000 * t_ort:7.1f}  port forward {1000 * t_fwd:7.1f} "
            f"(x{t_fwd / t_ort:.1f})  forward+backward to the mixture {1000 * t_step:7.1f}  | port vs ort: {agreement(reference, port)}"
        )

    print("\narbitrary_predict (P, MobileNetV2, int8), 256x256")
    style = photo(256, 256)
    basic, fused = ort_session("predictor", basic=True), ort_session("predictor")
    s_basic = basic.run(None, {"style_image": nhwc(style)})[0].reshape(1, 100)
    s_fused = fused.run(None, {"style_image": nhwc(style)})[0].reshape(1, 100)
    with torch.no_grad():
        s_port, s_float = arbitrary.predictor(style).numpy(), unrounded.predictor(style).numpy()
    rel = lambda a, b: np.linalg.norm(a - b) / np.linalg.norm(b)  # noqa: E731
    print(f"  port (int8 rounding) vs onnxruntime, spec semantics (basic optimisations): {agreement(s_basic, s_port)}, relative L2 {rel(s_port, s_basic):.3f}")
    print(f"  port (float) vs the same: relative L2 {rel(s_float, s_basic):.3f}")
    print(f"  onnxruntime fused int8 kernels (default level) vs spec semantics: relative L2 {rel(s_fused, s_basic):.3f}")
    t_ort = timed(lambda: fused.run(None, {"style_image": nhwc(style)}), args.repeats)
    with torch.no_grad():
        t_port = timed(lambda: arbitrary.predictor(style), args.repeats)
    print(f"  onnxruntime {1000 * t_ort:.1f}  port {1000 * t_port:.1f} (x{t_port / t_ort:.1f})")

    print("\narbitrary_transform (T, int8)")
    s = torch.from_numpy(s_basic)
    for size in (128, 256, 384):
        content = photo(size, size)
        session = ort_session("transformer", free_size=size != 384)
        feed = {"content_image": nhwc(content), S_INPUT: s_basic.reshape(1, 1, 1, 100)}
        reference = session.run(None, feed)[0]
        with torch.no_grad():
            port, port_float = nhwc(arbitrary.transformer(content, s)), nhwc(unrounded.transformer(content, s))
        t_ort = timed(lambda: session.run(None, feed), args.repeats)
        with torch.no_grad():
            t_fwd = timed(lambda: arbitrary.transformer(content, s), args.repeats)
        parameter = s.clone().requires_grad_(True)
        t_step = timed(lambda: arbitrary.transformer(content, parameter).mean().backward(), args.repeats)
        t_step_float = timed(lambda: unrounded.transformer(content, parameter).mean().backward(), args.repeats)
        print(
            f"  {size}x{size}: onnxruntime {1000 * t_ort:7.1f}  port forward {1000 * t_fwd:7.1f} (x{t_fwd / t_ort:.1f})  "
            f"forward+backward to S {1000 * t_step:7.1f} (float network {1000 * t_step_float:.1f})"
        )
        print(f"      port vs ort: int8 rounding {agreement(reference, port)};  float network {agreement(reference, port_float)}")


if __name__ == "__main__":
    main()
