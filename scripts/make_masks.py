"""Make the region masks shipped for masked prompts: ``presets/assets/mask_top.png`` (white
over the top half) and ``mask_bottom.png`` (the rest), with a soft band between them so the
two regions' prompts blend at the horizon instead of meeting at a hard line.

    python scripts/make_masks.py [--size 256] [--horizon 0.5] [--softness 0.12] [--out presets/assets]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def masks(size: int, horizon: float, softness: float) -> tuple[Image.Image, Image.Image]:
    y = (np.arange(size) + 0.5) / size
    # A smoothstep from white above the band to black below it.
    t = np.clip((y - (horizon - softness / 2)) / softness, 0, 1)
    top = 1 - t * t * (3 - 2 * t)
    column = np.round(top * 255).astype(np.uint8)
    top_image = np.repeat(column[:, None], size, axis=1)
    return Image.fromarray(top_image, "L"), Image.fromarray(255 - top_image, "L")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--horizon", type=float, default=0.5, help="where the band is centred, from the top (0-1)")
    parser.add_argument("--softness", type=float, default=0.12, help="height of the band, as a fraction of the side")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "presets" / "assets")
    args = parser.parse_args()
    top, bottom = masks(args.size, args.horizon, args.softness)
    top.save(args.out / "mask_top.png", optimize=True)
    bottom.save(args.out / "mask_bottom.png", optimize=True)
    print(f"wrote {args.out / 'mask_top.png'} and {args.out / 'mask_bottom.png'}")


if __name__ == "__main__":
    main()
