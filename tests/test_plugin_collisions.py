"""Third-party plugins cannot break built-ins or each other: a name that is taken refuses that
component (or preset) alone, built-ins always keep theirs, the rule between third parties is
deterministic, bad option declarations fail at registration, and every refusal is reported."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import pixengine
from pixengine import plugins
from pixengine.cli import main
from pixengine.errors import ConfigError
from pixengine.outputs import read_run_document
from plugin_factory import BROKEN_IMPORT_PLUGIN, DUPLICATE_PLUGIN, DUPLICATE_PRESETS, build_and_install


@pytest.fixture(scope="module")
def duplicates_site(tmp_path_factory):
    """Two copies of a plugin reusing tv, pixels and the preset name default: one whose
    entry-point name sorts before every built-in ('aaa_dup'), one after ('zzz_dup')."""
    root = tmp_path_factory.mktemp("dups")
    for name in ("aaa_dup", "zzz_dup"):
        presets = {stem.replace("MARK", name): text for stem, text in DUPLICATE_PRESETS.items()}
        site = build_and_install(root, f"pixengine-{name}", f"pixengine_{name}", DUPLICATE_PLUGIN.replace("MARK", name),
                                 entry_name=name, presets=presets)
    build_and_install(root, "pixengine-broken", "pixengine_broken", BROKEN_IMPORT_PLUGIN, entry_name="broken")
    return site


@pytest.fixture
def with_duplicates(duplicates_site, monkeypatch):
    monkeypatch.syspath_prepend(str(duplicates_site))
    plugins.reset()
    return duplicates_site


def test_built_ins_keep_their_names_and_only_the_conflicting_parts_are_refused(with_duplicates):
    registry = plugins.get_registry()
    assert registry.get("loss", "tv").plugin == "regularizers"
    assert registry.get("parameterization", "pixels").plugin == "pixels"
    assert registry.presets["default"].plugin == "builtin_presets"
    for name in ("aaa_dup", "zzz_dup"):
        info = registry.plugins[name]
        assert info.ok, info.error  # the plugin as a whole loads
        assert "loss 'tv' refused: the name belongs to plugin 'regularizers' (built-in); rename it" in info.refused
        assert "parameterization 'pixels' refused: the name belongs to plugin 'pixels' (built-in); rename it" in info.refused
        assert "preset 'default' refused: the name belongs to plugin 'builtin_presets' (built-in)" in info.refused
        assert f"own_{name}" in registry.presets  # its own preset is there
    # Between third parties, the entry-point name that sorts first keeps a name.
    assert registry.get("loss", "dots").plugin == "aaa_dup"
    assert "loss 'dots' refused: the name belongs to plugin 'aaa_dup'; rename it" in registry.plugins["zzz_dup"].refused
    # Every built-in plugin is fine.
    assert all(p.ok and not p.refused for p in registry.plugins.values() if p.builtin)


def test_every_shipped_preset_still_runs_the_built_ins(with_duplicates, quick):
    result = pixengine.run("default", steps=1, width=16, height=16, **quick)
    used = read_run_document(result.final_path)["plugins"]
    assert set(used) == {"perceptual", "pixels", "regularizers"}  # no aaa_dup or zzz_dup
    assert pixengine.run("own_aaa_dup", steps=1, width=16, height=16, **{**quick, "output_dir": quick["output_dir"] + "2"})


def test_a_bad_option_declaration_fails_its_component_at_registration_naming_it(with_duplicates):
    registry = plugins.get_registry()
    refused = [line for line in registry.plugins["aaa_dup"].refused if "badly_declared" in line]
    assert refused == [
        "loss 'badly_declared' refused: its Options are declared wrongly: option 'cell': default 'eight' is not int"
    ]
    assert registry.get("loss", "badly_declared") is None


def test_plugins_list_reports_every_refusal_and_run_warns_once(with_duplicates, capsys, tmp_path):
    assert main(["plugins", "list"]) == 0
    out = capsys.readouterr().out
    assert out.count("REFUSED loss 'tv' refused") == 2 and "REFUSED preset 'default' refused" in out
    assert f"This pixengine has plugin API {pixengine.API_VERSION}." in out
    assert main(["run", "repaint", "steps=1", "width=16", "height=16", "progress=false", f"output_dir={tmp_path / 'o'}"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: plugin(s)") == 1 and "'aaa_dup'" in err and "'broken'" in err


def test_debug_shows_a_failed_plugins_traceback(with_duplicates, capsys):
    main(["--debug", "plugins", "list"])
    out = capsys.readouterr().out
    assert "| Traceback (most recent call last):" in out and "| ModuleNotFoundError" in out
    main(["plugins", "list"])
    assert "Traceback" not in capsys.readouterr().out


def test_an_unknown_preset_or_component_names_the_plugins_that_failed(with_duplicates):
    with pytest.raises(ConfigError) as caught:
        pixengine.resolve("halftone_preset")
    assert "unknown preset 'halftone_preset'" in str(caught.value)
    assert "These plugins failed to load and may provide it:\n" in str(caught.value)
    assert "\n  - broken: import failed: ModuleNotFoundError" in str(caught.value)


def test_pixengine_plugins_can_exclude_one_and_warns_about_names_that_match_nothing(duplicates_site, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(duplicates_site), "PIXENGINE_PLUGINS": "-zzz_dup,-nonesuch"}
    done = subprocess.run([sys.executable, "-m", "pixengine", "plugins", "list"], capture_output=True, text=True, env=env, check=True)
    assert "zzz_dup  (entry point: pixengine-zzz_dup 0.3.1)  SKIPPED" in done.stdout
    assert "not loaded: PIXENGINE_PLUGINS='-zzz_dup,-nonesuch' excludes it" in done.stdout
    assert "aaa_dup  (entry point: pixengine-aaa_dup 0.3.1)\n" in done.stdout  # the others load
    assert "warning: PIXENGINE_PLUGINS names 'nonesuch', which no installed plugin is called" in done.stderr


@pytest.mark.parametrize(
    "override, hint",
    [
        ("palette.colors=#ff00ff", "reads as a YAML comment, i.e. nothing; quote it"),
        ("description=", "it has no value; write description=null to unset it"),
        ("=5", "an override has no key before '='"),
        ("steps..x=1", "is not a config key"),
    ],
)
def test_override_values_yaml_would_swallow_say_how_to_quote_them(override, hint):
    with pytest.raises(ConfigError, match=hint):
        pixengine.resolve("repaint", overrides=[override])
