"""Device choice (seeding is in pixengine.seeds)."""

from __future__ import annotations

import torch

from .errors import ConfigError


def choose_device(spec: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit device must be available."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"'{spec}' is not a device; use auto, cpu, cuda, cuda:N or mps", key="device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("cuda was asked for but torch sees no CUDA GPU; use device=auto or cpu", key="device")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"{spec} does not exist: torch sees {torch.cuda.device_count()} GPU(s)", key="device")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("mps was asked for but is not available; use device=auto or cpu", key="device")
    return device
