"""Where model weights come from, in one order for every model plugin:

1. an explicit local file given in the config (``.pt``, ``.pth``, ``.bin``, ``.safetensors``...);
2. pixengine's cache (``$PIXENGINE_CACHE``, else ``$XDG_CACHE_HOME/pixengine``, else
   ``~/.cache/pixengine``) and any other places the plugin knows (a package that ships the file,
   a library's own cache);
3. a download into the cache, unless ``PIXENGINE_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``).

When all fail, :class:`WeightsNotFoundError` names the model, every place looked and how to
supply the file. Nothing here ever substitutes random weights.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import ConfigError, WeightsNotFoundError

WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".pkl", ".onnx")


def cache_dir() -> Path:
    if os.environ.get("PIXENGINE_CACHE"):
        return Path(os.environ["PIXENGINE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pixengine"


def offline() -> bool:
    return any(os.environ.get(var, "") not in ("", "0") for var in ("PIXENGINE_OFFLINE", "HF_HUB_OFFLINE"))


def find_weights(
    model: str,
    *,
    path: str | None = None,
    cached: Iterable[str | Path] = (),
    elsewhere: Iterable[str | Path] = (),
    download: Callable[[Path], Path] | None = None,
    how: str = "",
) -> Path:
    """The weight file for ``model``.

    ``path`` is the config's explicit file (used alone when given); ``cached`` are file names
    relative to :func:`cache_dir`; ``elsewhere`` are absolute candidates; ``download(cache_dir)``
    fetches the file and returns its path.
    """
    how = how or f"Give the file's path in the model's 'path' option, or put it in {cache_dir()}."
    if path:
        explicit = Path(path).expanduser()
        if explicit.is_file():
            if explicit.suffix.lower() not in WEIGHT_SUFFIXES:
                raise ConfigError(
                    f"'{path}' does not look like a weight file; expected one of {', '.join(WEIGHT_SUFFIXES)}", key="path"
                )
            return explicit
        raise WeightsNotFoundError(model, [f"{explicit.absolute()} (the 'path' option): no such file"], how)
    looked = []
    for candidate in [cache_dir() / c for c in cached] + [Path(e) for e in elsewhere]:
        if candidate.is_file():
            return candidate
        looked.append(f"{candidate}: absent")
    if download is None:
        looked.append("download: this model has no download source")
    elif offline():
        looked.append("download: skipped (PIXENGINE_OFFLINE or HF_HUB_OFFLINE is set)")
    else:
        try:
            cache_dir().mkdir(parents=True, exist_ok=True)
            return Path(download(cache_dir()))
        except Exception as exc:  # no network, dead link, hub refusal: all mean "not available"
            looked.append(f"download: failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
    raise WeightsNotFoundError(model, looked, how)


def load_state_dict(path: str | Path) -> dict:
    """A state dict from a ``.safetensors`` file, a torch pickle (read with ``weights_only``) or
    a TorchScript archive (its tensors only): no weight file ever runs code."""
    import torch

    from .torchscript_weights import is_torchscript, read_tensors

    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:
            raise ConfigError(f"cannot read weights from '{path}': {type(exc).__name__}: {exc}") from None
    if is_torchscript(path):
        return read_tensors(path, key=None)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch's own advice here is to retry with weights_only=False, i.e. to run the file's code.
        problem = "it holds something other than tensors (pickled code or objects), or is not a torch file"
        if "Weights only load failed" not in str(exc):
            problem = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        raise ConfigError(f"cannot read weights from '{path}': {problem}") from None
    # Training checkpoints (Lightning, open_clip's own) wrap the weights under "state_dict".
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConfigError(f"'{path}' holds a {type(state).__name__}, not a state dict")
    return state
