"""ProjectedLBFGS: one evaluation per step, failed steps retracted at the next evaluation,
curvature from the moves the parameters actually made (so projections keep it stable), and a
state that survives a checkpoint."""

from __future__ import annotations

import copy

import pytest
import torch

import pixengine
from pixengine.errors import ConfigError
from pixengine.lbfgs import ProjectedLBFGS


def optimise(loss_of, x: torch.nn.Parameter, optimizer, steps: int, project=None) -> list[float]:
    """Run ``steps`` steps as the engine does (closure, then projection); the loss of each evaluation."""
    losses = []

    def closure():
        optimizer.zero_grad()
        loss = loss_of(x)
        loss.backward()
        losses.append(float(loss.detach()))
        return loss

    for _ in range(steps):
        optimizer.step(closure)
        if project is not None:
            with torch.no_grad():
                project(x)
    return losses


def boxed_quadratic(n: int = 40):
    """0.5 xᵀAx - bᵀx on [0, 1]^n, A ill-conditioned (eigenvalues 1 to 1000), half the
    unconstrained optimum outside the box."""
    generator = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
    a = q @ torch.diag(torch.logspace(0, 3, n, dtype=torch.float64)) @ q.T
    b = a @ (torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 0.5)
    return (lambda x: 0.5 * x @ a @ x - b @ x), a, b


def test_one_evaluation_per_step_and_the_box_optimum_under_projection():
    from scipy.optimize import minimize

    f, a, b = boxed_quadratic()
    reference = minimize(
        lambda v: (0.5 * v @ a.numpy() @ v - b.numpy() @ v, a.numpy() @ v - b.numpy()),
        torch.full((40,), 0.5, dtype=torch.float64).numpy(), jac=True, method="L-BFGS-B", bounds=[(0, 1)] * 40,
        options={"ftol": 0, "gtol": 1e-12, "maxiter": 10_000},
    )  # fmt: skip
    x = torch.nn.Parameter(torch.full((40,), 0.5, dtype=torch.float64))
    losses = optimise(f, x, ProjectedLBFGS([x]), steps=300, project=lambda p: p.clamp_(0, 1))
    assert len(losses) == 300  # one evaluation per step
    assert (x >= 0).all() and (x <= 1).all()
    # Pixels held at a bound drop out of the step: without that, 0.1% above it (stuck where every
    # proposal was projected back onto the same point).
    assert min(losses) - reference.fun < 1e-9 * abs(reference.fun), (min(losses), reference.fun)


def test_a_step_that_raises_the_loss_is_retracted_at_the_next_evaluation():
    """x² from 1 with a far too large rate: the first step lands at -999; each following
    evaluation judges the last step and retracts it to a tenth (the quadratic's minimum would be
    closer still, but a retraction keeps at least 0.1 of the step) until the loss falls."""
    x = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    losses = optimise(lambda p: (p**2).sum(), x, ProjectedLBFGS([x], lr=1000.0), steps=5)
    assert losses[:5] == pytest.approx([1.0, 999.0**2, 99.0**2, 9.0**2, 0.0])


def test_the_state_survives_a_checkpoint():
    f, _, _ = boxed_quadratic()
    project = lambda p: p.clamp_(0, 1)  # noqa: E731
    x = torch.nn.Parameter(torch.full((40,), 0.5, dtype=torch.float64))
    optimizer = ProjectedLBFGS([x], history_size=5)
    optimise(f, x, optimizer, steps=12, project=project)
    saved_x, saved_state = x.detach().clone(), copy.deepcopy(optimizer.state_dict())  # as written to disk
    unbroken = optimise(f, x, optimizer, steps=8, project=project)
    y = torch.nn.Parameter(saved_x)
    resumed = ProjectedLBFGS([y], history_size=5)
    resumed.load_state_dict(saved_state)
    assert optimise(f, y, resumed, steps=8, project=project) == unbroken
    assert torch.equal(x, y)


@pytest.mark.parametrize("damage, entry", [
    (lambda state: state.update(x=torch.zeros(5, dtype=torch.float64)), "'x'"),
    (lambda state: state["old_s"].append(torch.zeros(40, dtype=torch.float64)), "'old_s' and 'old_y'"),
    (lambda state: state["old_y"].__setitem__(0, torch.zeros(7, dtype=torch.float64)), "'old_s'/'old_y'"),
    (lambda state: state.update(loss="low"), "'loss'"),
])
def test_a_saved_search_that_does_not_fit_the_parameters_is_refused_on_loading(damage, entry):
    f, _, _ = boxed_quadratic()
    x = torch.nn.Parameter(torch.full((40,), 0.5, dtype=torch.float64))
    optimizer = ProjectedLBFGS([x], history_size=5)
    optimise(f, x, optimizer, steps=4)
    saved = copy.deepcopy(optimizer.state_dict())
    damage(saved["state"][0])
    with pytest.raises(ValueError, match=entry):
        ProjectedLBFGS([torch.nn.Parameter(x.detach().clone())], history_size=5).load_state_dict(saved)


def test_a_preset_names_it_and_bad_arguments_name_the_key(quick):
    run = pixengine.prepare("repaint", steps=12, width=24, height=16, **quick,
                            **{"optimizer.type": "ProjectedLBFGS", "optimizer.lr": 1.0})  # fmt: skip
    assert isinstance(run.optimizer, ProjectedLBFGS)
    result = run.execute()
    assert result.history[-1]["total"] < 0.2 * result.history[0]["total"]  # measured 0.10
    with pytest.raises(ConfigError, match="ProjectedLBFGS rejected its arguments: history_size must be at least 1") as info:
        pixengine.prepare("repaint", **quick, **{"optimizer.type": "ProjectedLBFGS", "optimizer.args": {"history_size": 0}})
    assert info.value.key == "optimizer.args"
    with pytest.raises(ConfigError, match="did you mean 'ProjectedLBFGS'"):
        pixengine.resolve("repaint", **{"optimizer.type": "ProjectedLBFGs"})
