"""Paint pixengine's shipped style image, ``presets/assets/swirls.png``, from nothing.

The default preset needs a style image that any machine has without a download and whose
licence is clear, so the project makes its own: thousands of thick brush strokes that follow a
swirling flow field (a few vortices plus a wave), coloured from a bold palette by a smooth
colour field, each stroke with a darker rim so the brush texture reads at small sizes. The
output is deterministic for a seed and released by pixengine under CC0.

    python scripts/make_style_image.py [--seed 7] [--size 384] [--out presets/assets/swirls.png]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Night blues against sun yellows and a few hot accents: complementary, high-contrast colours
# make the transferred style obvious.
PALETTE = np.array(
    [
        (12, 28, 84),
        (22, 64, 160),
        (48, 118, 212),
        (118, 182, 230),
        (250, 214, 64),
        (244, 150, 28),
        (222, 64, 36),
        (248, 240, 206),
    ],
    dtype=np.float64,
)


def flow_angle(x: np.ndarray, y: np.ndarray, vortices: np.ndarray) -> np.ndarray:
    """Direction of the flow at (x, y): rotation around each vortex, fading with distance,
    on top of a gentle horizontal wave."""
    vx = 1.0 + 0.6 * np.sin(y * 2 * math.pi * 1.5)
    vy = 0.5 * np.cos(x * 2 * math.pi * 1.2)
    for cx, cy, strength, radius in vortices:
        dx, dy = x - cx, y - cy
        fall = strength * np.exp(-(dx**2 + dy**2) / (2 * radius**2))
        vx += -dy / radius * fall * 6
        vy += dx / radius * fall * 6
    return np.arctan2(vy, vx)


def colour_field(x: np.ndarray, y: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """A smooth value in [0, 1) choosing the palette colour: a sum of a few sine waves."""
    value = np.zeros_like(x)
    for fx, fy, phase in phases:
        value += np.sin(2 * math.pi * (fx * x + fy * y) + phase)
    return (value / len(phases) * 0.5 + 0.5).clip(0, 0.999)


def paint(size: int = 384, seed: int = 7) -> Image.Image:
    rng = np.random.default_rng(seed)
    vortices = np.column_stack(
        [rng.uniform(0.1, 0.9, 5), rng.uniform(0.1, 0.9, 5), rng.choice([-1, 1], 5) * rng.uniform(0.6, 1.0, 5), rng.uniform(0.08, 0.18, 5)]
    )
    phases = np.column_stack([rng.uniform(-2, 2, 4), rng.uniform(-2, 2, 4), rng.uniform(0, 2 * math.pi, 4)])

    # Paint at twice the size and shrink, which anti-aliases the strokes.
    scale = 2
    side = size * scale
    canvas = Image.new("RGB", (side, side), tuple(int(c) for c in PALETTE[0]))
    draw = ImageDraw.Draw(canvas)
    # Broad strokes first, fine ones on top, as a painter works.
    for width, count, length in ((22, 900, 26), (13, 2200, 20), (7, 4200, 14)):
        for _ in range(count):
            x, y = rng.uniform(-0.08, 1.08, 2)  # beyond the edges, so strokes cover them
            points = [(x, y)]
            step = width * scale * 0.55 / side
            for _ in range(length):
                angle = flow_angle(np.array(x), np.array(y), vortices)
                x, y = x + step * math.cos(angle), y + step * math.sin(angle)
                points.append((x, y))
            choice = colour_field(np.array(points[0][0]), np.array(points[0][1]), phases)
            index = choice * (len(PALETTE) - 1)
            low = int(index)
            mix = index - low
            colour = PALETTE[low] * (1 - mix) + PALETTE[min(low + 1, len(PALETTE) - 1)] * mix
            colour = (colour + rng.normal(0, 14, 3)).clip(0, 255)
            pixels = [(px * side, py * side) for px, py in points]
            rim = tuple(int(c) for c in colour * 0.55)
            draw.line(pixels, fill=rim, width=int(width * scale * 1.25), joint="curve")
            draw.line(pixels, fill=tuple(int(c) for c in colour), width=width * scale, joint="curve")
    image = canvas.resize((size, size), Image.LANCZOS)
    return image.filter(ImageFilter.UnsharpMask(radius=1.5, percent=60, threshold=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "presets" / "assets" / "swirls.png"))
    args = parser.parse_args()
    image = paint(args.size, args.seed)
    image.save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
