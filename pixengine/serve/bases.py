"""What a form starts from and a run is made from: its *base*.

* a registered preset, by name (``"repaint"``): never a path;
* a past run of the gallery (``"run:ID"``): Re-run and Remix;
* a recipe dropped on the page (``"dropped:SHA256"``): a PNG written by pixengine, or a bundle,
  kept under ``.studio/recipes/`` and read by pixengine's own bounded reader.

A run or dropped base is a *shared* recipe for pixengine (:mod:`pixengine.sharing.paths`): the
files it names are used only if they are pkg: assets, inside its bundle, or identical to what
its run recorded; anything else is refused at its key, and the page asks for an upload there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .. import config as config_module
from ..errors import ConfigError, PixengineError
from ..outputs import read_run_document, store_by_content
from ..sharing.recipes import open_recipe
from . import catalog
from .errors import ApiError, keyed
from .option_schema import form_of, plain

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"


@dataclass
class Base:
    #: "preset", "run" or "dropped".
    kind: str
    #: The preset name, run id or dropped recipe's SHA-256.
    ref: str
    #: What pixengine.resolve takes: a preset name, a run folder, a recipe file.
    recipe: str
    title: str

    @property
    def name(self) -> str:
        """How requests name it: ``repaint``, ``run:ID``, ``dropped:SHA``."""
        return self.ref if self.kind == "preset" else f"{self.kind}:{self.ref}"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "ref": self.name, "title": self.title}


def preset(name: str) -> Base:
    if name not in catalog.preset_names():
        from ..errors import did_you_mean

        raise keyed([("preset", f"unknown preset '{name}'; {did_you_mean(name, catalog.preset_names())}")])
    return Base("preset", name, name, f"preset {name}")


def of_run(run_id: str, folder: Path | None) -> Base:
    if folder is None:
        raise keyed([("recipe", f"no run '{run_id}' in the gallery")])
    return Base("run", run_id, str(folder), f"run {run_id}")


class DroppedRecipes:
    """Recipes dropped on the page, kept as sent (they are only ever read by pixengine's
    bounded readers), named by their SHA-256."""

    def __init__(self, folder: Path, max_bytes: int):
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True)

    def kind_of(self, data: bytes) -> str | None:
        if data.startswith(PNG_SIGNATURE):
            return "png"
        if data.startswith(ZIP_SIGNATURE):
            return "zip"
        return None

    def add(self, data: bytes) -> tuple[str, Path]:
        kind = self.kind_of(data)
        if kind is None:
            raise ApiError(415, "a recipe is a PNG written by pixengine or a bundle .zip; this file is neither")
        return store_by_content(self.folder, data, kind)

    def path_of(self, sha: str) -> Path | None:
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            return None
        for suffix in ("png", "zip"):
            path = self.folder / f"{sha}.{suffix}"
            if path.is_file():
                return path
        return None

    def base(self, sha: str) -> Base:
        path = self.path_of(sha)
        if path is None:
            raise keyed([("recipe", f"no dropped recipe 'dropped:{sha[:12]}...' on this server; drop the file again")])
        return Base("dropped", sha, str(path), "the dropped " + ("bundle" if path.suffix == ".zip" else "image"))


def has_recipe(path: Path) -> bool:
    """Whether a PNG carries a pixengine run (screenshots and other PNGs do not)."""
    try:
        read_run_document(path)
    except ConfigError:
        return False
    return True


def form_spec(base: Base, prompt: str | None = None):
    """The validated run of a base, for its form: like :func:`pixengine.resolve`, but a shared
    recipe's files are not checked here (a missing one is reported at its key when the form
    is checked), so a form can be shown for a recipe whose images must be uploaded again."""
    from ..validate import validate

    registry = catalog.registry()
    try:
        if base.kind == "preset":
            loaded = config_module.load(base.recipe, registry.presets)
        else:
            recipe = open_recipe(base.recipe)
            loaded = config_module.load(None, registry.presets, base={**recipe.config, "output_dir": None},
                                        base_source=recipe.origin)
        if prompt is not None:
            config_module.apply_overrides(loaded, {"prompt": prompt})
        return validate(loaded, registry)
    except ConfigError as exc:
        raise keyed([(exc.key or ("preset" if base.kind == "preset" else "recipe"), str(exc))]) from None
    except PixengineError as exc:
        raise ApiError(422, f"{base.title}: {exc}") from None


def describe(base: Base) -> dict:
    """A base as the page needs it: the recipe it resolves to, and its form."""
    from omegaconf import OmegaConf

    spec = form_spec(base)
    config = plain(OmegaConf.to_container(spec.config))
    config.pop("output_dir", None)
    import yaml

    return {
        "base": base.as_dict(),
        "preset": spec.settings.preset,
        "description": spec.settings.description,
        "recipe": config,
        "yaml": yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
        "form": form_of(spec, catalog.registry()),
    }
