"""Everything a run writes: PNGs with the run embedded, the YAML beside them, logs, contact
sheets and animations. Every file is written atomically (a temporary file in the same folder,
then a rename), so an interrupted run never leaves a half-written image behind."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from PIL import Image, ImageDraw, PngImagePlugin

from . import interpolation, safe_yaml
from .errors import ConfigError, PixengineError

#: The PNG text chunk that carries the run (YAML: ``config`` plus provenance metadata).
PNG_CHUNK = "pixengine"


class OutputError(PixengineError, OSError):
    """A file of the run could not be written (disk full, read-only folder, a folder in the
    way). Every file written before it is intact; the message names the file."""

    def __str__(self) -> str:
        return str(self.strerror)


#: What the errors a write meets mean, in words a user can act on.
_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "a folder is in the way",
    errno.ENOTDIR: "a file is in the way of a folder on its path",
    errno.EEXIST: "a file is in the way of a folder on its path",
}


def output_error(path: str | Path, exc: OSError) -> OutputError:
    reason = _REASONS.get(exc.errno, exc.strerror or str(exc))
    return OutputError(exc.errno, f"cannot write '{path}': {reason}")


def make_folder(path: str | Path) -> Path:
    """``path`` as a folder (made if needed), or an OutputError naming what is in the way."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(errno.EEXIST, f"cannot write into '{path}': it is a file, not a folder") from None
    except OSError as exc:
        raise output_error(path, exc) from None
    if not path.is_dir():
        raise OutputError(errno.ENOTDIR, f"cannot write into '{path}': it is not a folder")
    return path


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write`` on a temporary file beside ``path`` and rename it into place: the file is
    whole or absent, never half-written. A failing write (disk full, read-only, a folder in
    the way) raises :class:`OutputError` naming ``path`` and leaves the old file as it was."""
    path = Path(path)
    make_folder(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise output_error(path, exc) from None
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs should be as readable as any file
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OutputError):
            raise
        raise output_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def store_by_content(folder: Path, data: bytes, suffix: str) -> tuple[str, Path]:
    """Keep ``data`` as ``folder/SHA256.suffix`` (written once, whole): the same bytes stored
    twice are one file, and a name can never point at other content."""
    sha = hashlib.sha256(data).hexdigest()
    path = folder / f"{sha}.{suffix}"
    if not path.is_file():
        atomic_write(path, lambda handle: handle.write(data))
    return sha, path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def run_document(config: dict, meta: dict) -> str:
    """The YAML that travels with an output: metadata first, then the resolved config. Text
    that looks like an interpolation is escaped, so the document reads back as it was."""
    return safe_yaml.dump({**meta, "config": interpolation.escape(config)})


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
    """One JSON object per line. Each line is appended whole or not at all: a write that fails
    part-way (disk full) is cut back to the last whole line before the error is raised, so the
    file stays a valid log. A run starts the file afresh (a second run into the same folder
    replaces the log with its own, as it does final.png and run.yaml); a resumed run keeps the
    records up to the step it resumes from (see :func:`repair_log`) and appends."""

    def __init__(self, path: str | Path, append: bool = False):
        self.path = Path(path)
        make_folder(self.path.parent)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        try:
            self._fd = os.open(self.path, flags, 0o666)
        except OSError as exc:
            raise output_error(self.path, exc) from None
        if not append:
            os.close(self._fd)  # truncated; appends from now on keep lines whole
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def write(self, record: dict) -> None:
        data = (json.dumps(record) + "\n").encode("utf-8")
        size = os.fstat(self._fd).st_size
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, f"only {written} of {len(data)} bytes were written")
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, size)  # no half line left behind
            raise output_error(self.path, exc) from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def repair_log(path: str | Path, up_to_step: int) -> int:
    """Keep the whole records of ``log.jsonl`` up to ``up_to_step`` (the step a run resumes
    from): steps logged after its last checkpoint would be logged again, and a line torn by a
    crash is dropped. Returns the number of records kept."""
    from .rundir import log_records

    path = Path(path)
    if not path.is_file():
        return 0
    kept = [r for r in log_records(path) if isinstance(r.get("step"), int) and r["step"] <= up_to_step]
    atomic_write(path, lambda handle: handle.write("".join(json.dumps(r) + "\n" for r in kept).encode("utf-8")))
    return len(kept)


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
