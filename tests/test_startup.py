"""Commands that need no component start without torch: --help, --version, presets list and
reading a recipe (info on a PNG, a run folder or a bundle). Each is run in a fresh process and
the modules it loaded are checked; how fast they start is measured by benchmarks/bench_startup.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import pixengine
from pixengine.sharing.bundle import write_bundle

HEAVY = ("torch", "kornia", "open_clip", "numpy", "fastapi", "ray")

PROBE = """
import contextlib, io, json, sys
from pixengine.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
print(json.dumps({"code": code, "loaded": sorted(m for m in %r if m in sys.modules), "out": out.getvalue()[:200]}))
""" % (HEAVY,)


@pytest.fixture(scope="module")
def recipes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipes")
    made = pixengine.run("repaint", steps=1, width=16, height=16, progress=False, save_every=0, output_dir=str(folder / "run"))
    bundle = write_bundle(made.output_dir, folder / "run.zip").path
    return {"png": str(made.final_path), "folder": str(made.output_dir), "bundle": str(bundle)}


@pytest.mark.parametrize("argv", [
    ["--help"], ["--version"], ["run", "--help"], ["presets", "list"],
    ["info", "{png}"], ["info", "{folder}"], ["info", "{bundle}"],
])
def test_commands_that_need_no_component_do_not_import_torch(argv, recipes):
    words = [word.format(**recipes) for word in argv]
    done = subprocess.run([sys.executable, "-c", PROBE, *words], capture_output=True, text=True, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] in (0, None), report
    assert report["out"], "the command printed nothing"
    assert report["loaded"] == [], f"{' '.join(argv)} imported {report['loaded']}"


def test_the_version_of_a_source_tree_that_was_never_installed(monkeypatch):
    import importlib.metadata

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert pixengine._version() == "0.0.0+unknown"


RUN_PROBE = """
import sys
from pixengine.cli import main
folder = sys.argv[1]
quick = ["width=32", "height=32", "progress=false", "save_every=0", "media.contact_sheet=false"]
main(["run", "default", "steps=1", f"output_dir={folder}", *quick])
main(["run", "--resume", folder, "steps=2", "progress=false"])
print(sorted(m for m in ("torch._dynamo", "torch._inductor") if m in sys.modules))
"""


def test_an_lbfgs_run_and_its_resume_do_not_load_torchs_compiler(tmp_path):
    # torch.optim loads torch._dynamo (about 1.1 s) only to exclude its methods from compiling,
    # and use_deterministic_algorithms loads torch._inductor (1.7 s); pixengine compiles nothing.
    done = subprocess.run([sys.executable, "-c", RUN_PROBE, str(tmp_path / "run")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
    assert (tmp_path / "run" / "final.png").is_file()


def test_a_run_leaves_the_cycle_collector_as_it_found_it(tmp_path):
    # `pixengine run` pauses and freezes the collector while it starts; a caller in the same
    # process (a notebook, these tests) must get a working collector and no frozen objects back.
    import gc

    from pixengine.cli import main

    main(["run", "repaint", "steps=1", "width=16", "height=16", "progress=false", f"output_dir={tmp_path / 'run'}"])
    assert gc.isenabled() and gc.get_freeze_count() == 0
