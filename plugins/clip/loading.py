"""Finding, reading and loading open_clip weights.

Where a file is looked for, in order (through :func:`pixengine.weights.find_weights`):

1. the model's ``path`` option, alone when set;
2. pixengine's cache: ``<cache>/open_clip/<arch>/<tag>.safetensors`` (or ``.pt``, ``.bin``), then
   what ``pixengine models fetch`` downloaded there (``<cache>/open_clip/models--ORG--REPO``);
3. the caches other tools fill: Hugging Face's (``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or
   ``~/.cache/huggingface/hub``), where open_clip downloads by default, and ``~/.cache/clip``
   (OpenAI's ``clip`` package and open_clip's URL downloads);
4. a download through open_clip into ``<cache>/open_clip``, where a network exists.

open_clip is imported inside the functions: it takes seconds to import, and every pixengine
command loads this plugin.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pixengine.errors import ConfigError, PluginError
from pixengine.torchscript_weights import is_torchscript
from pixengine.weights import cache_dir, find_weights, load_state_dict

CACHE_SUBDIR = "open_clip"
SUFFIXES = (".safetensors", ".pt", ".bin")
#: Keys OpenAI's TorchScript archives carry besides the weights.
JIT_EXTRAS = ("input_resolution", "context_length", "vocab_size")


def architectures() -> list[str]:
    import open_clip

    return list(open_clip.list_models())


def tags_of(arch: str) -> list[str]:
    from open_clip.pretrained import list_pretrained_tags_by_model

    return list(list_pretrained_tags_by_model(arch))


def tag_config(arch: str, tag: str | None) -> dict:
    """open_clip's record of where (arch, tag) comes from and how it preprocesses ({} if none)."""
    if not tag:
        return {}
    from open_clip.pretrained import get_pretrained_cfg

    return dict(get_pretrained_cfg(arch, tag) or {})


def catalog_name(arch: str, tag: str) -> str:
    return f"{arch}/{tag}"


def parse_catalog_name(name: str) -> tuple[str, str]:
    arch, _, tag = name.rpartition("/")
    return arch, tag


# ------------------------------------------------------------------------------------------
# Where files may be.
# ------------------------------------------------------------------------------------------


def hf_hub_cache() -> Path:
    """Hugging Face's cache folder, read from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    return Path(home).expanduser() / "hub"


def hf_files(cfg: dict) -> tuple[str, list[str]] | None:
    """(repository, file names to try, safetensors first) for an HF-hosted tag."""
    hub = cfg.get("hf_hub") or ""
    if not hub:
        return None
    if hub.endswith("/"):  # a repository in open_clip's own layout
        return hub.rstrip("/"), ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
    repo, filename = hub.rsplit("/", 1)
    stem, suffix = os.path.splitext(filename)
    names = [stem + ".safetensors"] if suffix in (".bin", ".pth") else []
    return repo, names + [filename]


def _in_hf_cache(root: Path, repo: str, filename: str) -> Path:
    """The cached file, or a readable pattern of where it would be."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename, cache_dir=str(root))
    if isinstance(found, str) and Path(found).is_file():
        return Path(found)
    return root / f"models--{repo.replace('/', '--')}" / "snapshots" / "*" / filename


def cached_names(arch: str, tag: str) -> list[str]:
    """File names under pixengine's cache a user may drop a file at."""
    return [f"{CACHE_SUBDIR}/{arch}/{tag}{suffix}" for suffix in SUFFIXES]


def other_places(arch: str, tag: str) -> list[Path]:
    """Absolute candidates in the order they are tried (absent ones shown as patterns)."""
    cfg = tag_config(arch, tag)
    places: list[Path] = []
    hf = hf_files(cfg)
    for root in (cache_dir() / CACHE_SUBDIR, hf_hub_cache()):
        if hf:
            repo, names = hf
            places += [_in_hf_cache(root, repo, name) for name in names]
    url = cfg.get("url") or ""
    if url:
        basename = url.rstrip("/").rsplit("/", 1)[-1]
        places += [cache_dir() / CACHE_SUBDIR / basename, Path.home() / ".cache" / "clip" / basename]
    return places


def source_text(arch: str, tag: str) -> str:
    cfg = tag_config(arch, tag)
    hf = hf_files(cfg)
    if hf:
        repo, names = hf
        return f"https://huggingface.co/{repo} (file {' or '.join(names)})"
    return cfg.get("url") or "unknown"


def how_to_supply(arch: str, tag: str | None, label: str) -> str:
    label = label or "LABEL"
    lines = ["To supply the file:"]
    if tag:
        lines.append(
            f"  - on a machine with a network: `pixengine models fetch {catalog_name(arch, tag)}` downloads it into "
            f"{cache_dir() / CACHE_SUBDIR}; copy that folder to this machine's cache to use it offline;"
        )
        lines.append(f"  - or download it yourself from {source_text(arch, tag)}")
        lines.append(f"    and save it as {cache_dir() / cached_names(arch, tag)[0]} (or .pt / .bin),")
        lines.append(f"    or point at it: `pixengine run PRESET models.{label}.path=/path/to/file`.")
    else:
        lines.append(f"  - give an existing file: `pixengine run PRESET models.{label}.path=/path/to/file`,")
        lines.append(f"    or name an open_clip tag instead: models.{label}.pretrained=TAG (see `pixengine models list`).")
    return "\n".join(lines)


def find(arch: str, tag: str | None, path: str | None, label: str = "") -> Path:
    """The weight file for (arch, tag) or the explicit ``path``; raises WeightsNotFoundError."""
    model = catalog_name(arch, tag) if tag else arch
    if path or not tag:
        return find_weights(model, path=path, how=how_to_supply(arch, tag, label))
    return find_weights(
        model,
        cached=cached_names(arch, tag),
        elsewhere=other_places(arch, tag),
        download=lambda cache: download(arch, tag, cache),
        how=how_to_supply(arch, tag, label),
    )


def local_file(arch: str, tag: str) -> Path | None:
    """The cached file for (arch, tag) if there is one; never downloads."""
    for candidate in [cache_dir() / name for name in cached_names(arch, tag)] + other_places(arch, tag):
        if candidate.is_file():
            return candidate
    return None


def download(arch: str, tag: str, cache: Path) -> Path:
    from open_clip.pretrained import download_pretrained

    cfg = tag_config(arch, tag)
    # huggingface_hub retries for about a minute when the host cannot be resolved; ask once
    # (unless a proxy is set: then only the proxy can tell).
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    host = urllib.parse.urlsplit(endpoint if cfg.get("hf_hub") else cfg.get("url") or "").hostname
    proxied = any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"))
    if host and not proxied:
        reachable(host)
    target = cache / CACHE_SUBDIR
    target.mkdir(parents=True, exist_ok=True)
    found = download_pretrained(cfg, cache_dir=str(target))
    if not found:
        raise RuntimeError(f"open_clip has no download for {arch}/{tag}")
    return Path(found)


def reachable(host: str, timeout: float = 5.0) -> None:
    """Raise ConnectionError at once when ``host`` cannot be reached on port 443."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(f"{host} cannot be reached ({exc.strerror or exc})") from None


# ------------------------------------------------------------------------------------------
# Reading and loading.
# ------------------------------------------------------------------------------------------


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], bool]:
    """(state dict, whether the file was an OpenAI TorchScript archive). TorchScript archives
    are read by pixengine.torchscript_weights, which never runs their code."""
    from_torchscript = is_torchscript(path)
    try:
        state = load_state_dict(path)
    except ConfigError as exc:
        raise ConfigError(exc.detail, key="path") from None
    if from_torchscript:
        state = {k: v for k, v in state.items() if k not in JIT_EXTRAS}
    if any(k.startswith("module.") for k in state):  # saved from DataParallel/DDP
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state, from_torchscript


def create(arch: str, quick_gelu: bool) -> Any:
    """The architecture with fresh (random) weights, to be overwritten by :func:`load_into`."""
    import open_clip

    # open_clip warns "initialized randomly" here; the weights are loaded right after, so the
    # warning would only mislead.
    quiet = _DropRecords("No pretrained weights loaded")
    logging.getLogger().addFilter(quiet)
    try:
        return open_clip.create_model(arch, pretrained=None, force_quick_gelu=quick_gelu, device="cpu")
    except ImportError as exc:
        raise PluginError(f"open_clip architecture '{arch}' needs a package that is not installed: {exc}") from None
    finally:
        logging.getLogger().removeFilter(quiet)


class _DropRecords(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, arch: str) -> None:
    """Copy ``state`` into ``model``, accepting the layouts open_clip itself accepts; every
    parameter must be covered, or the error lists what is missing and what is extra."""
    from open_clip.convert import convert_state_dict
    from open_clip.model import convert_to_custom_text_state_dict, resize_pos_embed

    state = convert_state_dict(model, dict(state))
    if "positional_embedding" in state and not hasattr(model, "positional_embedding"):
        state = convert_to_custom_text_state_dict(state)
    for name in ("logit_scale", "logit_bias"):
        own = getattr(model, name, None)
        if name in state and own is not None and state[name].ndim != own.ndim:
            state[name] = state[name].reshape(own.shape)
    before = state.get("visual.positional_embedding")
    resize_pos_embed(state, model)  # open_clip interpolates a ViT's for another image size
    after = state.get("visual.positional_embedding")
    if before is not None and after is not None and before.shape != after.shape:
        print(
            f"warning: '{path}' holds position embeddings for {before.shape[0] - 1} image patches and open_clip '{arch}' "
            f"has {after.shape[0] - 1}; they were interpolated. If the file is of another architecture, set `arch` to it.",
            file=sys.stderr,
        )
    own_keys = set(model.state_dict())
    # Non-persistent buffers (attention masks) are rebuilt by the model; TorchScript saves them.
    transient = {name for name, _ in model.named_buffers()} - own_keys
    state = {k: v for k, v in state.items() if k not in transient}
    missing = sorted(own_keys - set(state))
    unexpected = sorted(set(state) - own_keys)
    if missing or unexpected:
        raise ConfigError(
            f"'{path}' does not hold weights for open_clip '{arch}': "
            + "; ".join(
                part
                for part in (
                    _keys("missing", missing),
                    _keys("unexpected", unexpected),
                )
                if part
            )
            + ". Check `arch` matches the file (and `quick_gelu` does not change keys).",
            key="path",
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # shapes differ: the file is another size of the same family
        first = str(exc).split("size mismatch for ", 1)[-1].splitlines()[0]
        raise ConfigError(f"'{path}' does not fit open_clip '{arch}': size mismatch for {first}", key="path") from None


def _keys(what: str, keys: list[str]) -> str:
    if not keys:
        return ""
    shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
    return f"{len(keys)} {what} key(s): {shown}"


def tokenizer(arch: str) -> Any:
    import open_clip

    try:
        return open_clip.get_tokenizer(arch)
    except Exception as exc:
        raise PluginError(
            f"cannot build the tokenizer of open_clip '{arch}': {type(exc).__name__}: {exc}. "
            "Architectures with a Hugging Face tokenizer need the `transformers` package and, the first time, "
            "access to the Hugging Face hub (or its files in the HF cache)."
        ) from None


@dataclass
class Loaded:
    model: Any
    tokenizer: Any
    path: Path
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def load(arch: str, tag: str | None, path: str | None, quick_gelu: bool | None, label: str = "") -> Loaded:
    """Find, read and load an open_clip model; the preprocessing follows the tag's config."""
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    weights = find(arch, tag, path, label)
    state, from_torchscript = read_state_dict(weights)
    cfg = tag_config(arch, tag)
    if quick_gelu is None:
        # OpenAI's TorchScript files were all trained with QuickGELU; other files say so by tag.
        quick_gelu = bool(cfg.get("quick_gelu", from_torchscript))
    model = create(arch, quick_gelu)
    load_into(model, state, weights, arch)
    mean = tuple(cfg.get("mean") or OPENAI_DATASET_MEAN)
    std = tuple(cfg.get("std") or OPENAI_DATASET_STD)
    return Loaded(model=model, tokenizer=tokenizer(arch), path=weights, mean=mean, std=std)
