"""Where a latent starts: a random sample, an image's inversion, or FuseDream's top-k.

These work on any generator through three callables the parameterization supplies:
``sample(n)`` draws n latents, ``render(latents)`` decodes a batch to images at the run's size
(B, 3, H, W) in [0, 1], and the engine's ``score(images)`` gives each image's total weighted
loss under the run's losses (lower is better).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Render = Callable[[torch.Tensor], torch.Tensor]


def invert(start: torch.Tensor, render: Render, target: torch.Tensor, steps: int, lr: float) -> torch.Tensor:
    """Refine ``start`` for ``steps`` Adam steps so that ``render(latent)`` reproduces
    ``target`` (mean squared error); the result is detached. Zero steps return ``start``."""
    latent = start.detach().clone().requires_grad_(True)
    if steps <= 0:
        return latent.detach()
    optimizer = torch.optim.Adam([latent], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            loss = F.mse_loss(render(latent), target.expand(latent.shape[0], -1, -1, -1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return latent.detach()


@dataclass
class TopK:
    """What a top-k search saw: every candidate, its score, and the chosen ones, best first."""

    candidates: torch.Tensor
    scores: torch.Tensor
    chosen: torch.Tensor

    @property
    def best(self) -> torch.Tensor:
        return self.candidates[self.chosen]


@torch.no_grad()
def top_k(
    sample: Callable[[int], torch.Tensor],
    render: Render,
    score: Callable[[torch.Tensor], torch.Tensor],
    samples: int,
    k: int,
    batch: int,
) -> TopK:
    """FuseDream's initialisation: draw ``samples`` latents, score each decoded image with the
    run's losses, keep the ``k`` with the lowest loss."""
    candidates, scores = [], []
    for first in range(0, samples, batch):
        latents = sample(min(batch, samples - first))
        candidates.append(latents)
        scores.append(score(render(latents)).reshape(-1).float())
    all_candidates = torch.cat(candidates)
    all_scores = torch.cat(scores)
    chosen = torch.argsort(all_scores, stable=True)[:k]
    return TopK(candidates=all_candidates, scores=all_scores, chosen=chosen)
