"""pixengine: a plugin-based generative art engine.

The names plugin authors and scripts need are importable from here::

    import pixengine

    result = pixengine.run("default", steps=50)

    @pixengine.hookimpl
    def register_losses(register):
        register(MyLoss)
"""

import os
from importlib.metadata import PackageNotFoundError, version

# OpenMP threads that spin while they wait make torch 10-70x slower whenever another process
# holds a core (measured on a shared 2-core machine: a 500k-element multiply took 11.8 ms with
# two spinning threads, 0.2 ms with passive waiting, 0.16 ms on one thread). It only takes
# effect if set before torch is first imported; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    __version__ = version("pixengine")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

from .hookspecs import hookimpl  # noqa: E402
from .options import option, NoOptions  # noqa: E402
from .components import (  # noqa: E402
    Augmentation,
    CatalogEntry,
    Loss,
    LossOptions,
    Model,
    Parameterization,
    StepInputs,
)
from .errors import ConfigError, PixengineError, PluginError, WeightsNotFoundError, NonFiniteLossError  # noqa: E402
from .api import prepare, resolve, run  # noqa: E402
from .engine import RunResult  # noqa: E402
from .variations import variations  # noqa: E402

__all__ = [
    "__version__",
    "hookimpl",
    "option",
    "NoOptions",
    "Augmentation",
    "CatalogEntry",
    "Loss",
    "LossOptions",
    "Model",
    "Parameterization",
    "StepInputs",
    "ConfigError",
    "PixengineError",
    "PluginError",
    "WeightsNotFoundError",
    "NonFiniteLossError",
    "prepare",
    "resolve",
    "run",
    "RunResult",
    "variations",
]
