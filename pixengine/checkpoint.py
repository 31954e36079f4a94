"""What a run needs to go on later from where it stopped: the parameterization's own tensors,
the optimiser's state, the step and the random generators' states, in ``checkpoint.pt`` beside
the images. With them a resumed CPU run makes the same image as one that never stopped.

Models the parameterization holds (a GAN generator, a style network) are not saved: they are
loaded again from their weight files, like any run's.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .components import Model
from .errors import PixengineError
from .outputs import atomic_write

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = 1


def rng_state(device: torch.device) -> dict[str, Any]:
    """The state of every random generator a run draws from (torch, CUDA, numpy, random)."""
    kind, key, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, torch.from_numpy(key.astype(np.int64)), pos, has_gauss, cached),
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    kind, key, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def own_state(parameterization: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameterization's state dict without the models it holds."""
    models = [f"{name}." for name, module in parameterization.named_modules() if name and isinstance(module, Model)]
    return {k: v for k, v in parameterization.state_dict().items() if not k.startswith(tuple(models))}


def save(path: Path, *, step: int, size: tuple[int, int], parameterization, optimizer, rng: dict, document: str) -> Path:
    """Write the checkpoint atomically; ``document`` is the run's YAML (config and metadata),
    so the checkpoint alone is enough to resume."""
    payload = {
        "format": FORMAT,
        "document": document,
        "step": step,
        "size": list(size),
        "parameterization": own_state(parameterization),
        "optimizer": optimizer.state_dict(),
        "rng": rng,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def load(folder: Path) -> dict[str, Any]:
    path = Path(folder) / CHECKPOINT_NAME
    if not path.is_file():
        raise PixengineError(
            f"'{folder}' has no {CHECKPOINT_NAME} to resume from (runs write it at every save_every step and when they "
            "stop, unless outputs.checkpoint is false); `pixengine run --from FOLDER/final.png` re-runs from the start"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PixengineError(f"'{path}' cannot be read as a pixengine checkpoint: {type(exc).__name__}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise PixengineError(f"'{path}' is not a pixengine checkpoint of format {FORMAT}")
    return payload


def read_document(folder: Path) -> dict:
    """The run document a checkpoint carries (read by the same bounded reader as presets)."""
    from .outputs import parse_run_document

    payload = load(folder)
    return parse_run_document(payload.get("document") or "", str(Path(folder) / CHECKPOINT_NAME))


def restore(parameterization, optimizer, payload: dict[str, Any], path: Path) -> None:
    """Load the saved tensors into a freshly built run of the same config."""
    saved = payload["parameterization"]
    current = own_state(parameterization)
    missing, extra = sorted(set(current) - set(saved)), sorted(set(saved) - set(current))
    wrong = sorted(k for k in set(current) & set(saved) if current[k].shape != saved[k].shape)
    if missing or extra or wrong:
        detail = "; ".join(
            f"{what}: {', '.join(keys[:4])}" for what, keys in (("missing", missing), ("unexpected", extra), ("other shape", wrong)) if keys
        )
        raise PixengineError(
            f"'{path}' does not fit this run's parameterization ({detail}); resume with the options the run had "
            "(overrides that change the size or the parameterization cannot apply to a saved run)"
        )
    parameterization.load_state_dict(saved, strict=False)
    optimizer.load_state_dict(payload["optimizer"])
