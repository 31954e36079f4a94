"""Outputs are written whole or not at all (pixengine.outputs.atomic_write): a write that fails
half-way leaves the previous file as it was and no temporary file behind."""

from __future__ import annotations

import os
import stat

import pytest

from pixengine.outputs import atomic_write, write_text


def test_a_write_replaces_the_file_and_returns_its_path(tmp_path):
    target = tmp_path / "deep" / "er" / "run.yaml"
    assert write_text(target, "steps: 3\n") == target
    assert target.read_text() == "steps: 3\n"
    write_text(target, "steps: 4\n")
    assert target.read_text() == "steps: 4\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["run.yaml"]


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "final.png"
    target.write_bytes(b"the old image")

    def fails(handle):
        handle.write(b"half of the new ima")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fails)
    assert target.read_bytes() == b"the old image"
    assert [p.name for p in tmp_path.iterdir()] == ["final.png"]


def test_an_interrupted_first_write_leaves_nothing(tmp_path):
    def interrupted(handle):
        handle.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "log.jsonl", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_written_files_are_as_readable_as_any_file_the_user_makes(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text(tmp_path / "a.txt", "x")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o077)
        path = write_text(tmp_path / "b.txt", "x")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)
