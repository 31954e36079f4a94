"""The tensors of a TorchScript archive, read without running any of its code.

OpenAI's released CLIP files (what pixray and VQGAN+CLIP users keep in ``~/.cache/clip``) are
TorchScript archives. ``torch.jit.load`` compiles and runs the archive's code (its
``__setstate__`` methods, for a start) before any key can be checked, and ``torch.load``
refuses such archives when asked not to run code. So this module reads the one part that
holds the weights, ``data.pkl``, with an unpickler that can build nothing but tensors,
ordered dicts and inert stand-ins for the archive's module classes; the ``code/`` folder is
never read. Python's documented way to restrict unpickling ("Restricting Globals") is the whole
technique; no library offers it for TorchScript archives.

Anything else in the pickle (a class outside the archive's own ``__torch__`` modules, custom
state) is refused with a message saying how to convert the file on a machine you trust.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

from .errors import ConfigError

CONVERT_HINT = (
    "If you trust the file, convert it once on a machine you trust: "
    "python -c \"import torch, safetensors.torch as s; m = torch.jit.load('FILE.pt', map_location='cpu'); "
    "s.save_file({k: v.contiguous() for k, v in m.state_dict().items()}, 'FILE.safetensors')\" "
    "and use the .safetensors file."
)

#: data.pkl describes the modules; the tensors' bytes are separate records. CLIP ViT-L's is 60 kB.
_MAX_PICKLE_BYTES = 64 << 20

_STORAGE_DTYPES = {
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "DoubleStorage": "float64",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
}


def is_torchscript(path: str | Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip with ``constants.pkl`` and ``code/``)."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors" or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") or name == "constants.pkl" for name in archive.namelist())


class _ScriptObject:
    """Stands in for one of the archive's ``__torch__`` classes: keeps the state it is given."""

    qualified_name = ""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(
                f"'{self.qualified_name}' stores its state in a custom form (not attribute by attribute)"
            )
        self.state = state


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, source: str):
        import io

        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.prefix = prefix
        self.source = source
        self._classes: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        import torch

        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
            return _rebuild_parameter
        if module == "torch.jit._pickle" and name in _TYPED_CONTAINERS:
            return _TYPED_CONTAINERS[name]
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return getattr(torch, _STORAGE_DTYPES[name])
        if module == "__torch__" or module.startswith("__torch__."):
            qualified = f"{module}.{name}"
            if qualified not in self._classes:
                self._classes[qualified] = type(name, (_ScriptObject,), {"qualified_name": qualified})
            return self._classes[qualified]
        raise pickle.UnpicklingError(f"it refers to '{module}.{name}', which a weight file has no use for")

    def persistent_load(self, pid: Any) -> Any:
        import torch

        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        _, dtype, key, _location, numel = pid
        if not isinstance(dtype, torch.dtype) or not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError(f"malformed storage record {pid!r}")
        member = f"{self.prefix}data/{key}"
        try:
            info = self.archive.getinfo(member)
        except KeyError:
            raise pickle.UnpicklingError(f"storage '{key}' is missing from the archive") from None
        expected = numel * torch.empty((), dtype=dtype).element_size()
        # Stored uncompressed, as torch.jit.save writes them: the bytes read are the bytes on disk.
        if info.compress_type != zipfile.ZIP_STORED or info.file_size != expected:
            raise pickle.UnpicklingError(f"storage '{key}' is not {expected} stored bytes")
        data = bytearray(self.archive.read(member))
        return torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    import torch

    if not isinstance(storage, torch.Tensor):
        raise pickle.UnpicklingError("a tensor without a storage")
    try:
        return torch.as_strided(storage, tuple(size), tuple(stride), int(offset))
    except RuntimeError as exc:  # sizes and strides reaching outside their storage
        raise pickle.UnpicklingError(f"a tensor does not fit its storage ({exc})") from None


def _rebuild_parameter(data, *_ignored):
    return data


#: TorchScript tags its typed lists with these; to Python they are the plain values.
_TYPED_CONTAINERS = {
    "build_intlist": lambda data: data,
    "build_tensorlist": lambda data: data,
    "build_doublelist": lambda data: data,
    "build_boollist": lambda data: data,
    "restore_type_tag": lambda value, _type: value,
}


def _tensors(obj: Any, prefix: str, out: dict) -> None:
    import torch

    state = obj.state if isinstance(obj, _ScriptObject) else obj
    if not isinstance(state, dict):
        return
    for name, value in state.items():
        key = f"{prefix}{name}"
        if isinstance(value, torch.Tensor):
            out[key] = value
        elif isinstance(value, (_ScriptObject, dict)):
            _tensors(value, f"{key}.", out)


def read_tensors(path: str | Path, *, key: str | None = "path") -> dict[str, Any]:
    """Every tensor attribute of the archive's modules, by dotted name (as ``state_dict()``)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") <= 1]
            if len(pickles) != 1:
                raise pickle.UnpicklingError("it has no single data.pkl record")
            prefix = pickles[0][: -len("data.pkl")]
            if archive.getinfo(pickles[0]).file_size > _MAX_PICKLE_BYTES:
                raise pickle.UnpicklingError("its data.pkl is implausibly large")
            root = _Unpickler(archive.read(pickles[0]), archive, prefix, str(path)).load()
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"'{path}' is a TorchScript archive whose weights cannot be read safely: {exc}. {CONVERT_HINT}", key=key
        ) from None
    tensors: dict[str, Any] = {}
    _tensors(root, "", tensors)
    if not tensors:
        raise ConfigError(f"'{path}' is a TorchScript archive without weights. {CONVERT_HINT}", key=key)
    return tensors
