"""Everything a run writes: PNGs with the run embedded, the YAML beside them, logs, contact
sheets and animations. Every file is written atomically (a temporary file in the same folder,
then a rename), so an interrupted run never leaves a half-written image behind."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import yaml
from PIL import Image, ImageDraw, PngImagePlugin

from . import interpolation, safe_yaml
from .errors import ConfigError

#: The PNG text chunk that carries the run (YAML: ``config`` plus provenance metadata).
PNG_CHUNK = "pixengine"


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write`` on a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs should be as readable as any file
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def run_document(config: dict, meta: dict) -> str:
    """The YAML that travels with an output: metadata first, then the resolved config. Text
    that looks like an interpolation is escaped, so the document reads back as it was."""
    return yaml.safe_dump({**meta, "config": interpolation.escape(config)}, sort_keys=False, allow_unicode=True)


def save_png(path: str | Path, image: Image.Image, document: str | None = None) -> Path:
    """Write ``image`` as PNG, with ``document`` in the ``pixengine`` text chunk."""
    info = PngImagePlugin.PngInfo()
    if document is not None:
        info.add_itxt(PNG_CHUNK, document, zip=True)
    return atomic_write(path, lambda handle: image.save(handle, format="PNG", pnginfo=info))


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def read_run_document(path: str | Path) -> dict:
    """The run embedded in a PNG written by pixengine (ConfigError if there is none).

    Only the file's text chunks are read (pixengine writes its chunk before the pixels), never
    its pixels, and the YAML is read by the same bounded reader as presets."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"'{path}' is a folder, not a PNG")
    if not path.is_file():
        raise ConfigError(f"'{path}' does not exist")
    try:
        with Image.open(path) as img:
            text = img.info.get(PNG_CHUNK)
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        raise ConfigError(f"'{path}' is not a readable image: {exc}") from None
    if text is None:
        raise ConfigError(f"'{path}' carries no pixengine run (no '{PNG_CHUNK}' text chunk); was it written by pixengine?")
    return parse_run_document(str(text), f"{path} (its '{PNG_CHUNK}' chunk)")


def parse_run_document(text: str | bytes, source: str) -> dict:
    """A run document (metadata and ``config``) from untrusted YAML text."""
    document = safe_yaml.load(text, source, what="run document")
    if not isinstance(document.get("config"), dict):
        raise ConfigError("holds no config: not a pixengine run document", source=source)
    return document


class JsonlLog:
    """One JSON object per line, flushed, so a crash keeps what was logged. A run starts the
    file afresh (a second run into the same folder replaces the log with its own, as it does
    final.png and run.yaml); a resumed run appends to it."""

    def __init__(self, path: str | Path, append: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a" if append else "w", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def contact_sheet(
    items: Sequence[tuple[str, Image.Image]], height: int = 256, pad: int = 8, columns: int | None = None
) -> Image.Image:
    """Images side by side at a common height, each labelled underneath; with ``columns``, in
    rows of that many."""
    if columns is not None and len(items) > columns:
        rows = [contact_sheet(items[i : i + columns], height, pad) for i in range(0, len(items), columns)]
        sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
        y = 0
        for row in rows:
            sheet.paste(row, (0, y))
            y += row.height
        return sheet
    label_height = 18
    scaled = [(label, img.resize((max(1, round(img.width * height / img.height)), height), Image.LANCZOS)) for label, img in items]
    width = sum(img.width for _, img in scaled) + pad * (len(scaled) + 1)
    sheet = Image.new("RGB", (width, height + label_height + 2 * pad), "white")
    draw = ImageDraw.Draw(sheet)
    x = pad
    for label, img in scaled:
        sheet.paste(img, (x, pad))
        draw.text((x, pad + height + 3), label, fill="black")
        x += img.width + pad
    return sheet


def save_gif(path: str | Path, frames: Sequence[Image.Image], fps: int) -> Path:
    if not frames:
        raise ValueError("no frames to write")
    duration = max(1, round(1000 / fps))

    def write(handle: IO[bytes]) -> None:
        buffer = io.BytesIO()
        frames[0].save(buffer, format="GIF", save_all=True, append_images=list(frames[1:]), duration=duration, loop=0)
        handle.write(buffer.getvalue())

    return atomic_write(path, write)
