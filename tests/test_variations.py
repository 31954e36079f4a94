"""Variations: one preset, several seeds, each in its own folder, and a contact sheet."""

from __future__ import annotations


import pytest
import torch
from PIL import Image

import pixengine
from pixengine import cli
from pixengine.errors import ConfigError
from pixengine.outputs import read_run_document

SMALL = {"width": 32, "height": 24, "steps": 3, "progress": False, "save_every": 0}


def test_variations_count_up_from_the_seed_and_are_laid_out_on_a_sheet(tmp_path):
    made = pixengine.variations("repaint", count=5, seed=7, output_dir=str(tmp_path / "v"), **SMALL)
    assert [r.config.seed for r in made.results] == [7, 8, 9, 10, 11]
    assert [r.output_dir.name for r in made.results] == ["seed-7", "seed-8", "seed-9", "seed-10", "seed-11"]
    assert all(read_run_document(r.final_path)["config"]["seed"] == r.config.seed for r in made.results)
    # Variation 0 is the run itself; the others differ from it.
    single = pixengine.run("repaint", seed=7, output_dir=str(tmp_path / "single"), **SMALL)
    assert torch.equal(made.results[0].tensor, single.tensor)
    assert not torch.equal(made.results[1].tensor, made.results[0].tensor)
    # Four to a row: two rows, the first four results wide.
    sheet = Image.open(made.sheet_path)
    assert made.sheet_path == tmp_path / "v" / "variations.png"
    row_height = sheet.height // 2
    assert sheet.width > 4 * 256 * 32 / 24 and row_height > 256


def test_string_seeds_get_numbered_variants(tmp_path):
    made = pixengine.variations("repaint", count=2, seed="a cat", output_dir=str(tmp_path), **SMALL)
    assert [r.config.seed for r in made.results] == ["a cat", "a cat-1"]
    assert [r.output_dir.name for r in made.results] == ["seed-a_cat", "seed-a_cat-1"]


def test_the_cli_runs_variations_with_overrides_after_the_option(tmp_path, capsys):
    out = tmp_path / "cli"
    code = cli.main(["run", "repaint", "--variations", "2", "steps=2", "width=24", "height=16", f"output_dir={out}", "progress=false"])
    assert code == 0
    assert "Wrote 2 variations" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["seed-0", "seed-1", "variations.png"]
    assert Image.open(out / "seed-1" / "final.png").size == (24, 16)
    assert cli.main(["run", "--resume", str(out / "seed-0"), "--variations", "2"]) == 1
    assert "cannot be combined with --resume" in capsys.readouterr().err


def test_a_count_below_one_is_refused():
    with pytest.raises(ConfigError, match="at least 1, got 0"):
        pixengine.variations("repaint", count=0)
