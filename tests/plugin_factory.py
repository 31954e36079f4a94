"""Build real third-party plugin distributions for tests: a source tree with its own
pyproject.toml and ``pixengine`` entry point, installed by pip into a folder that tests put on
``sys.path`` (or ``PYTHONPATH`` for subprocesses)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def build_and_install(
    root: Path, dist: str, module: str, source: str, entry_name: str | None = None, presets: dict[str, str] | None = None
) -> Path:
    """Write a distribution ``dist`` with package ``module`` (``__init__.py`` = ``source``) and,
    with ``presets`` (file stem -> YAML), a preset folder announced in ``pixengine.presets``;
    pip-install it into ``root/site`` and return that folder."""
    src = root / "src" / dist
    (src / module).mkdir(parents=True, exist_ok=True)
    (src / module / "__init__.py").write_text(textwrap.dedent(source))
    packages = [module]
    preset_entry = ""
    if presets:
        (src / module / "presets").mkdir(exist_ok=True)
        (src / module / "presets" / "__init__.py").write_text("")
        for stem, text in presets.items():
            (src / module / "presets" / f"{stem}.yaml").write_text(textwrap.dedent(text))
        packages.append(f"{module}.presets")
        preset_entry = f'\n[project.entry-points."pixengine.presets"]\n{entry_name or module} = "{module}.presets"\n'
    (src / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools>=77"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{dist}"
            version = "0.3.1"

            [project.entry-points.pixengine]
            {entry_name or module} = "{module}"

            [tool.setuptools]
            packages = {packages!r}

            [tool.setuptools.package-data]
            "*" = ["*.yaml"]
            """
        ).replace("'", '"')
        + preset_entry
    )
    site = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(src)],
        check=True,
        capture_output=True,
    )
    return site


CHECKER_PLUGIN = """
    from dataclasses import dataclass
    import torch
    import pixengine
    from pixengine import option


    @dataclass
    class CheckerOptions:
        squares: int = option(4, help="squares per side", min=1)


    class Checker(pixengine.Parameterization):
        '''A checkerboard whose two colours are the parameters.'''
        name = "checker"
        Options = CheckerOptions

        def __init__(self, options, ctx):
            super().__init__(options, ctx)
            self.colors = torch.nn.Parameter(torch.zeros(2, 3))

        def forward(self):
            h, w = self.ctx.height, self.ctx.width
            ys = torch.arange(h) * self.options.squares // h
            xs = torch.arange(w) * self.options.squares // w
            mask = ((ys[:, None] + xs[None, :]) % 2).float().to(self.colors.device)
            a, b = torch.sigmoid(self.colors)
            image = a[:, None, None] * (1 - mask) + b[:, None, None] * mask
            return image.unsqueeze(0)


    @pixengine.hookimpl
    def register_parameterizations(register):
        register(Checker)
"""

BROKEN_IMPORT_PLUGIN = """
    import pixengine
    import a_module_that_does_not_exist  # noqa: F401
"""

RAISING_PLUGIN = """
    from dataclasses import dataclass
    import pixengine


    class Fine(pixengine.Loss):
        '''Would be fine, but the plugin fails as a whole.'''
        name = "fine_but_dropped"

        def forward(self, inputs):
            return inputs.image.mean()


    @pixengine.hookimpl
    def register_losses(register):
        register(Fine)


    @pixengine.hookimpl
    def register_parameterizations(register):
        raise RuntimeError("cannot find my GPU kernels")
"""

MISSPELT_HOOK_PLUGIN = """
    import pixengine


    @pixengine.hookimpl
    def register_loss(register):
        pass
"""


#: Reuses the built-ins' names (loss tv, parameterization pixels), adds a loss of its own
#: (MARK is replaced per distribution) and declares one loss's options wrongly.
DUPLICATE_PLUGIN = '''
    from dataclasses import dataclass
    import pixengine
    from pixengine import option


    class Tv(pixengine.Loss):
        """Not the built-in tv."""
        name = "tv"

        def forward(self, inputs):
            return inputs.image.mean() * 0


    class Pixels(pixengine.Parameterization):
        """Not the built-in pixels."""
        name = "pixels"


    class Dots(pixengine.Loss):
        """A loss of its own, from MARK."""
        name = "dots"

        def forward(self, inputs):
            return inputs.image.std()


    @dataclass
    class BadOptions(pixengine.LossOptions):
        cell: int = option("eight", help="cell size")


    class Badly(pixengine.Loss):
        """Declares an int option with a text default."""
        name = "badly_declared"
        Options = BadOptions

        def forward(self, inputs):
            return inputs.image.mean()


    @pixengine.hookimpl
    def register_losses(register):
        register(Tv)
        register(Dots)
        register(Badly)


    @pixengine.hookimpl
    def register_parameterizations(register):
        register(Pixels)
'''

DUPLICATE_PRESETS = {
    "default": "description: not the built-in default\nsteps: 1\nlosses: {d: {type: dots}}\n",
    "own_MARK": "description: a preset of its own\nextends: repaint\nlosses: {d: {type: dots, weight: 0.1}}\n",
}
