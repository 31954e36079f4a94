"""Small JPEGs of run images for the gallery, made on first request and kept in
``.studio/thumbs/`` (named by the run and the image's size and time, so a newer image gets a
new thumbnail and nothing needs invalidating)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image

from ..outputs import atomic_write

SIZE = 256


def thumbnail(source: Path, cache: Path) -> Path:
    stat = source.stat()
    key = hashlib.sha1(f"{source}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:20]
    target = cache / f"{key}.jpg"
    if target.is_file():
        return target
    with Image.open(source) as img:
        img.thumbnail((SIZE, SIZE), Image.Resampling.LANCZOS)
        picture = img.convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    cache.mkdir(parents=True, exist_ok=True)
    return atomic_write(target, lambda handle: handle.write(buffer.getvalue()))
