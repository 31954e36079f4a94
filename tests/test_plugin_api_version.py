"""The plugin API version (pixengine/api_version.py): what a plugin's PIXENGINE_API may say and
which versions a pixengine accepts."""

from __future__ import annotations

import pytest

from pixengine.api_version import API_VERSION, incompatibility, parse


@pytest.mark.parametrize("text, expected", [("1.1", (1, 1)), ("1", (1, 0)), (" 2.10 ", (2, 10)), ("0.0", (0, 0))])
def test_versions_read_as_major_and_minor(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["", "1.", ".1", "1.2.3", "v1", "1.x", "-1"])
def test_anything_else_is_not_a_version(text):
    with pytest.raises(ValueError, match=f"is not an API version such as '{API_VERSION}'"):
        parse(text)


def test_a_plugin_for_this_or_an_older_minor_version_runs():
    assert incompatibility("1.0", "1.2") is None
    assert incompatibility("1.2", "1.2") is None
    assert incompatibility("1", "1.2") is None
    assert incompatibility(API_VERSION) is None


def test_a_plugin_for_a_newer_minor_or_another_major_version_is_refused_saying_why():
    assert incompatibility("1.3", "1.2") == "needs plugin API 1.3, and this pixengine has only API 1.2; upgrade pixengine"
    assert incompatibility("2.0", "1.2") == "written for plugin API 2.0, and this pixengine has API 1.2 (another major version)"
    assert incompatibility("0.9", "1.2") == "written for plugin API 0.9, and this pixengine has API 1.2 (another major version)"
    assert incompatibility("one", "1.2") == f"PIXENGINE_API: 'one' is not an API version such as '{API_VERSION}'"
