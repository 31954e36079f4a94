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


def test_format_escapes_every_special_character_and_keeps_negative_weights_stops_and_ranges():
    prompts = [
        Prompt("a:b|c@d\\e", -0.5, stop=0.8, start=Bound(10), end=Bound(50, True)),
        Prompt("fog", 2.0, start=Bound(25, True)),
        Prompt("night", 1.0, end=Bound(7)),
        Prompt("plain"),
    ]
    text = format_prompts(prompts)
    assert text == r"a\:b\|c\@d\\e:-0.5:0.8@10-50% | fog:2@25%- | night:1@-7 | plain:1"
    assert parse_prompts(text) == prompts


def test_a_negative_prompt_with_a_stop_reads_back_with_both():
    (prompt,) = parse_prompts("text, watermark : -0.3 : -0.9")
    assert (prompt.text, prompt.weight, prompt.stop) == ("text, watermark", -0.3, -0.9)
    assert str(prompt) == "text, watermark:-0.3:-0.9"


@pytest.mark.parametrize("text", ["a@10-10", "a@10%-10%", "a@0-0"])
def test_a_range_that_ends_where_it_starts_is_refused(text):
    with pytest.raises(ConfigError, match=r"the range ends \(\d+%?\) before it starts"):
        parse_prompts(text)


def test_the_shortest_ranges_and_ranges_mixing_steps_and_percentages_are_accepted():
    one, first, mixed = parse_prompts("a@10-11 | b@0-1 | c@50%-10")
    assert [s for s in range(-1, 20) if one.active(s, 20)] == [10]
    assert [s for s in range(-1, 20) if first.active(s, 20)] == [-1, 0]
    # Steps and percentages are compared only once the run's length is known.
    assert [s for s in range(10) if mixed.active(s, 10)] == [5, 6, 7, 8, 9]
    assert not mixed.active(4, 100)


def test_percentages_of_a_run_that_do_not_fall_on_a_step():
    (prompt,) = parse_prompts("a@25%-75%")
    # Of 10 steps: from 2.5 (so step 3) to before 7.5 (so step 7).
    assert [s for s in range(10) if prompt.active(s, 10)] == [3, 4, 5, 6, 7]


def test_spaces_inside_a_range_are_ignored_and_errors_point_past_them():
    (prompt,) = parse_prompts("a @ 10 - 20 ")
    assert (prompt.start, prompt.end) == (Bound(10), Bound(20))
    with pytest.raises(ConfigError) as info:
        parse_prompts("a@5- x")
    assert "(character 6)" in str(info.value)


def test_escaped_spaces_at_the_ends_of_the_text_are_kept_and_survive_a_round_trip():
    (prompt,) = parse_prompts("\\  padded \\ :2")
    assert prompt.text == "  padded  " and prompt.weight == 2.0
    assert parse_prompts(format_prompts([prompt])) == [prompt]


def test_errors_in_a_short_prompt_show_all_of_it_without_ellipses():
    with pytest.raises(ConfigError) as info:
        parse_prompts("a cat:1x")
    shown, caret = str(info.value).splitlines()[-2:]
    assert "..." not in shown


def test_errors_near_the_end_of_a_long_prompt_show_its_end():
    text = "word " * 40 + "x:1q"
    with pytest.raises(ConfigError) as info:
        parse_prompts(text)
    shown, caret = str(info.value).splitlines()[-2:]
    assert shown.startswith("  ...") and shown.endswith("x:1q")
    assert shown[caret.index("^")] == "q"
