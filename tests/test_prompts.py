"""The prompt grammar (pixengine/prompts.py): what it accepts, what it rejects and where."""

from __future__ import annotations

import pytest

from pixengine import ConfigError
from pixengine.prompts import Bound, Prompt, format_prompts, parse_prompts


def test_plain_text_is_one_prompt_of_weight_one():
    assert parse_prompts("  a lighthouse at dusk ") == [Prompt("a lighthouse at dusk", 1.0)]


def test_blank_gives_no_prompts():
    assert parse_prompts("") == [] and parse_prompts("   ") == []


def test_weights_stops_and_ranges():
    prompts = parse_prompts("a red barn:2 | fog : -0.5 : 1.2 | sunrise@-50% | night:0.3@50%- | a bird@10-20")
    assert [p.text for p in prompts] == ["a red barn", "fog", "sunrise", "night", "a bird"]
    assert [p.weight for p in prompts] == [2.0, -0.5, 1.0, 0.3, 1.0]
    assert prompts[1].stop == 1.2 and prompts[0].stop is None
    assert prompts[2].start is None and prompts[2].end == Bound(50, True)
    assert prompts[3].start == Bound(50, True) and prompts[3].end is None
    assert (prompts[4].start, prompts[4].end) == (Bound(10), Bound(20))


def test_numbers_in_every_float_spelling():
    weights = [p.weight for p in parse_prompts("a:.5|b:+2|c:1e-1|d:-3.|e:0")]
    assert weights == [0.5, 2.0, 0.1, -3.0, 0.0]


def test_escapes_keep_special_characters_in_the_text():
    (prompt,) = parse_prompts(r"time 5\:30 \| tea \@home \\ ok:2")
    assert prompt.text == r"time 5:30 | tea @home \ ok" and prompt.weight == 2.0


def test_format_reads_back():
    text = r"a\:b:0.5:0.9@10-50% | c:-1@-20"
    prompts = parse_prompts(text)
    assert parse_prompts(format_prompts(prompts)) == prompts


def test_ranges_by_step_and_by_percentage():
    first, second, third = parse_prompts("a@-50% | b@10-20 | c@5-")
    assert [first.active(s, 100) for s in (0, 49, 50, 99)] == [True, True, False, False]
    assert [second.active(s, 100) for s in (9, 10, 19, 20)] == [False, True, True, False]
    assert [third.active(s, 100) for s in (-1, 4, 5, 1000)] == [False, False, True, True]
    # step -1 (scoring candidates before step 1) counts as step 0
    assert first.active(-1, 100)


@pytest.mark.parametrize(
    "text, position, words",
    [
        ("a cat:1x", 7, "expected a number (the weight)"),
        ("a cat:abc", 6, "expected a number (the weight)"),
        ("a cat:", 5, "expected a number (the weight) after ':'"),
        ("a cat:1:z", 8, "the stop value"),
        ("a:1:2:3", 5, "too many ':' fields"),
        ("a||b", 1, "empty prompt text"),
        ("|a", 0, "empty prompt text"),
        ("a |", 2, "empty prompt text"),
        ("  :2", 2, "empty prompt text"),
        ("a@10", 3, "the '-' is missing"),
        ("a@x-5", 2, "step range"),
        ("a@5-x", 4, "step range"),
        ("a@-", 2, "give at least one end"),
        ("a@", 1, "step range"),
        ("a@20-10", 4, "ends (10) before it starts (20)"),
        ("a:inf", 2, "expected a number"),
        ("trailing\\", 8, "backslash"),
    ],
)
def test_malformed_prompts_point_at_the_character(text, position, words):
    with pytest.raises(ConfigError) as info:
        parse_prompts(text, key="prompt")
    message = str(info.value)
    assert words in message
    assert info.value.key == "prompt"
    assert f"(character {position + 1})" in message
    shown, caret = message.splitlines()[-2:]
    assert shown == "  " + text
    assert caret == "  " + " " * position + "^"


def test_long_prompts_show_a_window_around_the_error():
    text = "word " * 40 + "x:1q" + " more" * 40
    with pytest.raises(ConfigError) as info:
        parse_prompts(text)
    shown, caret = str(info.value).splitlines()[-2:]
    assert len(shown) < 100 and shown.strip().startswith("...")
    assert shown[caret.index("^")] == "q"
