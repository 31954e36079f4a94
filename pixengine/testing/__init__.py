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

from ..lazy import lazy_names

#: Public names imported on first use: name -> (module, name there).
_LAZY = {
    name: (module, name)
    for module, names in {
        "registration": ["make_plugin", "registered"],
        "runs": ["quick_overrides", "run_context", "build_run"],
        "tiny_clip": ["make_tiny_clip", "TinyClip"],
        "contracts": ["check_parameterization", "check_loss", "check_augmentation", "check_model", "check_options",
                      "ParameterizationContract", "LossContract", "AugmentationContract", "ModelContract"],
    }.items()
    for name in names
}
__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())

__all__ = sorted(_LAZY)
