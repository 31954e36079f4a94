"""Recipes that travel: bundles that run elsewhere without the sharer's files, the identities a
run records, what a receiver is told before running, and info / validate / diff."""

from __future__ import annotations

import json
import re
import shutil
import zipfile

import pytest
import torch
from PIL import Image

import pixengine
from pixengine import plugins
from pixengine.cli import main
from pixengine.errors import PluginError, WeightsNotFoundError
from pixengine.outputs import read_run_document
from pixengine.sharing import identity
from pixengine.sharing.bundle import MANIFEST, write_bundle
from plugin_factory import CHECKER_PLUGIN, build_and_install

SMALL = {"steps": 3, "width": 32, "height": 32, "progress": False, "save_every": 0}


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def local_recipe(tmp_path, monkeypatch):
    """A preset that names the sharer's own photo (start image and target) and mask."""
    home = tmp_path / "alice"
    home.mkdir()
    monkeypatch.chdir(home)
    photo = Image.new("RGB", (32, 32))
    photo.paste((200, 40, 40), (0, 0, 16, 32))
    photo.paste((40, 40, 200), (16, 0, 32, 32))
    photo.save(home / "photo.png")
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (0, 0, 32, 16))
    mask.save(home / "top.png")
    (home / "mine.yaml").write_text(
        "extends: clip_pixels\n"
        "prompt: a stormy sky\n"
        "parameterization: {init_image: photo.png, init_noise: 0.1}\n"
        "losses:\n"
        "  clip: {mask: top.png}\n"
        "  keep: {type: target_image, image: photo.png, weight: 0.5}\n"
    )
    return home


def test_a_shared_recipe_runs_elsewhere_without_the_sharers_files_bit_for_bit(local_recipe, tiny_clip, tmp_path, monkeypatch):
    weights = tiny_clip.overrides("clip")
    original = pixengine.run("mine.yaml", **SMALL, **weights, output_dir=str(tmp_path / "original"))
    written = write_bundle("mine.yaml", tmp_path / "mine.zip", overrides=[f"{k}={'null' if v is None else v}" for k, v in weights.items()])
    with zipfile.ZipFile(written.path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read(MANIFEST))
    assert sum(n.startswith("files/") for n in names) == 2  # the photo (used twice) and the mask
    assert "sources/mine.yaml" in names  # the unregistered preset it was made from
    assert manifest["weights"]["models.clip"][tiny_clip.arch]["sha256"] == identity.hash_file(tiny_clip.path)
    assert not any(str(tiny_clip.path) in n for n in names)  # weights travel by identity only

    shutil.rmtree(local_recipe)  # the sharer's files are gone
    elsewhere = tmp_path / "bob"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # The receiver supplies the weights (here by path; a pretrained tag would come from the cache).
    again = pixengine.run(str(written.path), **{**SMALL, "models.clip.path": str(tiny_clip.path)}, output_dir="again")
    assert torch.equal(again.tensor, original.tensor)
    assert Image.open(again.final_path).tobytes() == Image.open(original.final_path).tobytes()


def test_a_bundle_without_its_weights_says_how_to_get_them(tmp_path, monkeypatch):
    # The sharer pointed at their own copy of ViT-B-32/openai; the bundle keeps the tag, not the path.
    written = write_bundle("clip_pixels", tmp_path / "clip.zip", overrides=["models.clip.path=/home/alice/vit-b-32.pt"])
    assert written.manifest["weights"] == {}  # not found on the sharing machine either: nothing to claim
    with zipfile.ZipFile(written.path) as archive:
        assert b"/home/alice" not in archive.read("recipe.yaml")
    for variable, folder in (("PIXENGINE_CACHE", "pixcache"), ("HF_HUB_CACHE", "hfcache"), ("HOME", "home")):
        monkeypatch.setenv(variable, str(tmp_path / folder))
    monkeypatch.setenv("PIXENGINE_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as caught:
        pixengine.prepare(str(written.path), **SMALL, output_dir=str(tmp_path / "o"))
    message = str(caught.value)
    assert message.startswith("models.clip: weights for model 'ViT-B-32/openai' were not found")
    assert "pixengine models fetch ViT-B-32/openai" in message and "models.clip.path=/path/to/file" in message
    assert not (tmp_path / "o").exists()  # nothing was built or written


def test_a_bundle_needing_an_uninstalled_plugin_says_what_to_install(tmp_path, monkeypatch, capsys):
    site = build_and_install(tmp_path / "plug", "pixengine-checker", "pixengine_checker", CHECKER_PLUGIN, entry_name="checker")
    monkeypatch.syspath_prepend(str(site))
    plugins.reset()
    preset = tmp_path / "checks.yaml"
    preset.write_text("extends: repaint\nparameterization: {type: checker, squares: 2}\noptimizer: {lr: 0.2}\n")
    written = write_bundle(str(preset), tmp_path / "checks.zip")
    assert written.manifest["plugins"]["checker"] == {"distribution": "pixengine-checker", "version": "0.3.1"}
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p != str(site)])
    plugins.reset()
    with pytest.raises(PluginError) as caught:
        pixengine.resolve(str(written.path))
    assert "plugin 'checker' (pixengine-checker 0.3.1) is not installed here: pip install 'pixengine-checker==0.3.1'" in str(caught.value)
    code, out, _ = run_cli(capsys, "info", written.path)
    assert code == 0 and "NOT INSTALLED here" in out and "pip install 'pixengine-checker==0.3.1'" in out
    code, out, _ = run_cli(capsys, "presets", "validate", written.path)
    assert code == 1 and "pixengine-checker" in out


def test_runs_record_weight_identities_hashed_once_per_file(tiny_clip, tmp_path, monkeypatch):
    calls = []
    real = identity.hash_file
    monkeypatch.setattr(identity, "hash_file", lambda path: calls.append(str(path)) or real(path))
    monkeypatch.setenv("PIXENGINE_CACHE", str(tmp_path / "cache"))
    first = pixengine.run("clip_pixels", **SMALL, **tiny_clip.overrides("clip"), output_dir=str(tmp_path / "a"))
    recorded = read_run_document(first.final_path)["weights"]["models.clip"][tiny_clip.arch]
    assert recorded == {"file": tiny_clip.path.name, "sha256": real(tiny_clip.path)}
    assert calls.count(str(tiny_clip.path.resolve())) == 1
    pixengine.run("clip_pixels", **SMALL, **tiny_clip.overrides("clip"), output_dir=str(tmp_path / "b"))
    assert calls.count(str(tiny_clip.path.resolve())) == 1  # the second run read the index


def test_info_finds_a_runs_weights_here_by_identity_until_the_file_changes(tiny_clip, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIXENGINE_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / tiny_clip.path.name
    shutil.copyfile(tiny_clip.path, weights)
    made = pixengine.run("clip_pixels", **SMALL, **{**tiny_clip.overrides("clip"), "models.clip.path": str(weights)},
                         output_dir=str(tmp_path / "a"))
    code, out, _ = run_cli(capsys, "info", made.final_path)
    assert code == 0 and f"- here: {weights.resolve()}" in out and "missing here: nothing" in out
    with open(weights, "ab") as handle:  # the file it was hashed as is no longer there
        handle.write(b"\0")
    code, out, _ = run_cli(capsys, "info", made.final_path)
    assert "- not seen on this machine" in out and f"models.clip weights '{tiny_clip.arch}'" in out


def test_before_a_shared_run_the_receiver_is_told_what_may_not_reproduce(tmp_path, capsys):
    from test_untrusted_recipes import rewrite_png

    made = pixengine.run("repaint", **SMALL, output_dir=str(tmp_path / "made"))

    def elsewhere(document):
        document.update(torch="1.13.0", device="cuda:0")
        document["plugins"]["targets"]["version"] = "0.0.9"

    png = rewrite_png(made.final_path, tmp_path / "theirs.png", elsewhere)
    pixengine.run(from_image=png, output_dir=str(tmp_path / "mine"))
    err = capsys.readouterr().err
    assert f"note: the run from {png} may not reproduce its image bit for bit:" in err
    assert "torch 1.13.0 made it" in err and "it ran on cuda:0, this run uses cpu" in err
    assert "plugin 'targets' was pixengine 0.0.9" in err
    pixengine.run(from_image=made.final_path, output_dir=str(tmp_path / "same"))
    assert "may not reproduce" not in capsys.readouterr().err  # nothing differs: nothing said


def test_info_validate_and_diff_read_presets_pngs_run_folders_and_bundles(tmp_path, capsys):
    made = pixengine.run("repaint", "a cat", **SMALL, output_dir=str(tmp_path / "run"))
    written = write_bundle(made.output_dir, tmp_path / "run.zip")
    bundle = written.path
    # The run's own record travels in the manifest.
    recorded = {key: written.manifest.get(key) for key in ("torch", "device", "seed", "status")}
    assert recorded == {"torch": str(torch.__version__), "device": "cpu", "seed": made.config.seed, "status": "finished"}
    assert written.manifest["seconds"] > 0
    for target in (made.final_path, made.output_dir, bundle):
        code, out, _ = run_cli(capsys, "info", target)
        assert code == 0, out
        assert "preset:   repaint" in out and "prompt:   a cat" in out and "size:     32x32" in out
        assert "steps:    3 of 3" in out and "status:   finished" in out and "missing here: nothing" in out
    code, out, _ = run_cli(capsys, "info", made.output_dir)
    assert "pkg:pixengine_presets/assets/chelsea.jpg" in out and "here, identical" in out
    # A bundle of a preset that never ran has no step to show.
    unrun = write_bundle("repaint", tmp_path / "unrun.zip").path
    code, out, _ = run_cli(capsys, "info", unrun)
    assert code == 0 and "steps:    ? of 120" in out

    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: repaint\nsteps: many\n")
    code, out, _ = run_cli(capsys, "presets", "validate", "repaint", made.final_path, made.output_dir, bundle, bad)
    assert code == 1
    assert out.splitlines()[:4] == ["repaint: valid", f"{made.final_path}: valid", f"{made.output_dir}: valid", f"{bundle}: valid"]
    assert out.splitlines()[4].startswith(f"{bad}: steps: Value 'many'")
    code, out, _ = run_cli(capsys, "presets", "validate", "--json", bad, "repaint")
    report = json.loads(out)
    assert code == 1 and [r["valid"] for r in report] == [False, True] and report[0]["problems"][0]["key"] == "steps"

    code, out, _ = run_cli(capsys, "presets", "diff", made.output_dir, bundle)
    assert code == 0 and out.strip() == "no differences"  # the bundled photo is the same content
    code, out, _ = run_cli(capsys, "presets", "diff", "repaint", made.final_path)
    assert "~ prompt: '' -> 'a cat'" in out and "~ steps: 120 -> 3" in out and "~ width: 192 -> 32" in out


def test_share_prints_what_it_bundled_and_refuses_what_is_not_there(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text("extends: repaint\nlosses: {layout: {image: gone.png}}\n")
    code, _, err = run_cli(capsys, "share", "p.yaml", "-o", "p.zip")
    assert code == 1 and "losses.layout.image: 'gone.png' does not exist here" in err and not (tmp_path / "p.zip").exists()
    code, out, _ = run_cli(capsys, "share", "repaint", "-o", "r.zip")
    assert code == 0 and "losses.layout.image: pkg:pixengine_presets/assets/chelsea.jpg -> files/" in out
    assert "Run it anywhere with: pixengine run r.zip" in out
    code, _, err = run_cli(capsys, "share", "repaint", "-o", "r.tar")
    assert code == 1 and "a bundle is a .zip file" in err


def test_the_readme_preset_pack_installs_and_runs_as_written(tmp_path, monkeypatch, capsys):
    """The README's preset pack, built from its text, is found without importing it and runs."""
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("**Preset packs.**", 1)[1]
    toml = section.split("```toml\n", 1)[1].split("```", 1)[0]
    preset = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    source = tmp_path / "pixengine-sunsets"
    package = source / "pixengine_sunsets"
    package.mkdir(parents=True)
    (source / "pyproject.toml").write_text(toml)
    (package / "__init__.py").write_text("raise RuntimeError('a preset pack is never imported to find its presets')\n")
    (package / "sunset_repaint.yaml").write_text(preset)
    Image.new("RGB", (16, 16), (250, 120, 40)).save(package / "sunset.png")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source)], check=True, capture_output=True)
    monkeypatch.syspath_prepend(str(site))
    plugins.reset()
    code, out, _ = run_cli(capsys, "presets", "list")
    assert code == 0 and re.search(r"^sunset_repaint +The cat repainted in the colours of a sunset  \[sunsets\]$", out, re.M)
    # Running it reads its asset through pkg: (importlib.resources), which does import the package.
    (package / "__init__.py").write_text("")
    (site / "pixengine_sunsets" / "__init__.py").write_text("")
    result = pixengine.run("sunset_repaint", **SMALL, output_dir=str(tmp_path / "o"))
    assert result.status == "finished"
    assert read_run_document(result.final_path)["config"]["losses"]["colors"]["image"] == "pkg:pixengine_sunsets/sunset.png"
