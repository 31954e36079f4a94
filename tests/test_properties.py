"""Property-based tests of the parsers that read what users and strangers write: the prompt
grammar, the override parser, the preset loader and the PNG recipe reader. Whatever the input,
they answer with a value or a ConfigError, never another exception; what they write they
read back unchanged."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pixengine import safe_yaml
from pixengine.config import parse_overrides
from pixengine.errors import ConfigError
from pixengine.outputs import read_run_document, run_document, save_png
from pixengine.prompts import Bound, Prompt, format_prompts, parse_prompts

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- the prompt grammar ------------------------------------------------------------------------

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30).filter(
    lambda text: text.strip() == text and text.strip()
)
numbers = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False).map(lambda v: float(f"{v:g}"))
bounds = st.builds(Bound, st.integers(min_value=0, max_value=10_000), st.booleans())


@st.composite
def prompts(draw) -> Prompt:
    start, end = draw(st.one_of(st.none(), bounds)), draw(st.one_of(st.none(), bounds))
    if start is not None and end is not None and start.percent == end.percent and end.value <= start.value:
        end = Bound(start.value + 1, start.percent)
    return Prompt(draw(texts), draw(numbers), draw(st.one_of(st.none(), numbers)), start, end)


@SETTINGS
@given(st.lists(prompts(), min_size=1, max_size=5))
def test_prompts_written_by_format_read_back_the_same(items):
    assert parse_prompts(format_prompts(items)) == items


@SETTINGS
@given(st.text(max_size=60))
def test_any_prompt_text_parses_or_gets_a_config_error_with_a_caret(text):
    try:
        parsed = parse_prompts(text)
    except ConfigError as exc:
        assert "malformed prompt" in str(exc) and "^" in str(exc)
        return
    assert all(isinstance(p, Prompt) and p.text and math.isfinite(p.weight) for p in parsed)


# -- the override parser --------------------------------------------------------------------------

keys = st.from_regex(r"\A[a-z_][a-z0-9_]{0,8}(\.[a-z0-9_]{1,8}){0,2}\Z")
scalars = st.one_of(st.integers(-10**6, 10**6), numbers, st.booleans(), st.text(alphabet="abcxyz _-", min_size=1, max_size=12))


@SETTINGS
@given(st.text(max_size=40))
def test_any_override_text_parses_or_gets_a_config_error(text):
    try:
        parse_overrides([text])
    except ConfigError:
        pass


@SETTINGS
@given(keys, scalars)
def test_an_override_value_reads_back_as_yaml_would_write_it(key, value):
    text = f"{key}={safe_yaml.dump(value).removesuffix(chr(10) + '...' + chr(10)).strip()}"
    parsed = parse_overrides([text])
    node = parsed
    for part in key.split("."):
        node = node[part]
    assert node == value


# -- the preset loader (and every other YAML a stranger may write) ----------------------------------

# Printable text: YAML refuses control characters, and PyYAML's writer leaves NEL and the
# Unicode line and paragraph separators unquoted although its reader takes them as line breaks.
printable = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x85\u2028\u2029"), max_size=20)
plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9), numbers, printable),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(printable.filter(bool), children, max_size=4)),
    max_leaves=20,
)


@SETTINGS
@given(st.dictionaries(printable.filter(bool), plain, max_size=5))
def test_plain_data_written_as_yaml_reads_back_the_same(data):
    assert safe_yaml.load(safe_yaml.dump(data), "p.yaml", mapping=True) == data


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_load_as_a_mapping_or_get_a_config_error(data):
    try:
        loaded = safe_yaml.load(data, "p.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("p.yaml")
        return
    assert isinstance(loaded, dict)


@SETTINGS
@given(st.text(alphabet="ab:-[]{}&*!,\n |'\"#.0123", max_size=120))
def test_any_yaml_like_text_loads_or_gets_a_config_error(text):
    try:
        safe_yaml.load(text, "p.yaml")
    except ConfigError:
        pass


# -- the PNG recipe reader ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blank(tmp_path_factory):
    return Image.new("RGB", (2, 2)), tmp_path_factory.mktemp("pngs")


@SETTINGS
@given(st.text(max_size=200))
def test_any_chunk_text_reads_as_a_run_or_gets_a_config_error(blank, text):
    image, folder = blank
    path = folder / "any.png"
    save_png(path, image, text)
    try:
        document = read_run_document(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
        return
    assert isinstance(document["config"], dict)


@SETTINGS
@given(st.dictionaries(st.text(alphabet="abcdef_", min_size=1, max_size=8), plain, max_size=5),
       st.dictionaries(st.sampled_from(["status", "seed", "steps"]), st.integers(0, 100), max_size=3))
def test_a_run_document_written_into_a_png_reads_back_the_same(blank, config, meta):
    image, folder = blank
    path = folder / "doc.png"
    save_png(path, image, run_document(config, meta))
    document = read_run_document(path)
    assert document["config"] == config and {k: document[k] for k in meta} == meta
