"""Seeds (pixengine/seeds.py): what a seed may be, the integer it names, and that seeding a run
makes Python's, numpy's and torch's draws repeat."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from pixengine.errors import ConfigError
from pixengine.seeds import LARGEST_PLAIN, check_seed, seed_everything, seed_value


def test_plain_integers_are_their_own_seed_up_to_63_bits():
    assert [seed_value(s) for s in (0, 7, LARGEST_PLAIN)] == [0, 7, LARGEST_PLAIN]


@pytest.mark.parametrize("seed", [-1, LARGEST_PLAIN + 1, 2**80, "sunset", ""])
def test_other_seeds_are_hashed_stably_into_63_bits(seed):
    value = seed_value(seed)
    assert 0 <= value <= LARGEST_PLAIN and value == seed_value(seed)
    assert value != seed


def test_different_seeds_name_different_runs():
    values = {seed_value(s) for s in ("a", "b", "1", 1, -1, 2**63, 2**64)}
    assert len(values) == 7
    assert seed_value("sunset") == 1650563788187904264  # stable across versions: recorded seeds reproduce


def test_a_seed_must_be_an_integer_or_a_string():
    assert check_seed(12) == 12 and check_seed("door") == "door"
    for bad in (True, 1.5, [1]):
        with pytest.raises(ConfigError, match="seed must be an integer or a string") as info:
            check_seed(bad, source="p.yaml")
        assert info.value.key == "seed" and info.value.source == "p.yaml"


def test_no_seed_picks_a_random_one_that_fits_every_generator():
    picked = {check_seed(None) for _ in range(5)}
    assert len(picked) > 1 and all(isinstance(s, int) and 0 <= s < 2**31 for s in picked)


def draws():
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_seeding_repeats_every_generators_draws():
    seed_everything(2**40 + 3, deterministic=False)
    first = draws()
    seed_everything(2**40 + 3, deterministic=False)
    assert draws() == first
    seed_everything(5, deterministic=False)
    other = draws()
    assert all(a != b for a, b in zip(other, first))
    # numpy takes 32 bits: the seed is reduced, not refused, and still repeats.
    seed_everything(2**40 + 3, deterministic=False)
    np_first = float(np.random.rand())
    np.random.seed(3)
    assert np_first == float(np.random.rand())


def test_deterministic_algorithms_follow_the_setting():
    try:
        seed_everything(1, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        seed_everything(1, deterministic=False)
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_choosing_deterministic_algorithms_does_not_import_the_compiler():
    # torch.use_deterministic_algorithms imports torch._inductor (seconds of a run's start);
    # pixengine compiles nothing, so seeding must not pay for it.
    import subprocess
    import sys

    code = ("import sys, torch; from pixengine.seeds import seed_everything; seed_everything(1, deterministic=True); "
            "print(torch.are_deterministic_algorithms_enabled(), 'torch._inductor' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]
