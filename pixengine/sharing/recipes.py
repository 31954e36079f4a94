"""What a recipe is and where it comes from. ``pixengine run``, ``share``, ``info``, ``presets
validate`` and ``presets diff`` all accept the same things:

* a registered preset name or a preset ``.yaml`` file (a recipe the user chose to run);
* a PNG written by pixengine (the run in its ``pixengine`` chunk);
* a run folder (its ``run.yaml``, else its ``final.png``);
* a bundle ``.zip`` written by ``pixengine share``.

A recipe that came from a PNG, a run folder or a bundle is *shared*: it may have been made by
someone else, so the files it names are restricted (see :mod:`pixengine.sharing.paths`).
Opening a recipe reads data only: no torch, no plugin code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..outputs import parse_run_document, read_run_document
from ..safe_yaml import DEFAULT_LIMITS

RUN_YAML = "run.yaml"
FINAL_NAME = "final.png"
BUNDLE_SUFFIX = ".zip"


@dataclass
class Recipe:
    #: "preset", "png", "run" (a run folder) or "bundle".
    kind: str
    #: What the user named.
    ref: str
    #: The run document (metadata and ``config``) of a shared recipe; None for a preset.
    document: dict | None = None
    #: The file the document was read from, for error messages.
    origin: str = ""
    #: The opened bundle (its extracted folder and manifest), for bundles.
    bundle: Any = None

    @property
    def shared(self) -> bool:
        """Whether the recipe may come from someone else (its file paths are restricted)."""
        return self.kind != "preset"

    @property
    def config(self) -> dict:
        return dict(self.document["config"]) if self.document else {}

    @property
    def metadata(self) -> dict:
        return {k: v for k, v in (self.document or {}).items() if k != "config"}


def kind_of(ref: str | Path) -> str:
    """The kind of recipe ``ref`` names, from its form alone."""
    text = str(ref)
    path = Path(text).expanduser()
    if text.lower().endswith(BUNDLE_SUFFIX):
        return "bundle"
    if text.lower().endswith(".png"):
        return "png"
    if path.is_dir():
        return "run"
    return "preset"


def open_recipe(ref: str | Path | None) -> Recipe:
    """The recipe ``ref`` names (None: the ``default`` preset)."""
    if ref is None:
        return Recipe(kind="preset", ref="default")
    kind = kind_of(ref)
    text = str(ref)
    if kind == "preset":
        return Recipe(kind="preset", ref=text)
    path = Path(text).expanduser()
    if kind == "png":
        return Recipe(kind="png", ref=text, document=read_run_document(path), origin=f"{path}")
    if kind == "bundle":
        from .bundle import open_bundle

        opened = open_bundle(path)
        return Recipe(kind="bundle", ref=text, document=opened.document, origin=f"{path}", bundle=opened)
    return Recipe(kind="run", ref=text, document=read_run_folder(path), origin=str(path))


def read_run_folder(folder: Path) -> dict:
    """The run document of a run folder: ``run.yaml``, else the chunk of ``final.png``."""
    document_path = folder / RUN_YAML
    if document_path.is_file():
        size = document_path.stat().st_size
        if size > DEFAULT_LIMITS.max_bytes:
            raise ConfigError(f"{size} bytes, more than a run document may have; refused", source=str(document_path))
        return parse_run_document(document_path.read_bytes(), str(document_path))
    if (folder / FINAL_NAME).is_file():
        return read_run_document(folder / FINAL_NAME)
    raise ConfigError(
        f"'{folder}' is a folder without {RUN_YAML} or {FINAL_NAME}: not a run folder "
        "(a recipe is a preset name or .yaml file, a PNG written by pixengine, a run folder or a bundle .zip)"
    )
