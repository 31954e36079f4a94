"""Files that may come from a stranger are read as data and nothing else: no environment
variables or other resolvers through any entry point, bounded YAML everywhere, weight files
that never run code, `extends` that reads only presets, and shared recipes that may only name
files they are entitled to."""

from __future__ import annotations

import json
import os
import pickle
import resource
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Tuple

import pytest
import torch
from PIL import Image

import pixengine
from pixengine import checkpoint
from pixengine.cli import main
from pixengine.errors import ConfigError
from pixengine.outputs import read_run_document, run_document, save_png

SECRET_VAR = "PIXENGINE_TEST_SECRET"
SECRET = "hunter2-do-not-leak"
SMALL = {"steps": 2, "width": 16, "height": 16, "progress": False, "save_every": 0}


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv(SECRET_VAR, SECRET)
    return "${oc.env:" + SECRET_VAR + "}"


def rewrite_png(source: Path, target: Path, change) -> Path:
    """A copy of a pixengine PNG whose embedded run document ``change(document)`` edited."""
    document = read_run_document(source)
    change(document)
    config = document.pop("config")
    text = run_document(config, document).replace("\\${", "${")  # as a hostile writer would
    save_png(target, Image.open(source).convert("RGB"), text)
    return target


@pytest.fixture
def finished_run(tmp_path) -> Path:
    return pixengine.run("repaint", **SMALL, output_dir=str(tmp_path / "made")).final_path


# -- interpolations ---------------------------------------------------------------------------


def test_a_preset_file_cannot_read_the_environment(tmp_path, secret):
    preset = tmp_path / "leaky.yaml"
    preset.write_text(f"extends: repaint\nlosses:\n  layout:\n    image: '{secret}'\n")
    with pytest.raises(ConfigError) as caught:
        pixengine.resolve(str(preset))
    message = str(caught.value)
    assert str(preset) in message and caught.value.key == "losses.layout.image"
    assert "resolver 'oc.env'" in message and SECRET not in message


@pytest.mark.parametrize("resolver", ["oc.env:HOME", "oc.decode:x", "oc.create:x", "oc.select:steps", "made_up:x"])
def test_every_resolver_is_refused_not_only_oc_env(tmp_path, resolver):
    preset = tmp_path / "r.yaml"
    preset.write_text(f"extends: repaint\nprompt: 'a ${{{resolver}}} cat'\n")
    with pytest.raises(ConfigError, match=f"calls the resolver '{resolver.split(':')[0]}'"):
        pixengine.resolve(str(preset))


def test_a_command_line_override_cannot_read_the_environment(capsys, secret, tmp_path):
    code = main(["run", "repaint", f"prompt=a {secret}", f"output_dir={tmp_path / 'o'}"])
    err = capsys.readouterr().err
    assert code == 1 and "command line: prompt:" in err and "resolver 'oc.env'" in err
    assert SECRET not in err and not (tmp_path / "o").exists()


def test_the_python_api_cannot_read_the_environment(secret):
    with pytest.raises(ConfigError, match="resolver 'oc.env'"):
        pixengine.resolve("repaint", prompt=secret)
    with pytest.raises(ConfigError, match="resolver 'oc.env'"):
        pixengine.resolve("repaint", overrides={"losses.layout.image": secret})


def test_a_png_recipe_cannot_read_the_environment(finished_run, tmp_path, secret):
    hostile = rewrite_png(finished_run, tmp_path / "hostile.png", lambda d: d["config"].update(prompt=secret))
    with pytest.raises(ConfigError) as caught:
        pixengine.resolve(from_image=hostile)
    assert str(hostile) in str(caught.value) and caught.value.key == "prompt" and SECRET not in str(caught.value)
    with pytest.raises(ConfigError, match="resolver 'oc.env'"):
        pixengine.resolve(str(hostile))  # the same PNG given as the recipe


def test_a_checkpoint_cannot_read_the_environment(tmp_path, secret):
    folder = tmp_path / "stopped"
    pixengine.run("repaint", **{**SMALL, "save_every": 1}, output_dir=str(folder))
    payload = torch.load(folder / checkpoint.CHECKPOINT_NAME, weights_only=True)
    payload["document"] = payload["document"].replace("prompt: ''", f"prompt: '{secret}'")
    assert secret in payload["document"]
    torch.save(payload, folder / checkpoint.CHECKPOINT_NAME)
    with pytest.raises(ConfigError) as caught:
        pixengine.resolve(resume=folder, steps=4)
    assert checkpoint.CHECKPOINT_NAME in str(caught.value) and "resolver 'oc.env'" in str(caught.value)


def test_a_bundle_cannot_read_the_environment(finished_run, tmp_path, secret):
    from pixengine.sharing.bundle import RECIPE, write_bundle

    bundle = write_bundle(finished_run.parent, tmp_path / "fine.zip").path
    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(hostile, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == RECIPE:
                data = data.replace(b"prompt: ''", f"prompt: '{secret}'".encode())
            target.writestr(info, data)
    with pytest.raises(ConfigError) as caught:
        pixengine.resolve(str(hostile))
    assert str(hostile) in str(caught.value) and "resolver 'oc.env'" in str(caught.value)


def test_references_to_the_recipes_own_keys_still_work(tmp_path):
    preset = tmp_path / "own.yaml"
    preset.write_text("extends: repaint\nprompt: a cat\ndescription: 'about ${prompt}'\n")
    assert pixengine.resolve(str(preset)).settings.description == "about a cat"


def test_text_that_looks_like_an_interpolation_round_trips_as_text(tmp_path):
    literal = "a sign saying ${oc.env:HOME}"
    result = pixengine.run("repaint", description=literal.replace("${", "\\${"), **SMALL, output_dir=str(tmp_path / "a"))
    assert result.config.description == literal
    again = pixengine.resolve(from_image=result.final_path)  # escaped in the PNG, read back as text
    assert again.settings.description == literal
    # Component options and config reads keep it as text too (nothing resolves it later).
    spec = pixengine.resolve("repaint", **{"losses.layout.image": "x\\${oc.env:HOME}.png"})
    assert spec.losses[0].options.image == "x${oc.env:HOME}.png" == spec.config.losses.layout.image


def test_a_malformed_interpolation_is_named():
    with pytest.raises(ConfigError, match=r"malformed interpolation .* write \\\$\{ for a literal"):
        pixengine.resolve("repaint", prompt="${oops")


# -- bounded YAML everywhere ------------------------------------------------------------------


def alias_bomb(levels: int = 9) -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(levels):
        prev, name = chr(97 + i), chr(98 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\nconfig: {}\n"


def test_an_alias_bomb_in_a_png_chunk_is_refused_quickly_with_bounded_memory(finished_run, tmp_path):
    bomb = tmp_path / "bomb.png"
    save_png(bomb, Image.open(finished_run).convert("RGB"), alias_bomb())

    def limit_memory():  # 1 GiB of address space: expanding the bomb would need far more
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    done = subprocess.run(
        [sys.executable, "-m", "pixengine", "info", str(bomb)],
        capture_output=True, text=True, timeout=120, preexec_fn=limit_memory,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(bomb) in done.stderr and "alias bomb" in done.stderr
    with pytest.raises(ConfigError, match="alias bomb"):
        pixengine.resolve(from_image=bomb)


def test_an_alias_bomb_in_a_preset_or_an_override_is_refused(tmp_path):
    preset = tmp_path / "bomb.yaml"
    preset.write_text(alias_bomb())
    with pytest.raises(ConfigError, match="alias bomb") as caught:
        pixengine.resolve(str(preset))
    assert str(preset) in str(caught.value)
    bomb_value = "{" + alias_bomb().replace("\n", ", ").rstrip(", ") + "}"
    with pytest.raises(ConfigError, match="alias bomb"):
        pixengine.resolve("repaint", overrides=[f"description={bomb_value}"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "the file is empty; a preset is a YAML mapping"),
        ("- a\n- b\n", "a preset must be a YAML mapping of keys to values, not a list"),
        ("steps: 3\n\tsteps: 4\n", "a tab character; YAML indents with spaces only"),
        ("steps: 3\nsteps: 4\n", "line 2: key 'steps' appears twice"),
        ("when: !!timestamp 2024-01-01\n", "is a date"),
        ("x: !!python/object/apply:os.system [echo hi]\n", "line 1, column 4: could not determine a constructor"),
        ("steps: 3\na: &a [*a]\n", "line 2: an alias refers to itself"),
    ],
)
def test_bad_yaml_is_named_with_its_file(tmp_path, text, expected):
    preset = tmp_path / "bad.yaml"
    preset.write_text(text)
    with pytest.raises(ConfigError) as caught:
        pixengine.resolve(str(preset))
    assert expected in str(caught.value) and str(preset) in str(caught.value)


def test_a_folder_or_an_unreadable_path_is_named_as_such(tmp_path):
    from pixengine import safe_yaml

    with pytest.raises(ConfigError) as caught:
        safe_yaml.load_file(tmp_path, what="bundle manifest")
    assert str(caught.value) == f"{tmp_path}: is a folder, not a bundle manifest file"
    (tmp_path / "file.yaml").write_text("steps: 1\n")
    inside_a_file = tmp_path / "file.yaml" / "inner.yaml"
    with pytest.raises(ConfigError) as caught:
        safe_yaml.load_file(inside_a_file)
    assert str(caught.value) == f"{inside_a_file}: cannot read the preset file: Not a directory"
    with pytest.raises(ConfigError) as caught:
        safe_yaml.load_file(tmp_path / "gone.yaml")
    assert str(caught.value) == f"{tmp_path / 'gone.yaml'}: preset file does not exist"


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path):
    preset = tmp_path / "huge.yaml"
    preset.write_text("description: '" + "x" * (2 << 20) + "'\n")
    with pytest.raises(ConfigError, match="more than the 1048576 a preset may have"):
        pixengine.resolve(str(preset))


# -- extends ------------------------------------------------------------------------------------


def test_extends_never_reads_or_echoes_a_file_that_is_not_a_preset(tmp_path):
    secret_file = tmp_path / "secrets.txt"
    secret_file.write_text("API_KEY=sk-very-secret\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    for target in ["../../secrets.txt", str(secret_file), "../../../../../../etc/passwd"]:
        preset = deep / "p.yaml"
        preset.write_text(f"extends: {target}\n")
        with pytest.raises(ConfigError) as caught:
            pixengine.resolve(str(preset))
        message = str(caught.value)
        assert caught.value.key == "extends" and "sk-very-secret" not in message and "root:" not in message


def test_a_yaml_error_in_a_parent_names_the_line_but_does_not_echo_it(tmp_path):
    (tmp_path / "parent.yaml").write_text("steps: 3\ntoken: [sk-very-secret\n")
    (tmp_path / "child.yaml").write_text("extends: parent\n")
    with pytest.raises(ConfigError) as caught:
        pixengine.resolve(str(tmp_path / "child.yaml"))
    assert "line 3" in str(caught.value) and "sk-very-secret" not in str(caught.value)


# -- weight files never run code ----------------------------------------------------------------


class ArchiveWithCode(torch.nn.Module):
    """A TorchScript module whose __setstate__ runs when torch.jit.load reads the archive."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(2))

    def forward(self, x):
        return x * self.weight

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool]:
        return (self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]):
        print("THE ARCHIVE'S CODE RAN")
        self.weight = state[0]
        self.training = state[1]


class RunsACommand:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def pickled_command_archive(path: Path, marker: Path) -> Path:
    """A TorchScript-shaped archive whose data.pkl would run a shell command if unpickled."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(torch.nn.Linear(2, 2), torch.zeros(1, 2)), str(path))
    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    data_pkl = next(name for name in members if name.endswith("/data.pkl"))
    members[data_pkl] = pickle.dumps(RunsACommand(marker), protocol=2)
    with zipfile.ZipFile(path, "w") as target:
        for name, data in members.items():
            target.writestr(name, data)
    return path


def test_a_torchscript_archive_with_code_is_refused_where_torch_jit_load_runs_it(tmp_path, capfd):
    from pixengine.torchscript_weights import read_tensors

    path = tmp_path / "clip.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(ArchiveWithCode()), str(path))
        torch.jit.load(str(path))  # what pixengine used to do
    assert "THE ARCHIVE'S CODE RAN" in capfd.readouterr().out
    with pytest.raises(ConfigError, match="stores its state in a custom form") as caught:
        read_tensors(path)
    assert "convert it once on a machine you trust" in str(caught.value)
    assert "THE ARCHIVE'S CODE RAN" not in capfd.readouterr().out


def test_a_pickled_command_in_a_weight_file_runs_nothing_by_path(tmp_path, tiny_clip):
    marker = tmp_path / "pwned"
    archive = pickled_command_archive(tmp_path / "clip.pt", marker)
    with pytest.raises(ConfigError) as caught:
        pixengine.prepare("clip_pixels", **SMALL, output_dir=str(tmp_path / "o"),
                          **{**tiny_clip.overrides("clip"), "models.clip.path": str(archive)})
    assert "refers to 'posix.system'" in str(caught.value) and caught.value.key == "models.clip.path"
    assert not marker.exists()


def test_a_pickled_command_in_the_cache_runs_nothing_without_any_path_option(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    cache = tmp_path / "cache"
    monkeypatch.setenv("PIXENGINE_CACHE", str(cache))
    monkeypatch.setenv("PIXENGINE_OFFLINE", "1")
    target = cache / "open_clip" / "ViT-B-32" / "openai.pt"
    target.parent.mkdir(parents=True)
    pickled_command_archive(target, marker)
    with pytest.raises(ConfigError, match="refers to 'posix.system'"):
        pixengine.prepare("clip_pixels", **SMALL, output_dir=str(tmp_path / "o"))
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_plain_pickles_load_only_tensors(tmp_path):
    from pixengine.weights import load_state_dict

    marker = tmp_path / "pwned"
    path = tmp_path / "weights.pt"
    with open(path, "wb") as handle:
        pickle.dump({"w": RunsACommand(marker)}, handle)
    with pytest.raises(ConfigError, match="cannot read weights"):
        load_state_dict(path)
    assert not marker.exists()


# -- files named by shared recipes --------------------------------------------------------------


def test_a_shared_recipe_cannot_point_at_the_receivers_files(finished_run, tmp_path):
    private = tmp_path / "private.png"
    Image.new("RGB", (8, 8), "red").save(private)
    hostile = rewrite_png(
        finished_run, tmp_path / "hostile.png", lambda d: d["config"]["losses"]["layout"].update(image=str(private))
    )
    with pytest.raises(ConfigError) as caught:
        pixengine.resolve(from_image=hostile)
    assert caught.value.key == "losses.layout.image" and str(hostile) in str(caught.value)
    assert "name it yourself: losses.layout.image=PATH" in str(caught.value)
    # The receiver may choose the file, and pkg: resources are always fine.
    assert pixengine.resolve(from_image=hostile, overrides=[f"losses.layout.image={private}"])
    assert pixengine.resolve(from_image=hostile, overrides=["losses.layout.image=pkg:pixengine_presets/assets/coffee.jpg"])


def test_ones_own_run_finds_its_inputs_again_while_they_are_unchanged(tmp_path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (16, 16), (10, 200, 30)).save(photo)
    made = pixengine.run("repaint", **SMALL, output_dir=str(tmp_path / "own"), **{"losses.layout.image": str(photo)})
    assert read_run_document(made.final_path)["files"][str(photo)]  # its SHA-256 is recorded
    assert pixengine.resolve(from_image=made.final_path)  # identical content: allowed
    Image.new("RGB", (16, 16), (200, 10, 30)).save(photo)  # changed since
    with pytest.raises(ConfigError, match="files of identical content to the ones its run recorded"):
        pixengine.resolve(from_image=made.final_path)


# -- bundles are read safely -------------------------------------------------------------------


def make_zip(path: Path, members: dict, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, "/etc/passwd")
    return path


GOOD = {"manifest.json": json.dumps({"format": 1}), "recipe.yaml": "config: {preset: repaint}\n"}


@pytest.mark.parametrize(
    "members, symlink, expected",
    [
        ({**GOOD, "../evil.png": "x"}, None, "would be written outside the bundle"),
        ({**GOOD, "/etc/evil": "x"}, None, "would be written outside the bundle"),
        ({**GOOD, "files/" + "0" * 64 + "/../../x": "x"}, None, "would be written outside the bundle"),
        (GOOD, "files/" + "1" * 64 + "/link.png", "is a link"),
        ({**GOOD, "run.sh": "rm -rf ~"}, None, "unexpected member 'run.sh'"),
        ({**GOOD, "files/" + "2" * 64 + "/cat.png": "not what the name says"}, None, "does not match its SHA-256"),
        ({"recipe.yaml": "config: {}\n"}, None, "it has no manifest.json"),
        ({**GOOD, "manifest.json": "{not json"}, None, "manifest.json is not valid JSON"),
        ({**GOOD, "recipe.yaml": alias_bomb()}, None, "alias bomb"),
    ],
)
def test_hostile_bundles_are_refused_naming_the_problem(tmp_path, members, symlink, expected):
    bundle = make_zip(tmp_path / "hostile.zip", members, symlink)
    with pytest.raises(ConfigError, match=expected) as caught:
        pixengine.resolve(str(bundle))
    assert str(bundle) in str(caught.value)
    assert not (tmp_path / "evil.png").exists()


def test_a_zip_bomb_is_refused_before_decompression(tmp_path):
    bundle = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in GOOD.items():
            archive.writestr(name, data)
        archive.writestr("files/" + "3" * 64 + "/big.png", b"\0" * (64 << 20))
    with pytest.raises(ConfigError, match="expands .*-fold"):
        pixengine.resolve(str(bundle))


def test_a_component_cannot_open_a_shared_recipes_file_through_an_undeclared_option(finished_run, tmp_path, quick):
    """Defence in depth: a plugin that forgot file='image' cannot be used to read the receiver's files."""
    from dataclasses import dataclass

    from pixengine import option, plugins
    from pixengine.testing import make_plugin

    @dataclass
    class CarelessOptions(pixengine.LossOptions):
        picture: str = option("pkg:pixengine_presets/assets/coffee.jpg", help="an image (not declared as a file)")

    class Careless(pixengine.Loss):
        name = "careless"
        Options = CarelessOptions

        def __init__(self, options, ctx):
            super().__init__(options, ctx)
            self.picture = ctx.load_image(options.picture, option="picture")

        def forward(self, inputs):
            return (inputs.image - self.picture).abs().mean()

    plugins.register(make_plugin(Careless, name="careless"), "careless")
    own = pixengine.run("repaint", **SMALL, output_dir=str(tmp_path / "own"), **{"losses.c.type": "careless"})
    private = tmp_path / "private.png"
    Image.new("RGB", (8, 8), "red").save(private)
    hostile = rewrite_png(own.final_path, tmp_path / "hostile.png", lambda d: d["config"]["losses"]["c"].update(picture=str(private)))
    with pytest.raises(ConfigError, match="through an option not declared as a file") as caught:
        pixengine.prepare(from_image=hostile, output_dir=str(tmp_path / "o"))
    assert caught.value.key == "losses.c.picture"
    assert pixengine.prepare(from_image=own.final_path, output_dir=str(tmp_path / "o2"))  # pkg: stays fine
