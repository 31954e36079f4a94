"""The hints in error messages: the closest valid names, and a model that lacks a capability."""

from __future__ import annotations

import pytest

from pixengine.errors import ConfigError, did_you_mean
from pixengine.protocols import FeatureExtractor, ImageTextEmbedder, require


def test_a_hint_names_up_to_three_close_names_closest_first_then_every_valid_one():
    valid = ["pixels", "pixel", "pixies", "pixelz", "pixells", "fft"]
    hint = did_you_mean("pixels_", valid)
    assert hint.startswith("did you mean 'pixels' or ")
    assert hint.count(" or ") == 2
    assert hint.endswith("? Valid: fft, pixel, pixells, pixels, pixelz, pixies")


def test_without_a_close_name_the_hint_lists_the_valid_ones_and_without_any_says_so():
    assert did_you_mean("zzz", ["b", "a", "a"]) == "valid: a, b"
    assert did_you_mean("zzz", []) == "there are none"


class Named:
    name = "gabor_bank"


class Plain:
    pass


class Features:
    layer_names = ["a"]
    default_layers = ["a"]

    def features(self, images, layers):
        return {}


def test_a_model_lacking_a_capability_is_named_by_label_type_and_what_would_do():
    with pytest.raises(ConfigError) as info:
        require(Named(), FeatureExtractor, "tex", "losses.style.model", "vgg or gabor")
    assert info.value.key == "losses.style.model"
    assert info.value.detail == (
        "model 'tex' (type 'gabor_bank') does not provide FeatureExtractor (pixengine.protocols); use one such as vgg or gabor"
    )
    with pytest.raises(ConfigError, match=r"model 'm' \(type 'Plain'\) does not provide ImageTextEmbedder"):
        require(Plain(), ImageTextEmbedder, "m", "losses.clip.models", "open_clip")


def test_a_model_with_the_capability_passes():
    assert require(Features(), FeatureExtractor, "f", "key", "vgg") is None
