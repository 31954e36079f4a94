"""Component options (pixengine/options.py): the bounds and choices checked on values, list
values included, what a plugin's declaration may say, and the files an option names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pytest

from pixengine.options import (
    REQUIRED,
    FileOption,
    check_constraints,
    declaration_problems,
    describe,
    option,
    type_name,
)


@dataclass
class Bounded:
    scale: list[float] = option([0.9, 1.1], help="zoom range", min=0.5, max=2)
    count: int = option(3, help="how many", min=1)
    mode: str = option("mean", help="reduction", choices=["mean", "sum"])
    gain: Optional[float] = option(None, help="optional gain", max=10)


def problems(**values) -> list[tuple[str, str]]:
    return check_constraints(Bounded, {"scale": [1.0], "count": 3, "mode": "mean", "gain": None, **values})


def test_values_inside_their_bounds_pass_and_the_bounds_themselves_are_inside():
    assert problems() == []
    assert problems(scale=[0.5, 2], count=1, gain=10) == []


@pytest.mark.parametrize(
    "values, expected",
    [
        ({"scale": [0.9, 2.5]}, [("scale", "[0.9, 2.5] must be at most 2")]),
        ({"scale": [0.4, 1.0]}, [("scale", "[0.4, 1.0] must be at least 0.5")]),
        ({"scale": (1.0, 0.1)}, [("scale", "(1.0, 0.1) must be at least 0.5")]),
        ({"count": 0}, [("count", "0 must be at least 1")]),
        ({"gain": 10.5}, [("gain", "10.5 must be at most 10")]),
        ({"mode": "max"}, [("mode", "'max' is not one of 'mean', 'sum'")]),
    ],
)
def test_each_value_out_of_bounds_is_named_with_its_bound(values, expected):
    assert problems(**values) == expected


def test_one_element_of_a_list_out_of_bounds_is_enough():
    # Any element, not only the first or the last.
    assert [name for name, _ in problems(scale=[1.0, 0.1, 1.0])] == ["scale"]


def test_a_list_below_its_minimum_and_above_its_maximum_reports_both():
    assert problems(scale=[0.1, 3.0]) == [("scale", "[0.1, 3.0] must be at least 0.5"), ("scale", "[0.1, 3.0] must be at most 2")]


def test_values_that_are_not_numbers_are_left_to_the_type_check():
    # Booleans are ints to Python, but not numbers to an option; None and "???" are unset.
    assert problems(count=False, gain=None) == []
    assert problems(count=REQUIRED) == []
    assert problems(scale=["a", True]) == []


def test_constraints_are_read_from_an_instance_as_from_a_mapping():
    instance = Bounded(scale=[3.0], count=0)
    assert [name for name, _ in check_constraints(Bounded, instance)] == ["scale", "count"]


def test_a_sound_declaration_has_no_problems():
    assert declaration_problems(Bounded) == []


def test_declaration_problems_name_the_option_and_what_is_wrong():
    @dataclass
    class Bad:
        when: set = option(help="a set")
        label: str = option("x", help="a label", min=0)
        names: list[str] = option(["a"], help="names", max=3)
        mode: str = option("c", help="mode", choices=["a", 2])
        ratio: float = option("half", help="a ratio")
        steps: int = option(0, help="steps", min=1)
        tags: dict[int, str] = option({}, help="tags")
        either: Any = option(None, help="anything")

    assert declaration_problems(Bad) == [
        "option 'when': type 'set' is not supported; use int, float, str, bool, Any, Optional[X], list[X] and dict[str, X] of those scalars",
        "option 'label': min= is only for numbers, and 'label' is str",
        "option 'names': max= is only for numbers, and 'names' is list[str]",
        "option 'mode': choice 2 is not str",
        "option 'mode': the default 'c' is not one of 'a', 2",
        "option 'ratio': default 'half' is not float",
        "option 'steps': the default 0 must be at least 1",
        "option 'tags': type a dict whose keys are not str is not supported; use int, float, str, bool, Any, "
        "Optional[X], list[X] and dict[str, X] of those scalars",
    ]


def test_numeric_lists_and_optional_numbers_may_have_bounds():
    @dataclass
    class Fine:
        scale: list[float] = option([1.0], help="s", min=0)
        counts: list[int] = option([1, 2], help="c", max=9)
        limit: Optional[int] = option(None, help="l", min=0)
        ok: bool = option(True, help="b")
        weights: dict[str, float] = option({"a": 1.0}, help="w")

    assert declaration_problems(Fine) == []


def test_defaults_must_fit_their_declared_type():
    @dataclass
    class Wrong:
        a: int = option(True, help="a bool is not an int")
        b: float = option(1, help="an int is a float")
        c: list[int] = option([1, 2.5], help="a float in an int list")
        d: Optional[str] = option(None, help="None fits Optional")
        e: dict[str, int] = option({"x": "y"}, help="a str value")

    assert declaration_problems(Wrong) == [
        "option 'a': default True is not int",
        "option 'c': default [1, 2.5] is not list[int]",
        "option 'e': default {'x': 'y'} is not dict[str, int]",
    ]


def test_something_that_is_not_a_dataclass_is_refused_by_name():
    class Plain:
        pass

    assert declaration_problems(Plain) == ["Options ('Plain') is not a dataclass"]


def test_type_names_read_as_written():
    assert type_name(int) == "int"
    assert type_name(list[float]) == "list[float]"
    assert type_name(Optional[str]) == "str | None"
    assert type_name(dict[str, int]) == "dict[str, int]"
    assert type_name(int | None) == "int | None"
    assert type_name("Forward") == "Forward"


def test_describe_lists_each_option_with_its_default_help_and_bounds():
    first, second, third, fourth = describe(Bounded)
    assert (first.name, first.type, first.default, first.min, first.max) == ("scale", "list[float]", [0.9, 1.1], 0.5, 2)
    assert (second.help, second.min, second.max, second.choices) == ("how many", 1, None, None)
    assert third.choices == ["mean", "sum"]
    assert (fourth.type, fourth.default) == ("float | None", None)


def test_list_defaults_are_fresh_for_each_instance():
    one, two = Bounded(), Bounded()
    one.scale.append(5.0)
    assert two.scale == [0.9, 1.1]


def test_an_option_without_a_default_is_required():
    @dataclass
    class Needs:
        image: str = option(help="must be set")

    assert Needs().image == REQUIRED


def test_file_options_find_paths_in_text_lists_and_mappings():
    plain = FileOption("image")
    assert plain.paths_in("a.png") == ["a.png"]
    assert plain.paths_in(["a.png", "", "b.jpg"]) == ["a.png", "b.jpg"]
    assert plain.paths_in({"a.png": 0.5, "b.png": 1}) == ["a.png", "b.png"]
    assert plain.paths_in(3) == [] and plain.paths_in(None) == []
    prefixed = FileOption("image", prefix="image:")
    assert prefixed.paths_in(["image:cat.png", "style:3", "image:"]) == ["cat.png"]
    colours = FileOption("image", needs_suffix=True)
    assert colours.paths_in(["red", "palette.png", "#ff0000"]) == ["palette.png"]


def test_file_options_replace_only_the_names_given():
    plain = FileOption("image")
    assert plain.replace("a.png", {"a.png": "files/a.png"}) == "files/a.png"
    assert plain.replace(["a.png", "b.png"], {"b.png": "files/b.png"}) == ["a.png", "files/b.png"]
    assert plain.replace({"a.png": 0.5}, {"a.png": "files/a.png"}) == {"files/a.png": 0.5}
    assert plain.replace(7, {"7": "x"}) == 7
    prefixed = FileOption("image", prefix="image:")
    assert prefixed.replace("image:cat.png", {"cat.png": "files/cat.png"}) == "image:files/cat.png"
    assert prefixed.replace("style:3", {"style:3": "nope"}) == "style:3"
    assert prefixed.replace("cat.png", {"cat.png": "files/cat.png"}) == "cat.png"


def test_a_plain_dataclass_field_is_described_with_empty_help_and_no_constraints():
    @dataclass
    class Plain:
        size: int = 3

    (info,) = describe(Plain)
    assert (info.name, info.type, info.default, info.help, info.choices, info.min, info.max) == ("size", "int", 3, "", None, None, None)
