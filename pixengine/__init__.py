"""pixengine: a plugin-based generative art engine.

The names plugin authors and scripts need are importable from here::

    import pixengine

    result = pixengine.run("default", steps=50)

    @pixengine.hookimpl
    def register_losses(register):
        register(MyLoss)

Names that need torch (the component base classes, ``run``...) are imported on first use, so
commands that only read presets or a PNG's recipe start without loading torch.
"""

import os

# OpenMP threads that spin while they wait make torch 10-70x slower whenever another process
# holds a core (measured on a shared 2-core machine: a 500k-element multiply took 11.8 ms with
# two spinning threads, 0.2 ms with passive waiting, 0.16 ms on one thread). It only takes
# effect if set before torch is first imported; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .api_version import API_VERSION  # noqa: E402
from .errors import ConfigError, NonFiniteLossError, PixengineError, PluginError, WeightsNotFoundError  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402
from .lazy import lazy_names  # noqa: E402
from .options import FileOption, NoOptions, option  # noqa: E402

#: Public names imported on first use: name -> (module, name there).
_LAZY = {
    name: (module, name)
    for module, names in {
        "components": ["Augmentation", "CatalogEntry", "Loss", "LossOptions", "Model", "Parameterization", "StepInputs"],
        "api": ["prepare", "resolve", "run"],
        "engine": ["RunResult"],
        "runview": ["RunView"],
        "seed_variations": ["variations"],
    }.items()
    for name in names
}
_lazy_getattr, __dir__ = lazy_names(__name__, _LAZY, globals())


def _version() -> str:
    """The installed distribution's version (reading package metadata costs ~70 ms, which
    ``pixengine --help`` need not pay)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pixengine")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0.0.0+unknown"


def __getattr__(name: str):
    if name == "__version__":
        globals()[name] = _version()
        return globals()[name]
    return _lazy_getattr(name)


__all__ = [
    "__version__",
    "API_VERSION",
    "hookimpl",
    "option",
    "FileOption",
    "NoOptions",
    "ConfigError",
    "PixengineError",
    "PluginError",
    "WeightsNotFoundError",
    "NonFiniteLossError",
    *_LAZY,
]
