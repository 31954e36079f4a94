"""`pixengine bench`: times a few steps of a preset and estimates the whole run (the figures
themselves are the machine's; the tests check what is timed and how it is scaled up)."""

from __future__ import annotations

import pytest

from pixengine import cli
from pixengine.bench import Timing, describe, time_preset


def test_a_timing_covers_the_build_and_the_asked_steps_and_scales_to_the_preset(tmp_path):
    timing = time_preset("repaint", steps=3, width=32, height=24, output_dir=str(tmp_path / "never"))
    assert timing.preset == "repaint" and timing.device == "cpu"
    assert len(timing.step_s) == 3 and all(s > 0 for s in timing.step_s) and timing.build_s > 0
    assert timing.planned_steps == 120 and timing.size == (32, 24) and not timing.grows
    assert timing.estimate_s == pytest.approx(timing.build_s + 120 * timing.median_step_s)
    assert not (tmp_path / "never").exists()  # a timing writes nothing of its own


def test_a_growing_preset_is_timed_at_its_final_size():
    timing = time_preset("fft_repaint", steps=1, width=24, height=16, grow=[{"at": 5, "width": 48, "height": 32}])
    assert timing.grows and timing.size == (48, 32)
    assert "an upper bound, it grows" in describe(timing)


def test_durations_read_naturally():
    timing = Timing("p", "cpu", 2, build_s=10.0, step_s=[2.0, 3.0, 4.0], planned_steps=100, size=(8, 8), grows=False)
    text = describe(timing)
    assert "3 s per step (median of 3: 2, 3, 4)" in text and "about 5.2 min" in text
    assert "about 2.8 h" in describe(Timing("p", "cpu", 2, 0.0, [10.0], 1000, (8, 8), False))


def test_the_cli_prints_the_estimate(capsys):
    assert cli.main(["bench", "repaint", "--steps", "2", "width=24", "height=16", "steps=10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("repaint on cpu") and "whole run of 10 steps: about" in out
