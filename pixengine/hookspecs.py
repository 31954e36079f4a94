"""Every hook a pixengine plugin can implement: the plugin author's contract.

A plugin is a module (or object) found through the ``pixengine`` entry-point group. It
implements some of the hooks below, each marked with ``@pixengine.hookimpl``::

    # my_plugin.py, declared in pyproject.toml as
    # [project.entry-points.pixengine]
    # my_plugin = "my_plugin"
    import pixengine

    PIXENGINE_API = "1.1"      # the plugin API it was written for (see pixengine.api_version)

    @pixengine.hookimpl
    def register_losses(register):
        register(MyLoss)

Built-in plugins (``plugins/`` in the repository, ``pixengine_plugins`` when installed) use
exactly this path. Presets are not registered by a hook but announced as data: a package in the
``pixengine.presets`` entry-point group (see docs/plugins.md, "Preset packs").

Hooks are grouped by phase. Registration hooks run once, when the plugin manager starts;
lifecycle hooks run during each run, in the order listed. Each hook says in which plugin API
version it appeared (``.. versionadded::``); :data:`SINCE` lists the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

import pluggy

if TYPE_CHECKING:  # the annotations only; importing them would load torch
    import torch

    from .components import Augmentation, Loss, Model, Parameterization
    from .engine import RunResult
    from .runview import RunView

hookspec = pluggy.HookspecMarker("pixengine")
hookimpl = pluggy.HookimplMarker("pixengine")

C = TypeVar("C", contravariant=True)


class Register(Protocol[C]):
    """The ``register`` callback of a registration hook: call it once per component."""

    def __call__(self, cls: C, name: str | None = None) -> None:
        """``cls``: the component class; ``name``: the name presets use, default ``cls.name``."""


class RegisterSettings(Protocol):
    """The ``register`` callback of :func:`register_settings`."""

    def __call__(self, section: str, options: type) -> None:
        """``section``: the top-level config key; ``options``: its dataclass (see pixengine.option)."""


#: The plugin API version in which each hook appeared.
SINCE = {
    "register_parameterizations": "1.0",
    "register_losses": "1.0",
    "register_augmentations": "1.0",
    "register_models": "1.0",
    "register_presets": "1.0",
    "register_settings": "1.1",
    "on_run_start": "1.0",
    "on_step": "1.0",
    "on_run_end": "1.0",
}

#: Hooks that still work but will go in the next major version, with what replaces them.
DEPRECATED = {
    "register_presets": (
        "1.1",
        "announce a preset package in the 'pixengine.presets' entry-point group instead: presets are then found "
        "without importing the plugin",
    ),
}


# ------------------------------------------------------------------------------------------
# Registration: called once per plugin manager. An exception raised here fails the plugin as
# a whole (``pixengine plugins list`` shows it) and does not stop other plugins. A component
# whose name another plugin already holds, or whose options are declared wrongly, is refused
# alone; the rest of the plugin loads. Built-in plugins always keep their names.
# ------------------------------------------------------------------------------------------


@hookspec
def register_parameterizations(register: Register[type[Parameterization]]) -> None:
    """Register image parameterizations: ``register(cls)`` with ``cls`` a subclass of
    :class:`pixengine.Parameterization`. A run's ``parameterization.type`` names one.

    .. versionadded:: 1.0
    """


@hookspec
def register_losses(register: Register[type[Loss]]) -> None:
    """Register losses: ``register(cls)`` with ``cls`` a subclass of :class:`pixengine.Loss`.
    A run's ``losses`` section maps labels to one or more of them.

    .. versionadded:: 1.0
    """


@hookspec
def register_augmentations(register: Register[type[Augmentation]]) -> None:
    """Register augmentations: ``register(cls)`` with ``cls`` a subclass of
    :class:`pixengine.Augmentation`. A run's ``augmentations`` section lists a chain.

    .. versionadded:: 1.0
    """


@hookspec
def register_models(register: Register[type[Model]]) -> None:
    """Register loadable models (CLIP encoders, feature extractors, generators):
    ``register(cls)`` with ``cls`` a subclass of :class:`pixengine.Model`. A run's ``models``
    section instantiates them under labels that losses and parameterizations refer to.

    .. versionadded:: 1.0
    """


@hookspec
def register_presets(register: Callable[..., None]) -> None:
    """Register YAML presets from code: ``register(path)`` with a ``.yaml`` file (named after its
    stem) or a directory (every ``*.yaml`` in it); ``register(path, name="other")`` renames a file.

    .. versionadded:: 1.0
    .. deprecated:: 1.1
       Announce a preset package in the ``pixengine.presets`` entry-point group instead, so
       presets are found without importing plugin code. Presets registered here are still
       found by ``pixengine run`` but not by ``pixengine presets list``.
    """


@hookspec
def register_settings(register: RegisterSettings) -> None:
    """Declare run-level settings the plugin reads: ``register("media", MediaSettings)`` adds a
    top-level ``media:`` section to every run's config, checked like component options
    (``MediaSettings`` is a dataclass of :func:`pixengine.option` fields, all with defaults).
    Lifecycle hooks read it as ``run.settings_of("media")``.

    .. versionadded:: 1.1
    """


# ------------------------------------------------------------------------------------------
# Lifecycle: called during a run, after registration, with a read-only
# :class:`pixengine.RunView` of the run. An exception raised here stops the run, which keeps
# its last image; the message names the plugin and the hook.
# ------------------------------------------------------------------------------------------


@hookspec
def on_run_start(run: RunView) -> None:
    """Called once the run is built (components loaded, output folder made and locked),
    before step 1 (or before the first step after a resume).

    .. versionadded:: 1.0
    """


@hookspec
def on_step(run: RunView, step: int, image: torch.Tensor, losses: dict[str, float]) -> None:
    """Called after each optimisation step.

    ``step`` counts from 1; ``image`` is the detached image the step's losses were computed
    on, shape (B, 3, H, W) in [0, 1]; ``losses`` maps each loss label (and ``"total"``) to its
    float value, weighted. To end the run early on purpose, call ``run.stop(reason)``
    (:meth:`pixengine.RunView.stop`, API 1.2).

    .. versionadded:: 1.0
    """


@hookspec
def on_run_end(run: RunView, result: RunResult) -> None:
    """Called once when the run ends, normally or not. ``result.status`` is ``"finished"``,
    ``"interrupted"`` (Ctrl-C, SIGTERM), ``"stopped"`` (a hook called ``run.stop``), ``"nonfinite"`` (NaN/inf loss) or ``"failed"``; the
    final image has already been written to ``result.final_path``.

    .. versionadded:: 1.0
    """
