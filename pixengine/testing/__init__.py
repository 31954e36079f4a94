"""The plugin author's test kit: the same fixtures and contract checks pixengine's own
components pass.

Installed with pixengine and registered as a pytest plugin (the ``pytest11`` entry point), so a
plugin's tests can use its fixtures without importing anything::

    def test_my_loss_keeps_the_contract(tmp_path):
        from pixengine.testing import check_loss
        check_loss("vignette", tmp_path)

    def test_my_loss_in_a_run(pixengine_plugin, pixengine_overrides):
        pixengine_plugin(Vignette)                     # registered for this test only
        result = pixengine.run("repaint", steps=3, **pixengine_overrides)

Fixtures (``pixengine.testing.plugin``): ``pixengine_registry``, ``pixengine_plugin``,
``pixengine_overrides``, ``pixengine_tiny_clip``, ``pixengine_context``.
Functions: :func:`make_plugin`, :func:`quick_overrides`, :func:`run_context`,
:func:`make_tiny_clip`, and the contract checks :func:`check_parameterization`,
:func:`check_loss`, :func:`check_augmentation`, :func:`check_model`, :func:`check_options`.

Names are imported on first use, so loading the pytest plugin costs nothing until a test
uses it.

.. versionadded:: 1.1
"""

from importlib import import_module

_LAZY = {
    "make_plugin": "registration",
    "registered": "registration",
    "quick_overrides": "runs",
    "run_context": "runs",
    "build_run": "runs",
    "make_tiny_clip": "tiny_clip",
    "TinyClip": "tiny_clip",
    "check_parameterization": "contracts",
    "check_loss": "contracts",
    "check_augmentation": "contracts",
    "check_model": "contracts",
    "check_options": "contracts",
    "ParameterizationContract": "contracts",
    "LossContract": "contracts",
    "AugmentationContract": "contracts",
    "ModelContract": "contracts",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pixengine.testing' has no attribute '{name}'")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = sorted(_LAZY)
