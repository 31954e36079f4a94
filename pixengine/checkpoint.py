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
    """The checkpoint in ``folder``, read without running code and checked field by field."""
    path = Path(folder) / CHECKPOINT_NAME
    if Path(folder).is_file():
        raise PixengineError(f"'{folder}' is a file; --resume takes the run's folder")
    if not path.is_file():
        raise PixengineError(
            f"'{folder}' has no {CHECKPOINT_NAME} to resume from (runs write it at every save_every step and when they "
            "stop, unless outputs.checkpoint is false); `pixengine run --from FOLDER/final.png` re-runs from the start"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PixengineError(f"'{path}' cannot be read as a pixengine checkpoint: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise PixengineError(f"'{path}' is not a pixengine checkpoint of format {FORMAT}")
    problem = _field_problem(payload)
    if problem:
        raise PixengineError(f"'{path}' is damaged and cannot be resumed: {problem}")
    return payload


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field_problem(payload: dict) -> str | None:
    """What is wrong with a checkpoint's fields (None when each has the type and range it must)."""
    step, size = payload.get("step"), payload.get("size")
    checks = [
        (isinstance(payload.get("document"), str), "'document' is not the run's YAML text"),
        (_is_int(step) and step >= 0, f"'step' is {step!r}, not a step count of 0 or more"),
        (
            isinstance(size, (list, tuple)) and len(size) == 2 and all(_is_int(v) and v > 0 for v in size),
            f"'size' is {size!r}, not [width, height]",
        ),
        (
            isinstance(payload.get("parameterization"), dict)
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload["parameterization"].items()),
            "'parameterization' is not a mapping of names to tensors",
        ),
        (
            isinstance(payload.get("optimizer"), dict) and {"state", "param_groups"} <= set(payload["optimizer"]),
            "'optimizer' is not an optimiser's state",
        ),
        (
            isinstance(payload.get("rng"), dict) and {"torch", "numpy", "python"} <= set(payload["rng"]),
            "'rng' does not hold the random generators' states",
        ),
    ]
    return next((message for ok, message in checks if not ok), None)


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
    try:
        optimizer.load_state_dict(payload["optimizer"])
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise PixengineError(
            f"'{path}': its optimiser state does not fit this run's optimiser ({exc}); resume with the optimizer.type "
            "the run had"
        ) from None


def restore_rng(state: dict[str, Any], device: torch.device, path: Path) -> None:
    """Set the random generators from a checkpoint, with a clear error when its states are damaged."""
    try:
        set_rng_state(state, device)
    except (ValueError, TypeError, RuntimeError, IndexError) as exc:
        raise PixengineError(f"'{path}' is damaged and cannot be resumed: its random states cannot be restored ({exc})") from None




#: The keys that make a run the run it is; a resume may change the others (steps, rates,
#: weights, outputs).
IDENTITY_KEYS = ("preset", "seed", "width", "height", "grow", "parameterization", "models")


def identity_differences(mine: dict, other: dict) -> list[str]:
    """The identity keys in which two run configs differ, as readable 'key: a vs b' strings;
    also the loss labels and types (a resume may change a loss's weight, not which losses)."""
    differences = [f"{key}: {mine.get(key)!r} vs {other.get(key)!r}" for key in IDENTITY_KEYS if mine.get(key) != other.get(key)]
    kinds = [{label: (section or {}).get("type") for label, section in (config.get("losses") or {}).items()} for config in (mine, other)]
    if kinds[0] != kinds[1]:
        differences.append(f"losses: {kinds[0]} vs {kinds[1]}")
    return differences
