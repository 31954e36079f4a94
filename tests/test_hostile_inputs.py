"""A table of bad inputs and faults, as a careless or malicious user would produce them: bad
presets and overrides, odd images, edited PNG chunks and checkpoints, filesystem faults,
broken plugins and weights. Every case must end with a non-zero exit, one message naming the
culprit and no traceback, and must leave the outputs of an earlier run untouched."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import torch
from PIL import Image

import pixengine
from pixengine.cli import main
from pixengine.outputs import read_run_document, run_document, save_png
from test_untrusted_recipes import alias_bomb

REPAINT = ["steps=2", "width=24", "height=16", "progress=false", "save_every=1"]


@dataclass
class Case:
    id: str
    #: pixengine's command-line words; {tmp} is the case's folder, {earlier} the earlier run.
    argv: list[str]
    #: Text the message must contain (the culprit: a file, a key, a value).
    expect: list[str]
    #: Writes what the case needs into its folder before the command runs.
    setup: Callable[[Path, Path], None] | None = None
    exit_codes: tuple[int, ...] = (1,)
    tags: list[str] = field(default_factory=list)


def write(name: str, text: str | bytes):
    def setup(tmp: Path, earlier: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return setup


def edited_png(change: Callable[[dict], object], raw: str | None = None):
    """A copy of the earlier run's final.png with its run document edited (or replaced by ``raw``)."""

    def setup(tmp: Path, earlier: Path) -> None:
        document = read_run_document(earlier / "final.png")
        change(document)
        config = document.pop("config", None)
        text = raw if raw is not None else run_document(config, document).replace("\\${", "${")
        save_png(tmp / "edited.png", Image.open(earlier / "final.png").convert("RGB"), text)

    return setup


def edited_checkpoint(change: Callable[[dict], object]):
    """The earlier run's folder copied, with its checkpoint.pt edited."""

    def setup(tmp: Path, earlier: Path) -> None:
        import shutil

        shutil.copytree(earlier, tmp / "run", ignore=shutil.ignore_patterns(".pixengine.lock"))
        payload = torch.load(tmp / "run" / "checkpoint.pt", weights_only=True)
        change(payload)
        torch.save(payload, tmp / "run" / "checkpoint.pt")

    return setup


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels and carries almost none."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def folder_in_the_way(tmp: Path, earlier: Path) -> None:
    (tmp / "out" / "final.png").mkdir(parents=True)


def stranger_file(tmp: Path, earlier: Path) -> None:
    Image.new("RGB", (8, 8), "red").save(tmp / "private.png")
    edited_png(lambda d: d["config"]["losses"]["layout"].update(image=str(tmp / "private.png")))(tmp, earlier)


PRESETS = [
    Case("empty-preset", ["run", "{tmp}/p.yaml"], ["p.yaml", "the file is empty"], write("p.yaml", "")),
    Case("list-preset", ["run", "{tmp}/p.yaml"], ["p.yaml", "not a list"], write("p.yaml", "- a\n- b\n")),
    Case("tab-indent", ["run", "{tmp}/p.yaml"], ["p.yaml", "a tab character"], write("p.yaml", "steps: 2\nlosses:\n\ttv: {}\n")),
    Case("duplicate-key", ["run", "{tmp}/p.yaml"], ["p.yaml", "key 'steps' appears twice"], write("p.yaml", "steps: 1\nsteps: 2\n")),
    Case("unknown-top-key", ["run", "{tmp}/p.yaml"], ["p.yaml", "wdith", "did you mean 'width'"], write("p.yaml", "extends: repaint\nwdith: 3\n")),
    Case("unknown-component", ["run", "{tmp}/p.yaml"], ["losses.x.type", "unknown loss 'tvv'"], write("p.yaml", "extends: repaint\nlosses: {x: {type: tvv}}\n")),
    Case("unknown-option", ["run", "{tmp}/p.yaml"], ["losses.smooth.wieght", "did you mean 'weight'"], write("p.yaml", "extends: repaint\nlosses: {smooth: {wieght: 1}}\n")),
    Case("wrong-type", ["run", "{tmp}/p.yaml"], ["p.yaml", "steps", "'many'"], write("p.yaml", "extends: repaint\nsteps: many\n")),
    Case("outside-choices", ["run", "{tmp}/p.yaml"], ["parameterization.colorspace", "'cmyk' is not one of"], write("p.yaml", "extends: repaint\nparameterization: {colorspace: cmyk}\n")),
    Case("below-min", ["run", "{tmp}/p.yaml"], ["width", "must be at least 8"], write("p.yaml", "extends: repaint\nwidth: 2\n")),
    Case("required-missing", ["run", "{tmp}/p.yaml"], ["losses.t.image", "required option 'image'"], write("p.yaml", "extends: repaint\nlosses: {t: {type: target_image}}\n")),
    Case("extends-cycle", ["run", "{tmp}/a.yaml"], ["in a cycle"], lambda t, e: (write("a.yaml", "extends: b\n")(t, e), write("b.yaml", "extends: a\n")(t, e))),
    Case("extends-missing", ["run", "{tmp}/p.yaml"], ["extends", "unknown preset 'nowhere'"], write("p.yaml", "extends: nowhere\n")),
    Case("extends-not-yaml", ["run", "{tmp}/p.yaml"], ["extends", "secret.txt"], lambda t, e: (write("secret.txt", "TOKEN=abc\n")(t, e), write("p.yaml", f"extends: {t}/secret.txt\n")(t, e))),
    Case("extends-passwd", ["run", "{tmp}/p.yaml"], ["extends", "/etc/passwd"], write("p.yaml", "extends: /etc/passwd\n")),
    Case("resolver-env", ["run", "{tmp}/p.yaml"], ["p.yaml", "prompt", "resolver 'oc.env'"], write("p.yaml", "extends: repaint\nprompt: ${oc.env:HOME}\n")),
    Case("malformed-interpolation", ["run", "{tmp}/p.yaml"], ["description", "malformed interpolation"], write("p.yaml", "extends: repaint\ndescription: '${oops'\n")),
    Case("interpolation-to-nothing", ["run", "{tmp}/p.yaml"], ["description", "cannot resolve"], write("p.yaml", "extends: repaint\ndescription: '${nope}'\n")),
    Case("alias-bomb", ["run", "{tmp}/p.yaml"], ["p.yaml", "alias bomb"], write("p.yaml", alias_bomb())),
    Case("huge-file", ["run", "{tmp}/p.yaml"], ["p.yaml", "bytes, more than"], write("p.yaml", "d: '" + "x" * (2 << 20) + "'\n")),
    Case("binary-file", ["run", "{tmp}/p.yaml"], ["p.yaml", "not UTF-8"], write("p.yaml", b"\xff\xfe\x00steps")),
    Case("date-value", ["run", "{tmp}/p.yaml"], ["p.yaml", "is a date"], write("p.yaml", "extends: repaint\nwhen: !!timestamp 2024-01-01\n")),
    Case("python-tag", ["run", "{tmp}/p.yaml"], ["p.yaml", "could not determine a constructor"], write("p.yaml", "x: !!python/object/apply:os.system [echo hi]\n")),
    Case("int-key", ["run", "{tmp}/p.yaml"], ["p.yaml", "key 1", "is not a string"], write("p.yaml", "1: 2\n")),
    Case("preset-is-folder", ["run", "{tmp}/sub"], ["sub", "not a run folder"], lambda t, e: (t / "sub").mkdir()),
    Case("preset-missing-file", ["run", "{tmp}/none.yaml"], ["none.yaml", "does not exist"]),
    Case("unknown-preset", ["run", "repain"], ["unknown preset 'repain'", "did you mean 'repaint'"]),
    Case("list-over-mapping", ["run", "{tmp}/p.yaml"], ["losses", "a list cannot replace the mapping"], write("p.yaml", "extends: repaint\nlosses: [1, 2]\n")),
    Case("no-loss", ["run", "repaint", "losses.layout=null", "losses.colors=null", "losses.smooth=null", "output_dir={tmp}/o"], ["a run needs at least one loss"]),
    Case("grow-not-resizable", ["run", "vqgan_clip", "grow=[{at: 1, width: 64, height: 64}]"], ["grow", "cannot change resolution"]),
    Case("unknown-model-label", ["run", "default", "losses.style.model=nope"], ["losses.style.model", "no model labelled 'nope'"]),
]

OVERRIDES = [
    Case("no-equals", ["run", "repaint", "steps", "2"], ["expected at most a recipe and a prompt"]),
    Case("no-key", ["run", "repaint", "=5"], ["an override has no key"]),
    Case("empty-value", ["run", "repaint", "description="], ["description", "has no value"]),
    Case("comment-value", ["run", "repaint", "losses.colors.image=#ff00ff"], ["reads as a YAML comment", "quote it"]),
    Case("bad-key", ["run", "repaint", "steps..x=1"], ["is not a config key"]),
    Case("not-a-number", ["run", "repaint", "steps=abc"], ["steps", "'abc'"]),
    Case("lr-nan", ["run", "repaint", "optimizer.lr=nan"], ["optimizer.lr", "not a finite number"]),
    Case("weight-inf", ["run", "repaint", "losses.smooth.weight=.inf"], ["losses.smooth.weight", "not a finite number"]),
    Case("weight-nan", ["run", "default", "losses.style.weight=.nan"], ["losses.style.weight", "not a finite number"]),
    Case("group-lr-inf", ["run", "repaint", "optimizer.groups.params.lr=.inf"], ["optimizer.groups.params.lr", "not a finite number"]),
    Case("seed-list", ["run", "repaint", "seed=[1, 2]"], ["seed", "integer or a string"]),
    Case("seed-bool", ["run", "repaint", "seed=true"], ["seed", "integer or a string"]),
    Case("width-huge", ["run", "repaint", "width=100000"], ["width", "limits.max_side"]),
    Case("steps-huge", ["run", "repaint", "steps=10000000"], ["steps", "limits.max_steps"]),
    Case("steps-negative", ["run", "repaint", "steps=-1"], ["steps", "must be at least 0"]),
    Case("memory", ["run", "default", "width=4000", "height=4000", "limits.max_side=4096"], ["GB", "lower width", "limits.memory=ignore"]),
    Case("grow-not-list", ["run", "repaint", "grow=5"], ["grow", "expected a list"]),
    Case("grow-mapping", ["run", "repaint", "grow={at: 1}"], ["grow", "expected a list"]),
    Case("optimizer-scalar", ["run", "repaint", "optimizer=3"], ["optimizer", "expected a mapping"]),
    Case("unknown-optimizer", ["run", "repaint", "optimizer.type=Adamm"], ["optimizer.type", "did you mean 'Adam'"]),
    Case("optimizer-args", ["run", "repaint", "optimizer.args={betaz: 1}", "output_dir={tmp}/o"], ["optimizer.args", "rejected its arguments"]),
    Case("unknown-group", ["run", "repaint", "optimizer.groups.nope.lr=1", "output_dir={tmp}/o"], ["optimizer.groups.nope", "no parameter group 'nope'"]),
    Case("device-tpu", ["run", "repaint", "device=tpu", "output_dir={tmp}/o"], ["device", "is not a device"]),
    Case("device-cuda", ["run", "repaint", "device=cuda", "output_dir={tmp}/o"], ["device", "torch sees no CUDA GPU"], tags=["cpu-only"]),
    Case("malformed-prompt", ["run", "clip_pixels", "a:b:c:d"], ["command line: prompt", "malformed prompt"]),
    Case("prompt-resolver", ["run", "repaint", "prompt=${oc.env:HOME}"], ["command line: prompt", "resolver 'oc.env'"]),
    Case("animation-avi", ["run", "repaint", "media.animation=avi"], ["media.animation", "'avi' is not one of"]),
    Case("type-nope", ["run", "repaint", "losses.x.type=nope"], ["losses.x.type", "unknown loss 'nope'"]),
    Case("from-and-resume", ["run", "--from", "{earlier}/final.png", "--resume", "{earlier}"], ["not both"]),
    Case("unknown-option-flag", ["run", "repaint", "--stpes", "3"], ["unrecognized arguments"], exit_codes=(2,)),
]

IMAGES = [
    Case("image-missing", ["run", "repaint", "losses.layout.image={tmp}/none.png", *REPAINT, "output_dir={tmp}/o"], ["losses.layout.image", "not found"]),
    Case("image-is-folder", ["run", "repaint", "losses.layout.image={tmp}", *REPAINT, "output_dir={tmp}/o"], ["losses.layout.image", "is a folder"]),
    Case("image-not-image", ["run", "repaint", "losses.layout.image={tmp}/x.png", *REPAINT, "output_dir={tmp}/o"], ["losses.layout.image", "not a readable image"], write("x.png", "hello")),
    Case("image-truncated", ["run", "repaint", "losses.layout.image={tmp}/t.png", *REPAINT, "output_dir={tmp}/o"], ["losses.layout.image", "not a readable image"],
         lambda t, e: (t / "t.png").write_bytes((e / "final.png").read_bytes()[:400])),
    Case("image-bomb", ["run", "repaint", "losses.layout.image={tmp}/bomb.png", *REPAINT, "output_dir={tmp}/o"], ["losses.layout.image", "decompression bomb"],
         lambda t, e: (t / "bomb.png").write_bytes(png_header(30000, 30000))),
    Case("init-image-missing", ["run", "repaint", "parameterization.init_image={tmp}/none.jpg", *REPAINT, "output_dir={tmp}/o"], ["parameterization.init_image", "not found"]),
]

PNG_CHUNKS = [
    Case("png-no-chunk", ["run", "--from", "{tmp}/plain.png"], ["plain.png", "carries no pixengine run"], lambda t, e: Image.new("RGB", (4, 4)).save(t / "plain.png")),
    Case("png-bad-yaml", ["run", "--from", "{tmp}/edited.png"], ["edited.png", "not valid YAML"], edited_png(lambda d: None, raw="config: [1,\n")),
    Case("png-not-mapping", ["run", "--from", "{tmp}/edited.png"], ["edited.png", "must be a YAML mapping"], edited_png(lambda d: None, raw="- 1\n- 2\n")),
    Case("png-alias-bomb", ["run", "--from", "{tmp}/edited.png"], ["edited.png", "alias bomb"], edited_png(lambda d: None, raw=alias_bomb() + "config: {}\n")),
    Case("png-config-scalar", ["run", "--from", "{tmp}/edited.png"], ["edited.png", "holds no config"], edited_png(lambda d: None, raw="config: 3\n")),
    Case("png-resolver", ["run", "--from", "{tmp}/edited.png"], ["edited.png", "resolver 'oc.env'"], edited_png(lambda d: d["config"].update(description="${oc.env:HOME}"))),
    Case("png-stranger-file", ["run", "--from", "{tmp}/edited.png"], ["losses.layout.image", "name it yourself"], stranger_file),
    Case("png-missing-plugin", ["run", "--from", "{tmp}/edited.png"], ["halftone", "pip install 'pixengine-halftone==0.3.1'"],
         edited_png(lambda d: d["plugins"].update(halftone={"distribution": "pixengine-halftone", "version": "0.3.1"}))),
    Case("png-bad-value", ["run", "--from", "{tmp}/edited.png"], ["edited.png", "steps", "'lots'"], edited_png(lambda d: d["config"].update(steps="lots"))),
    Case("from-missing", ["run", "--from", "{tmp}/none.png"], ["none.png", "does not exist"]),
    Case("from-folder", ["run", "--from", "{tmp}"], ["not a run folder"]),
    Case("from-jpeg", ["run", "--from", "{tmp}/photo.jpg"], ["photo.jpg"], lambda t, e: Image.new("RGB", (4, 4)).save(t / "photo.jpg")),
    Case("info-bad-png", ["info", "{tmp}/edited.png"], ["edited.png", "not valid YAML"], edited_png(lambda d: None, raw="config: [1,\n")),
    Case("bundle-zip-slip", ["run", "{tmp}/b.zip"], ["b.zip", "outside the bundle"], lambda t, e: _zip(t / "b.zip", {"../x": "1"})),
    Case("bundle-not-zip", ["run", "{tmp}/b.zip"], ["b.zip", "not a zip file"], write("b.zip", "not a zip")),
]


def _zip(path: Path, members: dict) -> None:
    import json
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": 1}))
        archive.writestr("recipe.yaml", "config: {}\n")
        for name, data in members.items():
            archive.writestr(name, data)


CHECKPOINTS = [
    Case("ckpt-missing", ["run", "--resume", "{tmp}"], ["has no checkpoint.pt"]),
    Case("ckpt-garbage", ["run", "--resume", "{tmp}/run"], ["checkpoint.pt", "cannot be read as a pixengine checkpoint"],
         lambda t, e: ((t / "run").mkdir(), (t / "run" / "checkpoint.pt").write_bytes(b"garbage" * 10))),
    Case("ckpt-negative-step", ["run", "--resume", "{tmp}/run"], ["'step' is -3"], edited_checkpoint(lambda p: p.update(step=-3))),
    Case("ckpt-no-rng", ["run", "--resume", "{tmp}/run"], ["'rng' does not hold"], edited_checkpoint(lambda p: p.pop("rng"))),
    Case("ckpt-bad-size", ["run", "--resume", "{tmp}/run"], ["'size' is"], edited_checkpoint(lambda p: p.update(size=[0, "x"]))),
    Case("ckpt-bad-yaml", ["run", "--resume", "{tmp}/run"], ["checkpoint.pt", "not valid YAML"], edited_checkpoint(lambda p: p.update(document="config: [1,\n"))),
    Case("ckpt-bad-format", ["run", "--resume", "{tmp}/run"], ["not a pixengine checkpoint of format 1"], edited_checkpoint(lambda p: p.update(format=99))),
    Case("ckpt-other-run", ["run", "--resume", "{tmp}/run", "steps=4"], ["was made by another run", "seed"],
         edited_checkpoint(lambda p: p.update(document=p["document"].replace("  seed: 0\n", "  seed: 5\n")))),
    Case("ckpt-finished", ["run", "--resume", "{earlier}"], ["already did 2 of its 2 steps", "steps=N"]),
    Case("ckpt-changed-size", ["run", "--resume", "{earlier}", "steps=4", "width=32"], ["width, height and grow cannot change"]),
    Case("resume-a-file", ["run", "--resume", "{earlier}/final.png"], ["is a file"]),
]

FILESYSTEM = [
    Case("output-is-file", ["run", "repaint", *REPAINT, "output_dir={tmp}/f"], ["f", "it is a file, not a folder"], write("f", "x")),
    Case("output-read-only", ["run", "repaint", *REPAINT, "output_dir=/proc/pixengine-test/out"], ["/proc/pixengine-test", "cannot write"]),
    Case("final-is-folder", ["run", "repaint", *REPAINT, "output_dir={tmp}/out"], ["final.png", "a folder is in the way"], folder_in_the_way),
    Case("log-disk-full", ["run", "repaint", *REPAINT, "output_dir={tmp}/out"], ["log.jsonl", "the disk is full"],
         lambda t, e: ((t / "out").mkdir(), os.symlink("/dev/full", t / "out" / "log.jsonl"))),
]

PLUGINS_AND_WEIGHTS = [
    Case("clip-weights-missing", ["run", "clip_pixels", "models.clip.path={tmp}/none.pt", "output_dir={tmp}/o"], ["models.clip", "weights for model", "no such file"]),
    Case("clip-weights-text", ["run", "clip_pixels", "models.clip.path={tmp}/w.txt", "output_dir={tmp}/o"], ["models.clip.path", "does not look like a weight file"], write("w.txt", "hi")),
    Case("clip-weights-garbage", ["run", "clip_pixels", "models.clip.path={tmp}/w.pt", "output_dir={tmp}/o"], ["models.clip.path", "cannot read weights"], write("w.pt", b"\x00garbage")),
    Case("vgg-weights-garbage", ["run", "default", "models.vgg.path={tmp}/v.pt", "output_dir={tmp}/o"], ["models.vgg", "v.pt"], write("v.pt", b"\x00garbage")),
    Case("fetch-unknown", ["models", "fetch", "nothing"], ["no model catalog lists 'nothing'"]),
    Case("fetch-gan-offline", ["models", "fetch", "vqgan_imagenet_f16_1024"], ["vqgan_imagenet_f16_1024", "PIXENGINE_OFFLINE"], tags=["offline"]),
    Case("fetch-stylegan-drive", ["models", "fetch", "stylegan2-ffhq-config-f"], ["cannot be downloaded automatically", "Google Drive"]),
    Case("show-unknown-component", ["plugins", "show", "pixles"], ["no component named 'pixles'"]),
    Case("validate-bad", ["presets", "validate", "{tmp}/p.yaml"], [], write("p.yaml", "extends: repaint\nsteps: x\n")),
    Case("share-bad-dest", ["share", "repaint", "-o", "{tmp}/x.tar"], ["a bundle is a .zip file"]),
    Case("scaffold-bad-name", ["plugins", "new", "Bad-Name", "-o", "{tmp}/s"], ["is not a plugin name"]),
]

CASES = PRESETS + OVERRIDES + IMAGES + PNG_CHUNKS + CHECKPOINTS + FILESYSTEM + PLUGINS_AND_WEIGHTS


def test_the_table_covers_every_class_with_at_least_eighty_cases():
    assert len(CASES) >= 80
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def earlier(tmp_path_factory) -> Path:
    """A finished run whose files every case must leave as they were."""
    folder = tmp_path_factory.mktemp("earlier") / "run"
    pixengine.run("repaint", steps=2, width=24, height=16, progress=False, save_every=1, output_dir=str(folder))
    return folder


def _fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".pixengine.lock"}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_bad_input_gets_one_clear_message_and_loses_nothing(case, earlier, tmp_path, capsys, monkeypatch):
    if "offline" in case.tags:
        monkeypatch.setenv("PIXENGINE_OFFLINE", "1")
    monkeypatch.setenv("PIXENGINE_CACHE", str(tmp_path / "cache"))
    if "cpu-only" in case.tags and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    before = _fingerprint(earlier)
    if case.setup:
        case.setup(tmp_path, earlier)
    argv = [word.replace("{tmp}", str(tmp_path)).replace("{earlier}", str(earlier)) for word in case.argv]
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code
    out, err = capsys.readouterr()
    text = out + err
    assert code in case.exit_codes, f"exit {code}:\n{text}"
    assert "Traceback" not in text, text
    for expected in case.expect:
        assert expected in text, f"{expected!r} not in:\n{text}"
    assert _fingerprint(earlier) == before, "an earlier run's files changed"


def test_a_full_disk_mid_run_keeps_every_file_written_whole(tmp_path, monkeypatch, capsys):
    """The disk fills up while the checkpoint of step 2 is written: the run stops with one
    message naming the file, and final.png, run.yaml and the log written before are intact."""
    from pixengine import outputs

    real_fsync = os.fsync
    seen = []

    def fsync(fd):
        seen.append(fd)
        if len(seen) == 6:  # run.yaml, step 1's PNG and checkpoint, step 2's PNG... then full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(outputs.os, "fsync", fsync)
    code = main(["run", "repaint", *REPAINT, "steps=4", f"output_dir={tmp_path / 'out'}"])
    text = "".join(capsys.readouterr())
    monkeypatch.setattr(outputs.os, "fsync", real_fsync)
    assert code == 1 and "the disk is full" in text and "Traceback" not in text
    for name in ("final.png", "run.yaml"):
        path = tmp_path / "out" / name
        if path.exists():  # whatever exists is whole
            assert path.read_bytes()
            if name == "final.png":
                read_run_document(path)
    lines = (tmp_path / "out" / "log.jsonl").read_text().splitlines()
    assert all(line.startswith("{") and line.endswith("}") for line in lines)
    assert not list((tmp_path / "out").glob(".*.tmp"))  # no temporary file left behind


def test_a_torn_log_line_and_steps_after_the_checkpoint_are_repaired_on_resume(tmp_path):
    settings = {"width": 24, "height": 16, "progress": False, "save_every": 2}
    straight = pixengine.run("repaint", steps=4, **settings, output_dir=str(tmp_path / "straight"))
    stopped = tmp_path / "stopped"
    pixengine.run("repaint", steps=2, **settings, output_dir=str(stopped))  # its checkpoint is at step 2
    # As if it had logged step 3 after that checkpoint and been killed while writing step 4:
    step_3 = (tmp_path / "straight" / "log.jsonl").read_text().splitlines()[2]
    with open(stopped / "log.jsonl", "a") as log:
        log.write(step_3 + "\n" + step_3[:10])
    resumed = pixengine.run(resume=stopped, steps=4)
    steps = [json.loads(line)["step"] for line in (stopped / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # each step once, the torn line gone
    assert torch.equal(resumed.tensor, straight.tensor)


def test_two_runs_into_one_folder_the_second_is_refused_and_the_first_finishes(tmp_path):
    import subprocess
    import sys
    import time

    out = tmp_path / "shared"
    first = subprocess.Popen([sys.executable, "-m", "pixengine", "run", "repaint", "steps=100000", "width=16", "height=16",
                              "progress=false", f"output_dir={out}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (out / "log.jsonl").exists():
            time.sleep(0.2)
        code = main(["run", "repaint", "steps=2", "progress=false", f"output_dir={out}"])
        assert code == 1
    finally:
        first.terminate()
        _, err = first.communicate(timeout=60)
    assert first.returncode == 143 and "Run interrupted" in err
    document = read_run_document(out / "final.png")
    assert document["status"] == "interrupted" and document["steps"] == 100000  # the first run's files


def test_a_second_ctrl_c_while_the_last_image_is_written_still_leaves_it_whole(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "pixengine", "run", "repaint", "steps=100000", "width=16", "height=16",
                                "progress=false", f"output_dir={out}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not ((out / "log.jsonl").exists() and (out / "log.jsonl").stat().st_size):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)  # impatient
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err
    document = read_run_document(out / "final.png")  # whole and readable
    assert document["status"] == "interrupted"
