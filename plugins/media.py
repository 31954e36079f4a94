"""Extra outputs written through the lifecycle hooks: an animation of the optimisation
(``media.animation: gif`` or ``mp4``) and a contact sheet of the run's input images beside
the result (``media.contact_sheet: true``). Being a plugin, it shows how a logger, video
writer or early-stopping rule attaches to runs without touching the loop: it declares its own
``media`` settings and reads the run only through the documented :class:`pixengine.RunView`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from PIL import Image

import pixengine
from pixengine import option
from pixengine.errors import ConfigError
from pixengine.images import tensor_to_pil
from pixengine.outputs import contact_sheet, save_gif, save_png

PIXENGINE_API = "1.1"


@dataclass
class MediaSettings:
    animation: Optional[str] = option(None, help="also write the optimisation as 'gif' or 'mp4'", choices=["gif", "mp4"])
    frame_every: int = option(5, help="steps between animation frames", min=1)
    fps: int = option(12, help="animation frames per second", min=1)
    contact_sheet: bool = option(False, help="write contact_sheet.png: input images beside the result")


# Frames per run, by output folder (one run per folder at a time).
_frames: dict[Path, list] = {}


@pixengine.hookimpl
def register_settings(register):
    register("media", MediaSettings)


def _mp4_writer():
    try:
        import imageio.v2 as imageio  # optional: pip install imageio imageio-ffmpeg
    except ImportError:
        return None
    return imageio


@pixengine.hookimpl
def on_run_start(run):
    media = run.settings_of("media")
    if media.animation == "mp4" and _mp4_writer() is None:
        raise ConfigError("mp4 needs imageio and imageio-ffmpeg (pip install imageio imageio-ffmpeg); or use gif",
                          key="media.animation")
    if media.animation:
        _frames[run.output_dir] = []


@pixengine.hookimpl
def on_step(run, step, image, losses):
    frames = _frames.get(run.output_dir)
    if frames is not None and (step == 1 or step % run.settings_of("media").frame_every == 0):
        frames.append(tensor_to_pil(image))


@pixengine.hookimpl
def on_run_end(run, result):
    media = run.settings_of("media")
    frames = _frames.pop(run.output_dir, None)
    if frames and result.image is not None:
        frames.append(result.image)
        # One size for the whole animation (a GIF's canvas is its first frame's): frames from
        # before the run grew are scaled to the final size.
        size = result.image.size
        frames = [frame if frame.size == size else frame.resize(size, Image.Resampling.BICUBIC) for frame in frames]
        path = run.output_dir / f"animation.{media.animation}"
        if media.animation == "gif":
            save_gif(path, frames, media.fps)
        else:
            _write_mp4(path, frames, media.fps)
        result.paths.append(path)
    if media.contact_sheet and result.image is not None:
        sheet = contact_sheet(contact_sheet_items(run, result))
        result.paths.append(save_png(run.output_dir / "contact_sheet.png", sheet))


def contact_sheet_items(run, result) -> list[tuple[str, Image.Image]]:
    """Labelled pictures for the contact sheet: each input image once, then every result."""
    items, seen = [], []
    for owner, label, tensor in run.references():
        thumb = _thumbnail(tensor)
        if any(torch.mean(torch.abs(thumb - t)) < 0.02 for t in seen):
            continue  # several components often share one input image, at different sizes
        seen.append(thumb)
        items.append((f"{owner}: {label}", tensor_to_pil(tensor)))
    if result.tensor.shape[0] == 1:
        items.append(("result", result.image))
    else:  # a batch run (several content images): show every result, not only final.png's
        items += [(f"result {i + 1}", tensor_to_pil(image)) for i, image in enumerate(result.tensor)]
    return items


def _thumbnail(image: torch.Tensor) -> torch.Tensor:
    """A 32x32 summary of an image, to recognise one input loaded at two sizes."""
    return torch.nn.functional.interpolate(image[:1].float().cpu(), size=(32, 32), mode="area")


def _write_mp4(path: Path, frames, fps: int) -> None:
    import numpy as np

    imageio = _mp4_writer()
    # ffmpeg wants a file name, so write beside the target and rename (atomic like the rest).
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    w, h = frames[0].width // 2 * 2, frames[0].height // 2 * 2  # H.264 needs even sizes
    with imageio.get_writer(tmp, fps=fps, codec="libx264", macro_block_size=1) as writer:
        for frame in frames:
            writer.append_data(np.asarray(frame.resize((w, h))))
    os.replace(tmp, path)
