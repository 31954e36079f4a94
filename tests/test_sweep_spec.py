"""Sweep specs and plans, without running anything: reading a spec (bad ones refused with
the file, key and what is valid), expanding it into runs, validating every run before any
runs, the limit, --dry-run, the halving rule, and staying torch-free where nothing runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pixengine import ConfigError
from pixengine.cli import main
from pixengine.seed_variations import variation_seed
from pixengine.sweep import halving
from pixengine.sweep.expand import expand
from pixengine.sweep.expand import variation_seed as sweep_variation_seed
from pixengine.sweep.plan import make_plan
from pixengine.sweep.spec import MAX_PROMPTS_BYTES, from_data, load

TINY = {"steps": 2, "width": 48, "height": 48}


def write_spec(tmp_path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


BAD_SPECS = [
    ("recipe: repaint\ngird: {steps: [1, 2]}\n", "gird", "did you mean 'grid'"),
    ("grid: {steps: [1, 2]}\n", "recipe", "a sweep spec needs recipe"),
    ("recipe: repaint\ngrid: {steps: []}\n", "grid.steps", "the axis is empty"),
    ("recipe: repaint\ngrid: {steps: 3}\n", "grid.steps", "a grid axis is a list of values"),
    ("recipe: repaint\nseeds: 0\n", "seeds", "whole number >= 1"),
    ("recipe: repaint\nseeds: [1, 1]\n", "seeds", "lists a seed twice"),
    ("recipe: repaint\nrandom: {optimizer.lr: [0.1, 0.01]}\n", "random.count", "needs count"),
    ("recipe: repaint\nrandom: {count: 2, optimizer.lr: [0.1, 0.01]}\n", "random.optimizer.lr", "low < high"),
    ("recipe: repaint\nrandom: {count: 2, optimizer.lr: {log: [0, 1]}}\n", "random.optimizer.lr", "log range needs low > 0"),
    ("recipe: repaint\noverrides: {steps: 2}\ngrid: {steps: [1, 2]}\n", "steps", "both in overrides and in grid"),
    ("recipe: repaint\nseeds: 2\noverrides: {seed: 3}\n", "seed", "varied by seeds"),
    ("recipe: repaint\nprompts: []\n", "prompts", "non-empty list"),
    ("recipe: repaint\nprompts_file: missing.txt\n", "prompts_file", "does not exist"),
    ("recipe: repaint\nprompts: [a fox]\nprompts_file: missing.txt\n", "prompts", "give prompts or prompts_file, not both"),
    ("recipe: repaint\noverrides: {prompt: '${oc.env:HOME}'}\n", "overrides.prompt", "resolver"),
    ("recipe: !!python/object:os.system {}\n", None, "could not determine a constructor"),
]


@pytest.mark.parametrize("text, key, words", BAD_SPECS)
def test_a_bad_spec_is_refused_naming_the_file_and_key(tmp_path, text, key, words):
    path = write_spec(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.source == str(path)
    if key is not None:
        assert info.value.key == key
    assert words in str(info.value)


def test_a_spec_whose_sections_have_the_wrong_shape_is_told_the_shape(tmp_path):
    for section, shape in [("grid", "grid is a mapping of keys to lists of values"),
                           ("overrides", "overrides is a mapping of (dotted) keys to values")]:
        with pytest.raises(ConfigError) as info:
            load(write_spec(tmp_path, f"recipe: repaint\n{section}: [steps, 3]\n"))
        assert (info.value.key, info.value.detail) == (section, shape)


def test_a_prompts_file_is_bounded_and_read_one_prompt_a_line(tmp_path):
    (tmp_path / "prompts.txt").write_text("# the animals\na red fox\n\n  a blue whale  \n")
    spec = load(write_spec(tmp_path, "recipe: repaint\nprompts_file: prompts.txt\n"))
    assert spec.prompts == ["a red fox", "a blue whale"]
    (tmp_path / "prompts.txt").write_bytes(b"a" * (MAX_PROMPTS_BYTES + 1))
    with pytest.raises(ConfigError, match="more than the"):
        load(tmp_path / "spec.yaml")


def test_expansion_is_the_product_of_the_axes_in_a_fixed_order():
    spec = from_data({"recipe": "repaint", "prompts": ["a fox", "a whale"], "grid": {"losses.smooth.weight": [0.1, 0.2]},
                      "seeds": 3}, "test")
    axes, runs = expand(spec, base_seed=7)
    assert [axis.name for axis in axes] == ["prompt", "losses.smooth.weight", "seed"]
    assert len(runs) == 2 * 2 * 3
    assert runs[0].overrides == {"prompt": "a fox", "losses.smooth.weight": 0.1, "seed": 7}
    assert runs[-1].overrides == {"prompt": "a whale", "losses.smooth.weight": 0.2, "seed": 9}
    assert runs[4].id == "004-a-fox-weight=0.2-seed=8"
    assert len({run.id for run in runs}) == len(runs)


def test_seeds_count_up_as_variations_do():
    for seed in (0, 41, "cat"):
        assert [sweep_variation_seed(seed, i) for i in range(4)] == [variation_seed(seed, i) for i in range(4)]


def test_random_points_are_reproducible_and_inside_their_ranges():
    data = {"recipe": "repaint", "random": {"count": 6, "seed": 3, "optimizer.lr": {"log": [0.001, 0.1]}, "steps": [2, 5]}}
    _, first = expand(from_data(data, "test"), 0)
    _, again = expand(from_data(data, "test"), 0)
    assert [r.overrides for r in first] == [r.overrides for r in again]
    for run in first:
        assert 0.001 <= run.overrides["optimizer.lr"] <= 0.1
        assert isinstance(run.overrides["steps"], int) and 2 <= run.overrides["steps"] <= 5
    _, other = expand(from_data({**data, "random": {**data["random"], "seed": 4}}, "test"), 0)
    assert [r.overrides for r in other] != [r.overrides for r in first]


def test_every_run_is_validated_before_anything_runs_naming_key_and_value(tmp_path):
    spec = from_data({"recipe": "repaint", "overrides": TINY, "grid": {"parameterization.colorspace": ["rgb", "bogus"]}},
                     "sweep.yaml")
    with pytest.raises(ConfigError) as info:
        make_plan(spec)
    message = str(info.value)
    assert "nothing was run" in message
    assert "parameterization.colorspace='bogus' (run 001-colorspace=bogus)" in message
    assert "'rgb', 'decorrelated'" in message  # what would be valid
    assert "run 000" not in message  # the good value is not blamed


def test_an_unknown_axis_key_is_reported_once_for_its_values():
    spec = from_data({"recipe": "repaint", "overrides": TINY, "grid": {"losses.smooth.wieght": [0.1, 0.2]}}, "sweep.yaml")
    with pytest.raises(ConfigError) as info:
        make_plan(spec)
    lines = str(info.value).splitlines()[1:]
    assert len(lines) == 1
    assert "losses.smooth.wieght={0.1, 0.2}" in lines[0] and "did you mean 'weight'" in lines[0]


def test_best_of_n_needs_a_loss_the_runs_have():
    spec = from_data({"recipe": "repaint", "overrides": TINY, "seeds": 4, "keep_best": 1, "by": "clip"}, "sweep.yaml")
    with pytest.raises(ConfigError, match="'clip' is not a loss of the runs; give total or one of: layout, colors, smooth"):
        make_plan(spec)


def run_cli(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_dry_run_lists_the_runs_and_their_count_and_runs_nothing(tmp_path, capsys):
    code, out, _ = run_cli(["sweep", "repaint", "--grid", "losses.smooth.weight=0.05,0.2", "--seeds", "2",
                            "steps=2", "width=48", "height=48", "-o", str(tmp_path / "sw"), "--dry-run"], capsys)
    assert code == 0
    assert "000-weight=0.05-seed=0: losses.smooth.weight=0.05 seed=0" in out
    assert "4 runs (losses.smooth.weight 2 x seed 2) of repaint, 2 steps each" in out
    assert not (tmp_path / "sw").exists()


def test_a_sweep_over_the_limit_needs_yes(tmp_path, capsys):
    code, _, err = run_cli(["sweep", "repaint", "--seeds", "5", "steps=2", "-o", str(tmp_path / "sw"), "--limit", "4"], capsys)
    assert code == 1
    assert "the sweep has 5 runs, more than the limit of 4; give --yes" in err
    assert not (tmp_path / "sw").exists()


def test_an_empty_grid_axis_on_the_command_line_is_refused(tmp_path, capsys):
    code, _, err = run_cli(["sweep", "repaint", "--grid", "steps=", "-o", str(tmp_path / "sw")], capsys)
    assert code == 1 and "grid.steps: the axis is empty" in err


def test_a_preset_without_axes_says_what_to_give(tmp_path, capsys):
    code, _, err = run_cli(["sweep", "repaint", "-o", str(tmp_path / "sw")], capsys)
    assert code == 1 and "give axes: --grid KEY=V1,V2 and/or --seeds N" in err


def test_halving_keeps_exactly_k_and_says_what_it_saves():
    rungs = halving.schedule(16, 2, 80, eta=2)
    assert rungs == [halving.Rung(10, 8), halving.Rung(20, 4), halving.Rung(40, 2)]
    assert halving.steps_spent(16, 80, rungs) == 16 * 10 + 8 * 10 + 4 * 20 + 2 * 40
    for runs, keep, steps, eta in [(4, 1, 4, 2), (40, 4, 100, 3), (5, 4, 10, 2), (3, 1, 2, 2), (64, 3, 30, 2)]:
        rungs = halving.schedule(runs, keep, steps, eta)
        assert rungs[-1].keep == keep and all(0 < r.step < steps for r in rungs)
        assert [r.step for r in rungs] == sorted({r.step for r in rungs})
    assert halving.schedule(4, 4, 10) == [] and halving.schedule(4, 1, 1) == []


def test_halving_ranks_lower_first_with_missing_values_last_and_ties_by_order():
    values = {"a": 0.5, "b": None, "c": 0.1, "d": 0.5, "e": float("nan")}
    assert halving.select(values, 3, {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4}) == ["c", "a", "d"]
    assert halving.select(values, 5, {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4})[3:] == ["b", "e"]


def test_reading_specs_and_sweep_folders_does_not_import_torch():
    code = ("import sys; import pixengine.sweep, pixengine.sweep.cli, pixengine.sweep.spec, pixengine.sweep.expand, "
            "pixengine.sweep.index, pixengine.sweep.summary, pixengine.sweep.halving, pixengine.sweep.folder, "
            "pixengine.sweep.local, pixengine.sweep.sheet; print(json.dumps(sorted(m for m in sys.modules if m in ('torch', 'ray'))))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_a_prompts_file_that_is_not_text_is_named(tmp_path):
    (tmp_path / "prompts.txt").write_bytes(b"a fox\n\xff\xfe a whale\n")
    path = write_spec(tmp_path, "recipe: repaint\nprompts_file: prompts.txt\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.key == "prompts_file" and info.value.source == str(path)
    assert "is not UTF-8 text" in str(info.value)


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_a_spec_file_on_the_command_line_with_overrides_after_it(tmp_path, capsys, suffix):
    spec = tmp_path / f"sweep{suffix}"
    spec.write_text("recipe: repaint\ngrid: {losses.smooth.weight: [0.05, 0.2]}\n")
    code, out, _ = run_cli(["sweep", str(spec), "steps=2", "width=48", "height=48", "-o", str(tmp_path / "sw"), "--dry-run"], capsys)
    assert code == 0, out
    assert "2 runs (losses.smooth.weight 2) of repaint, 2 steps each" in out


def test_axis_labels_keep_values_of_up_to_40_characters_and_cut_longer_ones():
    from pixengine.sweep.expand import value_label

    assert value_label("x" * 40) == "x" * 40
    assert value_label("x" * 41) == "x" * 37 + "..."
    assert value_label(0.123456) == "0.1235"


def test_a_halving_schedule_with_impossible_numbers_says_what_is_needed():
    for keep, steps, eta in [(0, 10, 2), (1, 10, 1), (1, 0, 2)]:
        with pytest.raises(ValueError, match=r"^keep >= 1, eta >= 2 and steps >= 1$"):
            halving.schedule(8, keep, steps, eta)


def test_the_best_runs_of_a_sweep_are_ranked_by_its_halving_metric():
    from pixengine.sweep.summary import best

    entries = [
        {"index": 0, "status": "finished", "total": 1.0, "losses": {"style": 0.9}},
        {"index": 1, "status": "finished", "total": 2.0, "losses": {"style": 0.1}},
        {"index": 2, "status": "failed", "total": 0.1, "losses": {"style": 0.0}},
    ]
    assert [line["index"] for line in best({}, entries)] == [0, 1]
    assert [line["index"] for line in best({"halving": {"by": "style"}}, entries)] == [1, 0]


def test_an_output_folder_holding_another_sweep_is_refused_saying_how_they_differ(tmp_path):
    from pixengine.sweep.driver import open_folder

    def record(fingerprint, ids):
        return {"fingerprint": fingerprint, "runs": [{"id": i} for i in ids]}

    root = tmp_path / "sw"
    open_folder(root, record("a", ["000-seed=0", "001-seed=1"]))
    open_folder(root, record("a", ["000-seed=0", "001-seed=1"]))  # the same sweep: go on with it
    with pytest.raises(ConfigError) as info:
        open_folder(root, record("b", ["000-seed=0", "001-seed=2"]))
    assert str(info.value).startswith(f"'{root}' holds another sweep (runs only in one of them: 001-seed=1, 001-seed=2). ")
    assert str(info.value).endswith(f"Choose another -o, or go on with that one: pixengine sweep {root}")
    many = [f"{i:03d}" for i in range(5)]
    with pytest.raises(ConfigError, match=r"\(runs only in one of them: 000, 000-seed=0, 001\.\.\.\)"):
        open_folder(root, record("c", many))
    with pytest.raises(ConfigError, match=r"\(same run names, different settings\)"):
        open_folder(root, record("d", ["000-seed=0", "001-seed=1"]))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="exists and is not a sweep folder; choose another -o"):
        open_folder(tmp_path / "other", record("a", []))


def test_one_driver_per_sweep_folder_even_one_not_made_yet(tmp_path):
    from pixengine.sweep.folder import SweepBusy, SweepLock

    root = tmp_path / "not" / "yet" / "made"
    with SweepLock(root):
        assert (root / SweepLock(root).path.name).is_file()
        with pytest.raises(SweepBusy, match=rf"the sweep in '{root}' is being run by process \d+ on .+; wait for it"):
            with SweepLock(root):
                pass
    with SweepLock(root):  # released when its driver is done
        pass


def test_closing_the_local_workers_tells_idle_ones_to_stop_and_lets_busy_ones_finish():
    from types import SimpleNamespace

    from pixengine.sweep.local import LocalExecutor

    class Process:
        def __init__(self):
            self.joined, self.terminated = [], False

        def join(self, timeout=None):
            self.joined.append(timeout)

        def is_alive(self):
            return False

        def terminate(self):
            self.terminated = True

    def worker(task):
        sent = []
        return SimpleNamespace(task=task, conn=SimpleNamespace(send=sent.append, sent=sent), process=Process())

    idle, busy = worker(None), worker({"id": "000"})
    executor = LocalExecutor(2)
    executor._pool[:] = [idle, busy]
    executor.close()
    assert idle.conn.sent == [None] and busy.conn.sent == []  # a busy worker is mid-run: no message
    assert idle.process.joined == [5] and busy.process.joined == [30]
    assert executor._pool == []
