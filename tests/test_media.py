"""The media plugin's extra outputs: the optimisation as an animation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence

import pixengine


def frames_of(path: Path) -> list[Image.Image]:
    with Image.open(path) as gif:
        return [frame.convert("RGB") for frame in ImageSequence.Iterator(gif)]


def test_a_gif_shows_the_optimisation_every_frame_every_steps(quick):
    result = pixengine.run("repaint", steps=9, width=32, height=24, **{"media.animation": "gif", "media.frame_every": 3}, **quick)
    path = Path(quick["output_dir"]) / "animation.gif"
    assert path in result.paths
    frames = frames_of(path)
    # step 1, steps 3, 6, 9, then the final image
    assert len(frames) == 5
    assert all(frame.size == (32, 24) for frame in frames)
    # The run changes the image: the first frame (noise) and the last differ clearly.
    first, last = (np.asarray(frame, dtype=np.float32) for frame in (frames[0], frames[-1]))
    assert np.abs(first - last).mean() > 5


def test_a_grown_run_animates_at_its_final_size(quick):
    grow = [{"at": 4, "width": 64, "height": 48}]
    pixengine.run("fft_repaint", steps=8, width=32, height=24, grow=grow, **{"media.animation": "gif", "media.frame_every": 2}, **quick)
    frames = frames_of(Path(quick["output_dir"]) / "animation.gif")
    assert len(frames) == 6
    assert {frame.size for frame in frames} == {(64, 48)}


class RecordingWriter:
    """Stands in for imageio's ffmpeg writer (not installed here): records the frames it gets
    and writes a file, as the real one does, so the atomic rename can be checked."""

    def __init__(self):
        self.frames, self.options = [], {}

    def get_writer(self, path, **options):
        self.options = options
        writer = self

        class Context:
            def __enter__(self):
                return self

            def append_data(self, array):
                writer.frames.append(array)

            def __exit__(self, *exc):
                Path(path).write_bytes(b"mp4")

        return Context()


def test_mp4_frames_are_even_sized_at_the_final_size(quick, monkeypatch):
    from pixengine_plugins import media

    recorder = RecordingWriter()
    monkeypatch.setattr(media, "_mp4_writer", lambda: recorder)
    grow = [{"at": 4, "width": 65, "height": 49}]
    pixengine.run("fft_repaint", steps=8, width=33, height=25, grow=grow, **{"media.animation": "mp4", "media.frame_every": 2}, **quick)
    out = Path(quick["output_dir"])
    assert (out / "animation.mp4").read_bytes() == b"mp4" and not list(out.glob(".animation*"))
    assert len(recorder.frames) == 6 and {frame.shape for frame in recorder.frames} == {(48, 64, 3)}
    assert recorder.options["fps"] == 12
