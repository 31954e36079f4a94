"""Images that come from the browser, and files that become run inputs.

The browser never names a file on the server. An image it sends is checked before anything
uses it: at most ``max_bytes``, a format PIL decodes (PNG, JPEG, WebP, GIF, BMP, TIFF), at most
``max_pixels`` by its header, then decoded in full and re-encoded as PNG (its pixels as
decoded, its mode kept where PNG has it, every other byte dropped: EXIF, text chunks, trailing
data). It is staged under ``.studio/uploads/SHA256.png`` and named in requests as
``upload:SHA256``; a run that uses it gets its own copy in ``RUN/inputs/``.
"""

from __future__ import annotations

import io
import re
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..outputs import store_by_content

#: How a request names a staged upload (in any override value, also after a prefix: image:upload:...).
UPLOAD_REF = re.compile(r"upload:([0-9a-f]{64})")
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "MPO")
#: Modes PNG stores as they are; other modes are converted the way pixengine's loader would.
_PNG_MODES = ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA")


class UploadRefused(Exception):
    """An upload that is not a usable image; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    sha256: str
    path: Path
    width: int
    height: int
    format: str

    @property
    def ref(self) -> str:
        return f"upload:{self.sha256}"

    def as_dict(self) -> dict:
        return {"ref": self.ref, "width": self.width, "height": self.height, "format": self.format,
                "url": f"/api/uploads/{self.sha256}"}


def checked_png(data: bytes, *, max_pixels: int, what: str = "the upload") -> tuple[bytes, int, int, str]:
    """``data`` decoded as an image and re-encoded as PNG: (png, width, height, source format)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.format not in FORMATS:
                    raise UploadRefused(415, f"{what} is {img.format or 'an unknown'} image; send PNG, JPEG, WebP, GIF, BMP or TIFF")
                width, height = img.size
                if width * height > max_pixels:
                    raise UploadRefused(413, f"{what} is {width}x{height} pixels, more than the {max_pixels} allowed")
                source_format = img.format
                img.load()  # decodes every pixel: a truncated or corrupt file fails here
                if img.mode not in _PNG_MODES:
                    img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
                out = io.BytesIO()
                img.save(out, format="PNG")
    except UploadRefused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRefused(415, f"{what} is not an image PIL can read (or is a decompression bomb)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise UploadRefused(415, f"{what} is a damaged image: {exc}") from None
    return out.getvalue(), width, height, source_format


class UploadStore:
    def __init__(self, folder: Path, *, max_bytes: int, max_pixels: int):
        self.folder = folder
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, data: bytes, what: str = "the upload") -> Upload:
        if len(data) > self.max_bytes:
            raise UploadRefused(413, f"{what} is {len(data)} bytes, more than the {self.max_bytes} allowed")
        if not data:
            raise UploadRefused(422, f"{what} is empty")
        png, width, height, source_format = checked_png(data, max_pixels=self.max_pixels, what=what)
        sha, path = store_by_content(self.folder, png, "png")
        return Upload(sha, path, width, height, source_format)

    def import_file(self, path: Path, what: str | None = None) -> Upload:
        """A file on the server (a run's input) staged like an upload, through the same checks."""
        size = path.stat().st_size
        if size > self.max_bytes:
            raise UploadRefused(413, f"{what or path.name} is {size} bytes, more than the {self.max_bytes} allowed")
        return self.add(path.read_bytes(), what or f"'{path.name}'")

    def get(self, sha: str) -> Upload | None:
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            return None
        path = self.folder / f"{sha}.png"
        if not path.is_file():
            return None
        with Image.open(path) as img:
            return Upload(sha, path, img.width, img.height, "PNG")

    def copy_into(self, upload: Upload, run_folder: Path) -> Path:
        """The run's own copy of an upload, in ``RUN/inputs/`` (content-named: the same image
        used by two options is stored once)."""
        target = run_folder / "inputs" / f"{upload.sha256[:16]}.png"
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(upload.path, target)
        return target

    def prune(self, older_than_days: float = 14) -> None:
        """Forget staged uploads nobody used for a while (runs keep their own copies)."""
        limit = time.time() - older_than_days * 86400
        for path in self.folder.glob("*.png"):
            try:
                if path.stat().st_atime < limit and path.stat().st_mtime < limit:
                    path.unlink()
            except OSError:
                pass
