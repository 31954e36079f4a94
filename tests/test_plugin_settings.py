"""Plugins declare their own run-level settings (register_settings) and lifecycle hooks read
them, and the rest of the run, through the documented RunView."""

from __future__ import annotations

import types
from dataclasses import dataclass

import pytest

import pixengine
from pixengine import option, plugins
from pixengine.errors import ConfigError, PluginError
from pixengine.outputs import read_run_document


@dataclass
class StampSettings:
    every: int = option(2, help="steps between stamps", min=1)
    label: str = option("stamp", help="file name prefix")


def stamp_plugin(seen: list) -> types.ModuleType:
    def register_settings(register):
        register("stamp", StampSettings)

    def on_step(run, step, image, losses):
        settings = run.settings_of("stamp")
        if step % settings.every == 0:
            run.write_file(f"{settings.label}-{step}.txt", str(step).encode())
        seen.append((run.step, run.steps, run.size, run.preset, len(run.history)))

    # Written out by hand once, as a plugin module would be; the other tests use the kit.
    module = types.ModuleType("stamper")
    module.register_settings = pixengine.hookimpl(register_settings)
    module.on_step = pixengine.hookimpl(on_step)
    return module


def test_a_plugins_settings_are_validated_defaulted_recorded_and_read_by_its_hooks(quick):
    seen: list = []
    plugins.register(stamp_plugin(seen), "stamper")
    result = pixengine.run("repaint", steps=4, width=16, height=16, **{"stamp.every": 3}, **quick)
    assert [p.name for p in result.paths if p.suffix == ".txt"] == ["stamp-3.txt"]
    assert seen[0] == (1, 4, (16, 16), "repaint", 1) and seen[-1][0] == 4
    # The section travels with the run, defaults filled in.
    assert read_run_document(result.final_path)["config"]["stamp"] == {"every": 3, "label": "stamp"}


def test_a_plugin_setting_out_of_bounds_names_its_key(quick):
    plugins.register(stamp_plugin([]), "stamper")
    with pytest.raises(ConfigError) as caught:
        pixengine.resolve("repaint", **{"stamp.every": 0})
    assert caught.value.key == "stamp.every" and "must be at least 1" in str(caught.value)
    with pytest.raises(ConfigError, match="unknown option 'evry' for settings of plugin 'stamper'; did you mean 'every'"):
        pixengine.resolve("repaint", **{"stamp.evry": 2})


def test_without_the_plugin_its_section_is_an_unknown_key():
    with pytest.raises(ConfigError, match="unknown key 'stamp'"):
        pixengine.resolve("repaint", **{"stamp.every": 2})


def test_a_section_named_like_a_core_key_or_taken_is_refused_alone(pixengine_plugin):
    info = pixengine_plugin(settings={"steps": StampSettings, "media": StampSettings}, name="greedy")
    assert info.ok
    assert info.refused == [
        "settings section 'steps' refused: it is a core key",
        "settings section 'media' refused: it belongs to plugin 'media'",
    ]


def test_a_lifecycle_hook_that_raises_is_named_and_the_run_keeps_its_image(quick, tmp_path, pixengine_plugin):
    def on_step(run, step, image, losses):
        if step == 2:
            raise ValueError("disk quota")

    pixengine_plugin(hooks={"on_step": on_step}, name="faulty")
    with pytest.raises(PluginError, match=r"plugin 'faulty' failed in on_step: ValueError: disk quota"):
        pixengine.run("repaint", steps=4, width=16, height=16, **quick)
    document = read_run_document(tmp_path / "out" / "final.png")
    assert document["status"] == "failed" and document["step"] == 2


def test_the_run_view_is_read_only(quick, pixengine_plugin):
    views = []
    pixengine_plugin(hooks={"on_run_start": lambda run: views.append(run)}, name="peek")
    pixengine.run("repaint", steps=1, width=16, height=16, **quick)
    view = views[0]
    with pytest.raises(AttributeError):
        view.step = 5
    with pytest.raises(Exception):  # omegaconf's ReadonlyConfigError
        view.config.steps = 5
    assert isinstance(view, pixengine.RunView) and "repaint" in repr(view)
