"""Presets: inheritance, overrides, safe loading, and every validation error naming the file, the
key and what would be valid."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import pixengine
from pixengine.testing import make_plugin
from pixengine.errors import ConfigError


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def family(tmp_path):
    """base <- mid <- child, and child also extends a second parent."""
    write(tmp_path, "base.yaml", """
        steps: 10
        width: 64
        parameterization: {type: pixels, init_noise: 0.1}
        losses:
          smooth: {type: tv, weight: 0.5}
          colors: {type: color_stats, image: "pkg:pixengine_presets/assets/chelsea.jpg"}
    """)
    write(tmp_path, "mid.yaml", """
        extends: base
        steps: 20
        losses:
          smooth: {norm: l2}
    """)
    write(tmp_path, "palette.yaml", """
        height: 48
        losses:
          colors: null
    """)
    child = write(tmp_path, "child.yaml", """
        extends: [mid, palette.yaml]
        description: the child
        losses:
          smooth: {weight: 2.0}
    """)
    return child


def test_inheritance_several_parents_and_levels(family):
    spec = pixengine.resolve(str(family))
    cfg = spec.config
    assert cfg.steps == 20  # mid over base
    assert (cfg.width, cfg.height) == (64, 48)  # base and second parent
    assert cfg.losses.smooth == {"type": "tv", "weight": 2.0, "norm": "l2"}  # three files merged
    assert "colors" not in cfg.losses  # null removes an inherited component
    assert cfg.parameterization.init_noise == 0.1
    assert cfg.parameterization.colorspace == "rgb"  # defaults filled in
    assert cfg.preset == "child" and "extends" not in cfg


def test_overrides_from_strings_mappings_and_keywords(family):
    spec = pixengine.resolve(
        str(family), "a red door", overrides=["steps=7", "losses.smooth.norm=l1", "optimizer.decay_at=[0.5,0.75]"],
        **{"losses.smooth.weight": 0.25, "seed": "door"},
    )
    cfg = spec.config
    assert cfg.steps == 7 and cfg.prompt == "a red door" and cfg.seed == "door"
    assert cfg.losses.smooth.norm == "l1" and cfg.losses.smooth.weight == 0.25
    assert list(cfg.optimizer.decay_at) == [0.5, 0.75]
    assert [loss.label for loss in spec.losses] == ["smooth"]


def test_interpolation_of_the_prompt(tmp_path):
    write(tmp_path, "p.yaml", "description: 'Prompt was ${prompt}'\nlosses: {tv: {}}\n")
    spec = pixengine.resolve(str(tmp_path / "p.yaml"), "a boat")
    assert spec.config.description == "Prompt was a boat"


def test_null_seed_is_chosen_and_recorded():
    spec = pixengine.resolve("default", seed=None)
    assert isinstance(spec.config.seed, int)


def error_of(*args, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        pixengine.resolve(*args, **kwargs)
    return str(caught.value)


def test_unknown_top_level_key_names_the_file_that_set_it(family, tmp_path):
    write(tmp_path, "typo.yaml", "extends: child\nstesp: 3\n")
    message = error_of(str(tmp_path / "typo.yaml"))
    assert message.startswith(f"{tmp_path / 'typo.yaml'}: stesp: unknown key 'stesp'; did you mean 'steps'?")


def test_key_set_by_a_parent_is_attributed_to_the_parent(family, tmp_path):
    write(tmp_path, "base.yaml", "width: wide\nlosses: {smooth: {type: tv}}\n")
    message = error_of(str(family))
    assert message.startswith(f"{tmp_path / 'base.yaml'}: width:") and "Integer" in message


def test_a_key_the_child_overrides_is_attributed_to_the_child(family, tmp_path):
    # base sets steps: 10; mid overrides it with a bad value: mid is to blame, not base.
    write(tmp_path, "mid.yaml", "extends: base\nsteps: many\nlosses: {smooth: {norm: l2}}\n")
    assert error_of(str(family)).startswith(f"{tmp_path / 'mid.yaml'}: steps:")


def test_an_option_is_attributed_to_the_file_that_set_it_even_when_a_child_sets_its_siblings(family, tmp_path):
    # child sets losses.smooth.weight, mid losses.smooth.norm: a bad norm is mid's.
    write(tmp_path, "mid.yaml", "extends: base\nlosses: {smooth: {norm: l3}}\n")
    assert error_of(str(family)).startswith(f"{tmp_path / 'mid.yaml'}: losses.smooth.norm: 'l3' is not one of")
    # ...and so is an option misspelt there.
    write(tmp_path, "mid.yaml", "extends: base\nlosses: {smooth: {nrom: l2}}\n")
    assert error_of(str(family)).startswith(f"{tmp_path / 'mid.yaml'}: losses.smooth.nrom: unknown option 'nrom'")


def test_a_command_line_override_of_a_files_key_is_attributed_to_the_command_line(family):
    assert error_of(str(family), steps="many").startswith("command line: steps:")


def test_type_implied_by_the_label(tmp_path):
    write(tmp_path, "l.yaml", "losses: {smoothing: {weight: 1}}\n")
    message = error_of(str(tmp_path / "l.yaml"))
    assert message.startswith(f"{tmp_path / 'l.yaml'}: losses.smoothing: unknown loss 'smoothing'; no 'type' is set")


def test_unknown_component_lists_valid_names(family):
    message = error_of(str(family), **{"parameterization.type": "pixles"})
    assert message.startswith("command line: parameterization.type: unknown parameterization 'pixles'")
    assert "did you mean 'pixels'" in message


def test_unknown_option_wrong_type_choice_bound_and_required(family, tmp_path):
    message = error_of(str(family), **{"losses.smooth.wieght": 1})
    assert "losses.smooth.wieght: unknown option 'wieght' for loss 'tv' (plugin 'regularizers')" in message
    assert "did you mean 'weight'" in message

    message = error_of(str(family), **{"losses.smooth.weight": "heavy"})
    assert "losses.smooth.weight" in message and "(option 'weight' of loss 'tv' (plugin 'regularizers') is float)" in message

    message = error_of(str(family), **{"losses.smooth.norm": "l3"})
    assert "losses.smooth.norm: 'l3' is not one of 'l1', 'isotropic', 'l2'" in message

    message = error_of(str(family), **{"parameterization.init_noise": -1})
    assert "parameterization.init_noise: -1.0 must be at least 0" in message

    write(tmp_path, "missing.yaml", "losses: {match: {type: target_image}}\n")
    message = error_of(str(tmp_path / "missing.yaml"))
    assert message == f"{tmp_path / 'missing.yaml'}: losses.match.image: required option 'image' of loss 'target_image' (plugin 'targets') is not set"


def test_top_level_bounds_and_choices(family):
    assert "steps: -3 must be at least 0" in error_of(str(family), steps=-3)
    assert "media.animation: 'avi' is not one of 'gif', 'mp4'" in error_of(str(family), **{"media.animation": "avi"})
    assert "unknown optimizer 'Adamm'; did you mean 'Adam'" in error_of(str(family), **{"optimizer.type": "Adamm"})
    assert "seed must be an integer or a string" in error_of(str(family), seed=1.5)


def test_component_section_must_be_a_mapping(family):
    assert "losses.smooth: expected a mapping" in error_of(str(family), **{"losses.smooth": 3})


def test_post_init_errors_are_reported_with_the_key(tmp_path):
    from dataclasses import dataclass

    from pixengine import plugins

    @dataclass
    class RangeOptions(pixengine.LossOptions):
        low: float = 0.0
        high: float = 1.0

        def __post_init__(self):
            if self.low >= self.high:
                raise ValueError(f"low ({self.low}) must be below high ({self.high})")

    class Range(pixengine.Loss):
        name = "range"
        Options = RangeOptions

    plugins.register(make_plugin(Range, name="range_plugin"), "range_plugin")
    write(tmp_path, "r.yaml", "losses: {r: {type: range, low: 2, high: 1}}\n")
    message = error_of(str(tmp_path / "r.yaml"))
    assert message == f"{tmp_path / 'r.yaml'}: losses.r: loss 'range' (plugin 'range_plugin'): low (2.0) must be below high (1.0)"


def test_cycles_and_missing_parents(tmp_path):
    write(tmp_path, "a.yaml", "extends: b\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    assert "extend each other in a cycle" in error_of(str(tmp_path / "a.yaml"))
    write(tmp_path, "orphan.yaml", "extends: no_such_parent\n")
    message = error_of(str(tmp_path / "orphan.yaml"))
    assert message.startswith(f"{tmp_path / 'orphan.yaml'}: extends: unknown preset 'no_such_parent'")


def test_unknown_preset_name_and_missing_file():
    assert "unknown preset 'defualt'; did you mean 'default'" in error_of("defualt")
    assert "preset file 'nowhere/x.yaml' does not exist" in error_of("nowhere/x.yaml")


def test_yaml_is_loaded_safely(tmp_path):
    marker = tmp_path / "pwned"
    write(tmp_path, "evil.yaml", f"steps: !!python/object/apply:os.system ['touch {marker}']\n")
    message = error_of(str(tmp_path / "evil.yaml"))
    assert str(tmp_path / "evil.yaml") in message
    assert not marker.exists()
    write(tmp_path, "broken.yaml", "steps: [1, 2\n")
    assert "not valid YAML" in error_of(str(tmp_path / "broken.yaml"))
    write(tmp_path, "list.yaml", "- a\n- b\n")
    assert "a preset must be a YAML mapping" in error_of(str(tmp_path / "list.yaml"))


def test_malformed_override():
    with pytest.raises(ConfigError, match="override 'steps' is not of the form key=value"):
        pixengine.resolve("default", overrides=["steps"])
    with pytest.raises(ConfigError, match=r"its value is not valid YAML \(line 1, column 3: expected ',' or '\]'") as info:
        pixengine.resolve("default", overrides=["losses.style.weight=[1"])
    assert info.value.key == "losses.style.weight"


def test_a_wrongly_typed_value_gets_one_line_without_omegaconf_internals():
    with pytest.raises(ConfigError) as info:
        pixengine.resolve("default", overrides=["steps=abc"])
    assert str(info.value) == "command line: steps: Value 'abc' of type 'str' could not be converted to Integer"


def test_resolved_config_round_trips_through_yaml(family):
    spec = pixengine.resolve(str(family))
    text = OmegaConf.to_yaml(spec.config)
    reloaded = OmegaConf.create(text)
    assert OmegaConf.to_container(reloaded) == OmegaConf.to_container(spec.config)
