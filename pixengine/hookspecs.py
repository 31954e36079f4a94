"""Every hook a pixengine plugin can implement: the plugin author's contract.

A plugin is a module (or object) found through the ``pixengine`` entry-point group. It
implements some of the hooks below, each marked with ``@pixengine.hookimpl``::

    # my_plugin.py, declared in pyproject.toml as
    # [project.entry-points.pixengine]
    # my_plugin = "my_plugin"
    import pixengine

    @pixengine.hookimpl
    def register_losses(register):
        register(MyLoss)

Built-in plugins (``plugins/`` in the repository, ``pixengine_plugins`` when installed) use
exactly this path. Hooks are grouped by phase: registration hooks run once when the plugin
manager starts; lifecycle hooks run during each run, in the order they are listed.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("pixengine")
hookimpl = pluggy.HookimplMarker("pixengine")


# ------------------------------------------------------------------------------------------
# Registration: called once per plugin manager. ``register`` is a callback; call it once per
# component. A component is a class with a ``name`` (str), an ``Options`` dataclass and a
# docstring; see pixengine.components for the base class of each kind.
# An exception raised here is reported against the plugin (``pixengine plugins list``) and
# does not stop other plugins from registering.
# ------------------------------------------------------------------------------------------


@hookspec
def register_parameterizations(register):
    """Register image parameterizations: ``register(cls)`` with ``cls`` a subclass of
    :class:`pixengine.Parameterization`. A run's ``parameterization.type`` names one."""


@hookspec
def register_losses(register):
    """Register losses: ``register(cls)`` with ``cls`` a subclass of :class:`pixengine.Loss`.
    A run's ``losses`` section maps labels to one or more of them."""


@hookspec
def register_augmentations(register):
    """Register augmentations: ``register(cls)`` with ``cls`` a subclass of
    :class:`pixengine.Augmentation`. A run's ``augmentations`` section lists a chain."""


@hookspec
def register_models(register):
    """Register loadable models (CLIP encoders, feature extractors, generators):
    ``register(cls)`` with ``cls`` a subclass of :class:`pixengine.Model`. A run's ``models``
    section instantiates them under labels that losses and parameterizations refer to."""


@hookspec
def register_presets(register):
    """Register YAML presets: ``register(path)`` with a ``.yaml`` file (named after its stem)
    or a directory (every ``*.yaml`` in it); ``register(path, name="other")`` renames a file.
    """


# ------------------------------------------------------------------------------------------
# Lifecycle: called during a run, after registration. ``run`` is the
# :class:`pixengine.engine.Run` being executed: its ``config``, ``output_dir``, ``step`` and
# ``paths`` are available. Exceptions propagate: a lifecycle plugin that fails stops the run,
# which still keeps its last image.
# ------------------------------------------------------------------------------------------


@hookspec
def on_run_start(run):
    """Called once the run is built (components loaded, output folder made), before step 1."""


@hookspec
def on_step(run, step, image, losses):
    """Called after each optimisation step.

    ``step`` counts from 1; ``image`` is the detached image the step's losses were computed
    on, shape (B, 3, H, W) in [0, 1]; ``losses`` maps each loss label (and ``"total"``) to its
    float value, weighted.
    """


@hookspec
def on_run_end(run, result):
    """Called once when the run ends, normally or not. ``result.status`` is ``"finished"``,
    ``"interrupted"`` (Ctrl-C), ``"nonfinite"`` (NaN/inf loss) or ``"failed"``; the final
    image has already been written to ``result.final_path``."""
