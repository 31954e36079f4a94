"""How much memory a run will need, estimated before anything is built, so a run that cannot
fit stops at once with the estimate and the key to change (``width=100000`` used to try to
allocate 80 GB and fail inside a loss).

The estimate adds up what grows with the run's size: the image with its gradient and the
optimiser's state, and what each component declares with ``memory_estimate(options, width,
height)`` (a feature network's activations, a chain's views, a model's weights). It is a
rough upper bound, meant to separate "fits" from "cannot possibly fit", not to budget memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

GB = 1024**3

#: Bytes per image pixel for the image itself: 3 float32 channels for the parameterization's
#: output, its gradient, the parameters with their gradient and two Adam moments, and the
#: intermediates of a few losses.
IMAGE_BYTES_PER_PIXEL = 3 * 4 * 16


@dataclass
class Estimate:
    #: (what, bytes, the key that controls it), largest first.
    parts: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(size for _, size, _ in self.parts)

    def largest(self) -> tuple[str, int, str]:
        return max(self.parts, key=lambda part: part[1])

    def describe(self) -> str:
        shown = sorted(self.parts, key=lambda part: -part[1])[:3]
        return ", ".join(f"{what} {size / GB:.1f} GB" for what, size, _ in shown)


def estimate(spec, weights: dict[str, dict[str, Path]] | None = None) -> Estimate:
    """The estimate for a validated run (``weights``: each component's weight files)."""
    settings = spec.settings
    sizes = [(settings.width, settings.height)] + [(g.width, g.height) for g in settings.grow]
    width, height = max(sizes, key=lambda size: size[0] * size[1])
    result = Estimate()
    result.parts.append(("the image and its optimiser state", width * height * IMAGE_BYTES_PER_PIXEL, "width"))
    for component in spec.components():
        size = component.entry.cls.memory_estimate(component.options, width, height)
        files = (weights or {}).get(component.key) or {}
        size += sum(Path(path).stat().st_size for path in files.values() if Path(path).is_file())
        if size:
            key = "width" if component.entry.kind == "model" else component.key
            result.parts.append((f"{component.key} ({component.entry.name})", int(size), key))
    return result


def available(device) -> int | None:
    """Bytes the device can still give (None when it cannot be told)."""
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
