"""`pixengine plugins new` writes plugin packages that install and pass their own tests: one of
each kind, installed into a temporary location, tested by pytest in a fresh process (where the
kit's fixtures come from pixengine's pytest11 entry point, as in an author's checkout)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pixengine.cli import main
from pixengine.scaffold import KINDS, create, pixengine_range


def test_every_kind_scaffolds_installs_and_passes_its_generated_tests(tmp_path):
    made = [create(f"demo_{kind}", kind, tmp_path / f"pixengine-demo-{kind}") for kind in KINDS]
    site = tmp_path / "site"
    for scaffold in made:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--target", str(site), str(scaffold.folder)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    tests = [str(scaffold.folder / "tests") for scaffold in made]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"{2 * len(KINDS)} passed" in done.stdout
    listing = subprocess.run([sys.executable, "-m", "pixengine", "plugins", "list"], capture_output=True, text=True, env=env).stdout
    for kind in KINDS:
        assert f"demo_{kind}  (entry point: pixengine-demo-{kind} 0.1.0)" in listing
    assert "loss: demo_loss" in listing and "presets: demo_presets_demo" in listing


def test_the_command_says_what_it_wrote_and_what_to_do_next(tmp_path, capsys):
    assert main(["plugins", "new", "halftone", "--kind", "loss", "-o", str(tmp_path / "h")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Wrote a loss plugin in {tmp_path / 'h'}:"
    assert "  pyproject.toml" in lines and "  pixengine_halftone/__init__.py" in lines
    assert lines[-1].startswith(f"Next: cd {tmp_path / 'h'} && pip install -e '.[test]' && pytest")


def test_a_scaffold_declares_the_api_and_a_compatible_pixengine_range(tmp_path):
    made = create("halftone", "loss", tmp_path / "h")
    pyproject = (made.folder / "pyproject.toml").read_text()
    assert f'dependencies = ["pixengine{pixengine_range()}"]' in pyproject
    assert '[project.entry-points.pixengine]\nhalftone = "pixengine_halftone"' in pyproject
    assert 'PIXENGINE_API = "1.' in (made.folder / "pixengine_halftone" / "__init__.py").read_text()
    pack = create("sunsets", "presets", tmp_path / "p")
    assert (pack.folder / "pixengine_sunsets" / "presets" / "palette.png").is_file()
    assert "[project.entry-points.pixengine]" not in (pack.folder / "pyproject.toml").read_text()  # data only


@pytest.mark.parametrize("argv, expected", [
    (["plugins", "new", "Half-Tone"], "is not a plugin name"),
    (["plugins", "new", "ok", "--kind", "sampler"], "invalid choice: 'sampler'"),
])
def test_bad_names_and_kinds_are_refused(capsys, argv, expected):
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own usage errors
        code = exit.code
    assert code in (1, 2) and expected in capsys.readouterr().err


def test_it_never_writes_over_a_folder_with_files(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep me")
    assert main(["plugins", "new", "x", "-o", str(tmp_path / "taken")]) == 1
    assert "exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep me"
