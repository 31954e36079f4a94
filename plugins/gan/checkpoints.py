"""Reading generator checkpoints safely, and matching their keys against a network.

Checkpoints are read with ``torch.load(weights_only=True)``, which runs no code from the file.
Two published formats need a little help for that:

* taming-transformers VQGANs are PyTorch Lightning 1.0 checkpoints. Besides ``state_dict``
  they store the callbacks' state in a dict keyed by the callback *class*
  (``pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint``), a global that
  ``weights_only`` refuses. Only the class's name is in the file (it is a dict key, nothing is
  called), so a placeholder class is allowed under those names for the duration of the load:
  pytorch_lightning need not be installed and nothing from it runs.
* rosinality's training checkpoints hold the script's ``argparse.Namespace`` under ``args``:
  a plain attribute bag, allowed too.

Anything else the unpickler refuses stops with a message naming the global and how to convert
the file to a plain state dict.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

from pixengine import ConfigError


class LightningPlaceholder:
    """Stands for a PyTorch Lightning callback class that a checkpoint names but never uses."""


# Lightning 1.0-1.1 callbacks that save state; their classes become dict keys in the file.
_LIGHTNING_CALLBACKS = (
    "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
    "pytorch_lightning.callbacks.early_stopping.EarlyStopping",
)

SAFE_GLOBALS = [(LightningPlaceholder, name) for name in _LIGHTNING_CALLBACKS] + [argparse.Namespace]

#: How many names of each kind (missing, unexpected, mismatched) an error message lists.
SHOWN = 5


def read_checkpoint(path: str | Path) -> dict:
    """The top-level mapping stored in a ``.safetensors`` file or a torch pickle."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:
            raise ConfigError(f"cannot read weights from '{path}': {type(exc).__name__}: {exc}", key="path") from None
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot use this file"
        raise ConfigError(_unreadable(path, exc), key="path") from None
    if not isinstance(data, dict):
        raise ConfigError(f"'{path}' holds a {type(data).__name__}, not a checkpoint mapping", key="path")
    return data


def _unreadable(path: Path, exc: Exception) -> str:
    text = str(exc)
    refused = re.search(r"GLOBAL ([\w.]+)", text)
    if refused:
        return (
            f"cannot read '{path}' safely: it needs the Python global '{refused.group(1)}', which pixengine does not "
            "allow while loading (loading runs no code from the file). If you trust the file, convert it once to a "
            "plain state dict: python -c \"import torch; c = torch.load('IN', weights_only=False); "
            "torch.save({k: v for k, v in c.items() if k in ('state_dict', 'g_ema', 'latent_avg')}, 'OUT.pt')\""
        )
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"cannot read weights from '{path}': {type(exc).__name__}: {first}"


def without_prefixes(state: dict[str, torch.Tensor], prefixes: Iterable[str]) -> tuple[dict[str, torch.Tensor], int]:
    """``state`` without the keys under ``prefixes``, and how many were dropped."""
    prefixes = tuple(prefixes)
    kept = {k: v for k, v in state.items() if not k.startswith(prefixes)}
    return kept, len(state) - len(kept)


def _listing(title: str, items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return f"{len(items)} {title}: {shown}{more}"


def load_into(
    network: nn.Module,
    state: dict[str, torch.Tensor],
    *,
    what: str,
    path: str | Path,
    optional: Callable[[str], bool] = lambda key: False,
) -> None:
    """Load ``state`` into ``network`` after checking every key and shape.

    Keys for which ``optional(key)`` is true may be absent (the network keeps its own values).
    Any other difference raises one :class:`ConfigError` listing the first few missing,
    unexpected and mismatched keys of each kind, so a wrong file is recognisable at a glance.
    """
    expected = network.state_dict()
    missing = [k for k in expected if k not in state and not optional(k)]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} (file {tuple(state[k].shape)}, network {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or mismatched:
        parts = [_listing(title, items) for title, items in (("missing", missing), ("unexpected", unexpected), ("mismatched", mismatched)) if items]
        raise ConfigError(f"'{path}' does not match the {what} architecture: " + "; ".join(parts), key="path")
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    network.load_state_dict(tensors, strict=False)
