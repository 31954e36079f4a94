"""``ProjectedLBFGS``: L-BFGS with one evaluation per step that stays stable when the
parameterization projects its parameters after each step (``pixels`` with ``bound: clamp``).

torch's L-BFGS without a line search takes the same one evaluation per step, but it records each
step as the move it proposed, so a projection (clamping pixels back into [0, 1]) makes its
curvature pairs wrong, and one overshooting step can then wreck the run: on a 64x64 photo with
pure black and white bands, its loss rose 30-fold and the pixels ended as black-and-white noise.
Its strong-Wolfe line search is stable but spends more evaluations.

This one differs in three ways, and otherwise follows torch's (two-loop recursion, memory of
``history_size`` pairs, first step ``lr * min(1, 1/|g|_1)``, then steps of ``lr``):

* it measures each step as the move the parameters actually made, projection included;
* the evaluation that starts a step also judges the previous step (a deferred Armijo test,
  ``f_new <= f_old + armijo * g_old·s``): a step that failed is retracted to a fraction of
  itself (the minimum of the quadratic through the two losses and the old slope, between 0.1
  and 0.5) and the next evaluation judges that, so a bad step costs one evaluation; its
  curvature is remembered all the same (after a coarse-to-fine resize, that took the 256x256
  stage of the gatys preset from 28M to 1.3M in 7 evaluations instead of 22);
* coordinates that the projection holds at a bound while the gradient pushes them past it
  drop out of the step (L-BFGS-B's active set, read from the projection): on a box-bounded
  quadratic it then reaches the optimum, where without it every proposal was projected back
  onto the same point 0.1% above it.

It subclasses ``torch.optim.LBFGS`` so the engine treats it as L-BFGS (a closure, one group).
"""

from __future__ import annotations

import torch

#: Consecutive retractions after which the memory is dropped and the search starts afresh.
MAX_RETRACTIONS = 8


class ProjectedLBFGS(torch.optim.LBFGS):
    """L-BFGS, one evaluation per step, judged steps, curvature from the actual moves."""

    def __init__(self, params, lr: float = 1.0, history_size: int = 100, armijo: float = 1e-4):
        if history_size < 1:
            raise ValueError(f"history_size must be at least 1, got {history_size}")
        if not 0 <= armijo < 1:
            raise ValueError(f"armijo must be in [0, 1), got {armijo}")
        super().__init__(params, lr=lr, max_iter=1, history_size=history_size, tolerance_grad=0, tolerance_change=0)
        self.armijo = armijo

    def load_state_dict(self, state_dict: dict) -> None:
        """torch's loading, then a check that the saved search fits these parameters: a
        checkpoint may come from elsewhere, and a vector of the wrong size would only fail
        mid-step. ValueError names the entry."""
        super().load_state_dict(state_dict)
        size = sum(p.numel() for p in self._params)
        state = self.state[self._params[0]]
        for key in ("x", "grad", "proposal", "held"):
            if key in state and not (isinstance(state[key], torch.Tensor) and state[key].shape == (size,)):
                raise ValueError(f"ProjectedLBFGS state '{key}' is not a vector of the parameters' {size} values")
        pairs = state.get("old_s", []), state.get("old_y", [])
        if not all(isinstance(v, list) for v in pairs) or len(pairs[0]) != len(pairs[1]):
            raise ValueError("ProjectedLBFGS state 'old_s' and 'old_y' are not two lists of the same length")
        if any(not (isinstance(v, torch.Tensor) and v.shape == (size,)) for v in pairs[0] + pairs[1]):
            raise ValueError(f"ProjectedLBFGS state 'old_s'/'old_y' holds a vector that is not of the parameters' {size} values")
        for key in ("loss", "step"):
            if key in state and not isinstance(state[key], (int, float)):
                raise ValueError(f"ProjectedLBFGS state '{key}' is not a number")

    def _flat_params(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self._params])

    def _set_flat_params(self, flat: torch.Tensor) -> None:
        offset = 0
        for p in self._params:
            p.copy_(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()

    @torch.no_grad()
    def step(self, closure):
        """Evaluate once (``closure`` returns the loss after backpropagating it), judge the last
        step, and move the parameters to the next point to evaluate. Returns the loss."""
        with torch.enable_grad():
            value = closure()
        loss = float(value.detach() if isinstance(value, torch.Tensor) else value)
        x, grad = self._flat_params(), self._gather_flat_grad().clone()
        state, lr = self.state[self._params[0]], self.param_groups[0]["lr"]
        state.setdefault("old_s", [])
        state.setdefault("old_y", [])
        state.setdefault("retractions", 0)
        state["func_evals"] = state.get("func_evals", 0) + 1
        if "x" in state:  # the point the last step started from
            s, y = x - state["x"], grad - state["grad"]
            curved = float(s.dot(y)) > 1e-10 * float(y.dot(y))
            if not loss <= state["loss"] + self.armijo * float(state["grad"].dot(s)):
                if curved:  # the failed step still measured the curvature along it
                    self._remember(state, s, y)
                self._retract(state, s, loss)
                return loss
            if curved:
                self._remember(state, s, y)
        state["retractions"] = 0
        free = self._free(state, x, grad)
        direction = self._direction(grad, state["old_s"], state["old_y"], free)
        first = not state["old_s"]
        step = lr * min(1.0, 1.0 / float(grad.abs().sum())) if first else lr
        state.update(x=x, grad=grad, loss=loss, step=step)
        self._propose(state, x + step * direction)
        return loss

    def _propose(self, state: dict, point: torch.Tensor) -> None:
        state["proposal"] = point
        self._set_flat_params(point)

    @staticmethod
    def _free(state: dict, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """1 for coordinates the step may move, 0 for those held at a bound: the projection cut
        them back (now or before) and the gradient still pushes them past it. Moving them
        anyway would only be undone, and would stall the others (L-BFGS-B's active set, found
        from the projection instead of from declared bounds)."""
        side = state.get("held", torch.zeros_like(x))
        if "proposal" in state:
            cut = state["proposal"] - x  # what the projection took off the last proposal
            cut_now = cut.abs() > 1e-6 * (1 + x.abs())
            side = torch.where(cut_now, cut.sign(), side)
        side = side * (side * grad < 0)  # held while descent (-grad) still points past the bound
        state["held"] = side
        return (side == 0).to(x.dtype)

    def _retract(self, state: dict, s: torch.Tensor, loss: float) -> None:
        """Go back to a fraction of the failed step ``s`` from the point it started from."""
        state["retractions"] += 1
        if state["retractions"] > MAX_RETRACTIONS:  # the memory misleads: forget it, restart small
            state["old_s"], state["old_y"] = [], []
            self._propose(state, state["x"] - state["grad"] * min(1.0, 1.0 / float(state["grad"].abs().sum())))
            return
        slope = float(state["grad"].dot(s))
        curvature = 2 * (loss - state["loss"] - slope)
        fraction = -slope / curvature if curvature > 0 else 0.5
        self._propose(state, state["x"] + min(0.5, max(0.1, fraction)) * s)

    def _remember(self, state: dict, s: torch.Tensor, y: torch.Tensor) -> None:
        if len(state["old_s"]) == self.defaults["history_size"]:
            state["old_s"].pop(0)
            state["old_y"].pop(0)
        state["old_s"].append(s)
        state["old_y"].append(y)

    @staticmethod
    def _direction(grad: torch.Tensor, old_s: list, old_y: list, free: torch.Tensor) -> torch.Tensor:
        """-H grad on the free coordinates, by the two-loop recursion (H0 = s·y / y·y of the
        newest pair). Held coordinates are masked out of the running vector in place, which
        restricts the step to the free ones without copying the memory."""
        q = grad.neg().mul_(free)
        alphas = []
        for s, y in zip(reversed(old_s), reversed(old_y)):
            alpha = s.dot(q) / y.dot(s)
            q.add_(y, alpha=-alpha).mul_(free)
            alphas.append(alpha)
        if old_s:
            q.mul_(old_s[-1].dot(old_y[-1]) / old_y[-1].dot(old_y[-1]))
        for (s, y), alpha in zip(zip(old_s, old_y), reversed(alphas)):
            beta = y.dot(q) / y.dot(s)
            q.add_(s, alpha=alpha - beta).mul_(free)
        return q
