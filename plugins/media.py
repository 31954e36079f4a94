"""Extra outputs written through the lifecycle hooks: an animation of the optimisation
(``outputs.animation: gif`` or ``mp4``) and a contact sheet of the run's input images beside
the result (``outputs.contact_sheet: true``). Being a plugin, it shows how a logger, video
writer or early-stopping rule attaches to runs without touching the loop."""

from __future__ import annotations

import os
import weakref
from pathlib import Path

import torch
from PIL import Image

import pixengine
from pixengine.errors import ConfigError
from pixengine.images import tensor_to_pil
from pixengine.outputs import contact_sheet, save_gif, save_png

# Frames per run; weak so a finished run's frames are freed with it.
_frames: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _mp4_writer():
    try:
        import imageio.v2 as imageio  # optional: pip install imageio imageio-ffmpeg
    except ImportError:
        return None
    return imageio


@pixengine.hookimpl
def on_run_start(run):
    outputs = run.settings.outputs
    if outputs.animation == "mp4" and _mp4_writer() is None:
        raise ConfigError("mp4 needs imageio and imageio-ffmpeg (pip install imageio imageio-ffmpeg); or use gif",
                          key="outputs.animation")
    if outputs.animation:
        _frames[run] = []


@pixengine.hookimpl
def on_step(run, step, image, losses):
    frames = _frames.get(run)
    if frames is not None and (step == 1 or step % run.settings.outputs.frame_every == 0):
        frames.append(tensor_to_pil(image))


@pixengine.hookimpl
def on_run_end(run, result):
    outputs = run.settings.outputs
    frames = _frames.pop(run, None)
    if frames and result.image is not None:
        frames.append(result.image)
        # One size for the whole animation (a GIF's canvas is its first frame's): frames from
        # before the run grew are scaled to the final size.
        size = result.image.size
        frames = [frame if frame.size == size else frame.resize(size, Image.Resampling.BICUBIC) for frame in frames]
        path = run.output_dir / f"animation.{outputs.animation}"
        if outputs.animation == "gif":
            save_gif(path, frames, outputs.fps)
        else:
            _write_mp4(path, frames, outputs.fps)
        result.paths.append(path)
    if outputs.contact_sheet and result.image is not None:
        sheet = contact_sheet(contact_sheet_items(run, result))
        result.paths.append(save_png(run.output_dir / "contact_sheet.png", sheet))


def contact_sheet_items(run, result) -> list[tuple[str, Image.Image]]:
    """Labelled pictures for the contact sheet: each input image once, then every result."""
    items, seen = [], []
    labelled = [("start", run.parameterization), *((spec.label, loss) for spec, loss in run.losses)]
    for owner, component in labelled:
        for label, tensor in component.references().items():
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
