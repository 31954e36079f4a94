"""Eager torch without its compiler's import cost.

pixengine compiles nothing, yet some of torch's eager APIs load torch's compiler the first time
they are called, only to configure it or to exclude themselves from compilation: on a 2-core CPU
that is about 1.7 s (torch._inductor) and 1.1 s (torch._dynamo) of a run's start, more than
the first step of a small run. The helpers here do what those APIs do for eager code and leave
the compiler unloaded; once a plugin has loaded it (it compiles something), they defer to torch.
"""

from __future__ import annotations

import sys

import torch


def set_deterministic_algorithms(enabled: bool) -> None:
    """``torch.use_deterministic_algorithms(enabled, warn_only=True)`` without importing
    torch._inductor, which the public function imports to set inductor's own flag."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None or "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(enabled, warn_only=True)
        return
    setter(enabled, warn_only=True)


def _dynamo_disable_wrapper_code():
    """The code object of the wrapper torch._disable_dynamo puts around a function, or None
    when this torch has no such helper (then nothing here applies)."""
    disable = getattr(getattr(torch, "_compile", None), "_disable_dynamo", None)
    if disable is None:
        return None
    return getattr(disable(lambda: None), "__code__", None)


def leave_optimizers_uncompiled() -> None:
    """torch.optim.Optimizer's add_param_group, zero_grad, state_dict and load_state_dict are
    wrapped by ``torch._disable_dynamo``, whose wrapper imports torch._dynamo on its first call
    to build "this function, never compiled", and caches that on the function. With dynamo not
    loaded nothing can be compiling, so the function itself is that: it is cached here instead.

    Only L-BFGS-style optimisers gain (Adam's and SGD's ``step`` import torch._dynamo
    themselves). If this torch wraps its methods differently, nothing is changed and torch
    imports its compiler as before.
    """
    if "torch._dynamo" in sys.modules:
        return
    wrapper_code = _dynamo_disable_wrapper_code()
    if wrapper_code is None:
        return
    for method in vars(torch.optim.Optimizer).values():
        wrapped = getattr(method, "__wrapped__", None)
        if wrapped is not None and getattr(method, "__code__", None) is wrapper_code:
            # The wrapper reads this attribute by this exact name (no class, so no mangling).
            setattr(wrapped, "__dynamo_disable", wrapped)
