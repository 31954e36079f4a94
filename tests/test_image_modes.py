"""Every image mode a user may hand pixengine is read at its own range (a 16-bit greyscale PNG
used to read as all white), images with alpha are composited over white, large images are
decoded reduced to what the run needs, and bombs are refused by name."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

import pixengine
from pixengine.errors import ConfigError
from pixengine.images import load_image, read_image


def png16_rgb(path, pixels: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG, written by hand: Pillow cannot write one."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    height, width, _ = pixels.shape
    rows = b"".join(b"\0" + pixels[y].astype(">u2").tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def save(path, image: Image.Image, **kwargs):
    image.save(path, **kwargs)
    return path


CASES = {
    # mode: (write the file, the (2 pixels x 3 channels) values expected)
    "1": (lambda p: save(p / "a.png", Image.fromarray(np.array([[0, 255]], np.uint8)).convert("1")), [[0, 0, 0], [1, 1, 1]]),
    "L": (lambda p: save(p / "a.png", Image.fromarray(np.array([[51, 204]], np.uint8), "L")), [[0.2] * 3, [0.8] * 3]),
    "LA": (lambda p: save(p / "a.png", Image.fromarray(np.array([[[0, 255], [0, 0]]], np.uint8), "LA")), [[0, 0, 0], [1, 1, 1]]),
    "P": (lambda p: save(p / "a.png", _palette()), [[1, 0, 0], [0, 0, 1]]),
    "RGBA": (lambda p: save(p / "a.png", Image.fromarray(np.array([[[255, 0, 0, 255], [255, 0, 0, 0]]], np.uint8), "RGBA")),
             [[1, 0, 0], [1, 1, 1]]),
    "CMYK": (lambda p: save(p / "a.tiff", Image.fromarray(np.array([[[0, 255, 255, 0], [0, 0, 0, 255]]], np.uint8), "CMYK")),
             [[1, 0, 0], [0, 0, 0]]),
    "I;16": (lambda p: save(p / "a.png", Image.fromarray(np.array([[13107, 52428]], np.uint16))), [[0.2] * 3, [0.8] * 3]),
    "I": (lambda p: save(p / "a.tiff", Image.fromarray(np.array([[13107, 65535]], np.int32), "I")), [[0.2] * 3, [1.0] * 3]),
    "F": (lambda p: save(p / "a.tiff", Image.fromarray(np.array([[0.25, 0.75]], np.float32), "F")), [[0.25] * 3, [0.75] * 3]),
    "RGB;16": (lambda p: png16_rgb(p / "a.png", np.array([[[65535, 0, 13107], [0, 52428, 65535]]])) or p / "a.png",
               [[1, 0, 0.2], [0, 0.8, 1]]),
}


def _palette() -> Image.Image:
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putdata([0, 1])
    return image


@pytest.mark.parametrize("mode", list(CASES))
def test_each_mode_reads_at_its_own_range(mode, tmp_path):
    write, expected = CASES[mode]
    path = write(tmp_path)
    values = read_image(path)
    assert values.shape == (1, 2, 3) and values.dtype == np.float32
    assert np.allclose(values[0], np.array(expected, np.float32), atol=1 / 255 + 1e-6), f"{mode}: {values[0]}"


def test_a_16_bit_greyscale_content_image_is_not_all_white(tmp_path):
    ramp = (np.linspace(0, 65535, 32 * 24).reshape(24, 32)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    tensor = load_image(tmp_path / "ramp16.png")
    assert tensor.min() < 0.01 and tensor.max() > 0.99 and 0.4 < tensor.mean() < 0.6


def test_a_large_image_is_decoded_reduced_for_a_small_run(tmp_path):
    """A 12000x12000 PNG (a few hundred kilobytes) for a 64x64 run: decoding it whole in
    float32 cost 4.6 GB; read reduced it stays within 1 GB (measured in a fresh process)."""
    big = Image.new("L", (12000, 12000), 90)
    big.paste(200, (0, 0, 6000, 12000))
    big.save(tmp_path / "big.png")
    del big
    probe = (
        "import resource, sys\n"
        "from pixengine.images import load_image\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t = load_image(sys.argv[1], (64, 64))\n"
        "print(tuple(t.shape), round(float(t[0, 0, 0, 0]), 3), round(float(t[0, 0, 0, -1]), 3),"
        " (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "big.png")], capture_output=True, text=True, check=True)
    grown_mb = int(done.stdout.split()[-1])
    assert done.stdout.startswith("(1, 3, 64, 64) 0.784 0.353"), done.stdout  # 200/255 left, 90/255 right
    assert grown_mb < 1024, f"reading it took {grown_mb} MB"
    assert "DecompressionBomb" not in done.stderr  # no raw Pillow warning


def test_a_decompression_bomb_is_refused_by_name(tmp_path):
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 50000, 50000, 8, 0, 0, 0, 0)
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    with pytest.raises(ConfigError, match=r"bomb\.png.*decompression bomb"):
        load_image(tmp_path / "bomb.png", (64, 64))


def test_seeds_of_any_size_or_sign_name_one_run(tmp_path, quick):
    small = {"steps": 1, "width": 16, "height": 16}
    huge = pixengine.run("repaint", **small, seed=2**80, **{**quick, "output_dir": str(tmp_path / "a")})
    again = pixengine.run("repaint", **small, seed=2**80, **{**quick, "output_dir": str(tmp_path / "b")})
    other = pixengine.run("repaint", **small, seed=2**80 + 1, **{**quick, "output_dir": str(tmp_path / "c")})
    assert (huge.tensor == again.tensor).all() and not (huge.tensor == other.tensor).all()
    assert huge.config.seed == 2**80
    assert pixengine.run("repaint", **small, seed=-7, **{**quick, "output_dir": str(tmp_path / "d")}).status == "finished"
