"""Seeds: what a config's ``seed`` may be, the integer it stands for, and seeding every random
generator a run draws from.

A seed is an integer of any size or a string (pixray's string seeds): strings, and integers
beyond what the generators take (torch and Python accept 64 bits, numpy 32), are hashed
stably to 63 bits, so any seed a user writes names one run. ``null`` picks one at random, and
the run records the one it picked.
"""

from __future__ import annotations

import hashlib
import os
import random

from .errors import ConfigError

#: Integers at most this large are used as they are.
LARGEST_PLAIN = 2**63 - 1


def check_seed(seed, source: str | None = None):
    """The config's seed, with ``None`` replaced by a random one; ConfigError for other types."""
    if seed is None:
        return random.SystemRandom().randrange(2**31)
    if isinstance(seed, bool) or not isinstance(seed, (int, str)):
        raise ConfigError(f"seed must be an integer or a string, got {seed!r}", key="seed", source=source)
    return seed


def seed_value(seed: int | str) -> int:
    """The integer the generators are seeded with: the seed itself when it is an integer in
    [0, 2^63), else a stable hash of it (strings, negative or larger integers)."""
    if isinstance(seed, int) and 0 <= seed <= LARGEST_PLAIN:
        return seed
    return int.from_bytes(hashlib.sha256(str(seed).encode()).digest()[:8], "little") & LARGEST_PLAIN


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python's, numpy's and torch's generators, and choose deterministic algorithms."""
    import numpy as np
    import torch

    from .compiler_free import set_deterministic_algorithms

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this to be deterministic; it must be set before the first cuBLAS call.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    set_deterministic_algorithms(deterministic)
