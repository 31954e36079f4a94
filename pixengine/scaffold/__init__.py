"""``pixengine plugins new NAME``: a ready plugin package, like the llm and datasette plugin
templates: a pyproject with the entry points and a compatible pixengine range, a working
component of the chosen kind (or a preset pack with an asset), a preset that shows it, tests
that use :mod:`pixengine.testing`, and a README. ``pip install -e '.[test]' && pytest`` passes
as generated.

The templates are ``string.Template`` files in ``templates/`` (``$name`` placeholders, so the
Python and TOML braces they contain need no escaping).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from .. import __version__
from ..api_version import API_VERSION, parse
from ..errors import PixengineError

KINDS = ("loss", "parameterization", "augmentation", "model", "presets")

#: kind -> (summary, what the module holds, the contract check, extra check arguments)
_KIND_TEXT = {
    "loss": ("A pixengine loss: darkens the corners (a vignette).", "the loss and its registration", "check_loss", ""),
    "parameterization": ("A pixengine parameterization: a mosaic of flat colour tiles.", "the parameterization and its registration", "check_parameterization", ""),
    "augmentation": ("A pixengine augmentation: a random circular shift of each view.", "the augmentation and its registration", "check_augmentation",
                     ', config={"augmentations": {"cuts": {"type": "cutouts", "count": 3, "size": 24}}}'),
    "model": ("A pixengine feature model: image edges at two scales.", "the model and its registration", "check_model", ""),
    "presets": ("A pixengine preset pack.", "nothing: a preset pack needs no code", "", ""),
}

_DEMO_PRESETS = {
    "loss": """\
description: The shipped cat repainted, with $name darkening its corners
extends: repaint
losses:
  $name: {type: $name, weight: 0.5}
""",
    "parameterization": """\
description: The shipped cat repainted as a $name mosaic
extends: repaint
parameterization: {type: $name, tiles: 12}
optimizer: {lr: 0.1}
""",
    "augmentation": """\
description: Texture of the shipped swirls, seen through cutouts shifted by $name
extends: repaint
augmentations:
  cuts: {type: cutouts, count: 4, size: 48}
  shift: {type: $name, max_shift: 0.2}
models:
  gabor: {type: gabor, scales: 2}
losses:
  texture: {type: feature_stats, model: gabor, image: "pkg:pixengine_presets/assets/swirls.png", views: true}
""",
    "model": """\
description: The shipped cat with the edge statistics of the shipped swirls, measured by $name
extends: repaint
models:
  edges: {type: $name}
losses:
  edges: {type: feature_stats, model: edges, image: "pkg:pixengine_presets/assets/swirls.png", weight: 0.5}
""",
    "presets": """\
description: The shipped cat repainted in the colours of this pack's palette image
extends: repaint
losses:
  colors: {image: "pkg:$module/presets/palette.png"}
""",
}


@dataclass
class Scaffold:
    name: str
    kind: str
    folder: Path
    files: list[Path]


def names(name: str) -> dict[str, str]:
    """The names a plugin called ``name`` uses: component, module, distribution, class."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise PixengineError(f"'{name}' is not a plugin name: lowercase letters, digits and '_', starting with a letter")
    return {
        "name": name,
        "module": f"pixengine_{name}",
        "dist": f"pixengine-{name.replace('_', '-')}",
        "Class": "".join(part.capitalize() for part in name.split("_")),
    }


def pixengine_range() -> str:
    """The pixengine releases a new plugin can rely on: this one up to the next API major."""
    major, _ = parse(API_VERSION)
    release = ".".join(__version__.split("+")[0].split(".")[:2])
    return f">={release},<{major + 1}" if not release.startswith("0.") else f">={release},<1"


def _template(name: str) -> Template:
    return Template(resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8"))


def create(name: str, kind: str = "loss", output: str | Path | None = None) -> Scaffold:
    """Write the plugin package into ``output`` (default ``./pixengine-NAME``)."""
    if kind not in KINDS:
        raise PixengineError(f"unknown kind '{kind}'; choose one of {', '.join(KINDS)}")
    values = names(name)
    folder = Path(output) if output else Path(values["dist"])
    if folder.exists() and any(folder.iterdir()):
        raise PixengineError(f"'{folder}' exists and is not empty; choose another folder with -o")
    summary, what, check, check_args = _KIND_TEXT[kind]
    module = values["module"]
    entry_points = f'\n[project.entry-points."pixengine.presets"]\n{name} = "{module}.presets"\n'
    if kind != "presets":
        entry_points = f'\n[project.entry-points.pixengine]\n{name} = "{module}"\n' + entry_points
    values.update(
        kind=kind, summary=summary, what=what, check=check, check_args=check_args, api=API_VERSION,
        api_major=str(parse(API_VERSION)[0]), pixengine_range=pixengine_range(), entry_points=entry_points,
        packages=f'"{module}", "{module}.presets"',
        usage=f"In a preset: see `{module}/presets/{name}_demo.yaml`." if kind != "presets" else "Run its presets by name.",
    )
    files = {
        "pyproject.toml": _template("pyproject.toml.tmpl").substitute(values),
        "README.md": _template("README.md.tmpl").substitute(values),
        f"{module}/presets/__init__.py": _template("presets_init.py.tmpl").substitute(values),
        f"{module}/presets/{name}_demo.yaml": Template(_DEMO_PRESETS[kind]).substitute(values),
    }
    if kind == "presets":
        files[f"{module}/__init__.py"] = ""
        files[f"tests/test_{name}.py"] = _template("test_presets.py.tmpl").substitute(values)
    else:
        files[f"{module}/__init__.py"] = _template(f"{kind}.py.tmpl").substitute(values)
        files[f"tests/test_{name}.py"] = _template("test_component.py.tmpl").substitute(values)
    written = []
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    if kind == "presets":
        written.append(_palette_asset(folder / module / "presets" / "palette.png"))
    return Scaffold(name=name, kind=kind, folder=folder, files=written)


def _palette_asset(path: Path) -> Path:
    """A small four-colour image: the asset the generated preset pack ships."""
    from PIL import Image

    image = Image.new("RGB", (32, 32))
    for i, colour in enumerate([(38, 70, 83), (42, 157, 143), (233, 196, 106), (231, 111, 81)]):
        image.paste(colour, (i * 8, 0, i * 8 + 8, 32))
    image.save(path)
    return path
