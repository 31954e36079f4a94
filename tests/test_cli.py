"""The pixengine command: its outputs and its errors (one message, no traceback)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixengine.cli import main
from pixengine.outputs import read_run_document


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_presets_list_and_show(capsys):
    code, out, _ = run_cli(capsys, "presets", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines == sorted(lines)  # by name
    default = next(line for line in lines if line.startswith("default "))
    assert default.endswith("[builtin_presets]")
    code, out, _ = run_cli(capsys, "presets", "show", "default", "steps=7", "losses.smooth.weight=0.3")
    assert code == 0
    assert "steps: 7\n" in out and "preset: default\n" in out
    assert "  smooth:\n    type: tv\n    weight: 0.3\n    norm: l1\n" in out  # defaults resolved
    code, out, _ = run_cli(capsys, "presets", "show", "repaint")  # the preset named, not the default
    assert code == 0 and "preset: repaint\n" in out and "  layout:\n    type: target_image\n" in out


def test_plugins_list_and_show(capsys):
    code, out, _ = run_cli(capsys, "plugins", "list")
    assert code == 0
    assert "pixels  (builtin: pixengine" in out and "parameterization: pixels" in out
    assert "loss: color_stats, target_image" in out
    assert "media  (builtin: pixengine" in out and "hooks: on_run_end, on_run_start, on_step" in out
    code, out, _ = run_cli(capsys, "plugins", "show", "pixels")
    assert code == 0
    assert out.startswith("pixels (parameterization) from plugin 'pixels' (builtin: pixengine")
    assert "  colorspace: str = 'rgb'  [one of 'rgb', 'decorrelated']" in out
    assert "  init_noise: float = 0.5  [>= 0]" in out
    code, out, _ = run_cli(capsys, "plugins", "show", "loss:target_image")
    assert "  image: str = (required)" in out
    code, _, err = run_cli(capsys, "plugins", "show", "pixles")
    assert code == 1 and "no component named 'pixles'" in err and "parameterization:pixels" in err


def test_run_with_overrides_prompt_and_from(capsys, tmp_path):
    out_dir = tmp_path / "cat"
    code, out, err = run_cli(capsys, "run", "default", "a cat", "steps=3", "width=16", "height=16", f"output_dir={out_dir}", "progress=false")
    assert code == 0 and f"Wrote {out_dir / 'final.png'}" in out
    document = read_run_document(out_dir / "final.png")
    assert document["config"]["prompt"] == "a cat" and document["config"]["steps"] == 3
    again = tmp_path / "again"
    code, out, err = run_cli(capsys, "run", "--from", str(out_dir / "final.png"), f"output_dir={again}")
    assert code == 0
    assert np.array_equal(np.asarray(Image.open(out_dir / "final.png")), np.asarray(Image.open(again / "final.png")))


def test_default_preset_runs_when_none_is_named(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "run", "steps=2", "width=16", "height=16", "progress=false")
    assert code == 0
    written = list((tmp_path / "outputs").glob("default-*/final.png"))
    assert len(written) == 1 and read_run_document(written[0])["config"]["preset"] == "default"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["run", "no_such_preset"], "error: unknown preset 'no_such_preset'"),
        (["run", "default", "a", "b"], "expected at most a recipe and a prompt"),
        (["run", "default", "wdith=3"], "error: command line: wdith: unknown key 'wdith'; did you mean 'width'?"),
        (["run", "--from", "nothing.png"], "error: 'nothing.png' does not exist"),
        (["models", "fetch", "nothing"], "no model catalog lists 'nothing'"),
    ],
)
def test_errors_are_one_message_without_traceback(capsys, argv, expected):
    code, _, err = run_cli(capsys, *argv)
    assert code == 1 and expected in err and "Traceback" not in err


def test_progress_bar_shows_step_loss_and_rate(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", "default", "steps=3", "width=16", "height=16", f"output_dir={tmp_path}")
    assert code == 0
    assert "3/3" in err and "loss=" in err and "step/s" in err or "s/step" in err


def test_sigterm_stops_a_run_and_keeps_its_image(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "pixengine", "run", "default", "steps=100000", "width=16", "height=16",
         "progress=false", f"output_dir={out}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    log = out / "log.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (log.exists() and log.stat().st_size > 0):
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143  # 128 + SIGTERM, as a shell reports it
    assert "Run interrupted at step" in err
    document = read_run_document(out / "final.png")
    assert document["status"] == "interrupted" and 0 < document["step"] < 100000


def test_help_describes_every_top_level_option(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--version print pixengine's version and exit" in out


def test_the_command_line_reference_is_the_parsers_own_help():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "make_cli_reference.py"
    spec = importlib.util.spec_from_file_location("make_cli_reference", script)
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    page = maker.PAGE.read_text(encoding="utf-8")
    if f"with {maker.python_version()})" not in page.splitlines()[2]:
        pytest.skip("docs/cli.md was made with another Python, whose argparse lays help out differently")
    assert maker.reference() == page, "the parser changed: run python scripts/make_cli_reference.py"
