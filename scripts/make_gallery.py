"""Make the README's gallery: run the presets that need no downloaded weights and save each
result, small, under ``docs/gallery/``. Every picture there is what the shipped preset makes
on a CPU with its default settings (seed included), so anyone can check one by re-running it.

    python scripts/make_gallery.py [--out docs/gallery] [PRESET ...]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pixengine

#: The offline presets, in the README's order.
PRESETS = ["default", "texture_gabor", "strokes_repaint", "style_embedding_restyle", "style_embedding_batch", "fft_repaint", "dwt_repaint"]
WIDTH = 288


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=PRESETS)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "gallery")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.presets:
        with tempfile.TemporaryDirectory() as folder:
            result = pixengine.run(name, output_dir=folder, progress=False, save_every=0)
            # A batch run shows its results side by side, as its contact sheet does.
            images = [pixengine.images.tensor_to_pil(image) for image in result.tensor]
            strip = _side_by_side(images)
        strip = strip.resize((WIDTH * len(images), round(strip.height * WIDTH * len(images) / strip.width)))
        path = args.out / f"{name}.jpg"
        strip.save(path, quality=88, optimize=True)
        print(f"wrote {path}")


def _side_by_side(images):
    from PIL import Image

    strip = Image.new("RGB", (sum(i.width for i in images), max(i.height for i in images)), "white")
    x = 0
    for image in images:
        strip.paste(image, (x, 0))
        x += image.width
    return strip


if __name__ == "__main__":
    main()
