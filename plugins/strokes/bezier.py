"""Paths of cubic Bézier segments, and their sampling into polylines.

A set of paths is held as one padded tensor so every operation is vectorised over paths:
path ``i`` has ``segments[i]`` cubic segments whose control points are
``points[i, :3 * segments[i] + 1]`` (segment ``k`` is ``points[i, 3k : 3k + 4]``). Entries past
a path's own last point repeat that point, so the padded segments are single points on the
path's end and draw nothing extra. A closed path's last control point equals its first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Curves:
    """N paths in pixel coordinates (x right, y down; pixel (i, j) spans [j, j+1] x [i, i+1])."""

    #: (N, 3 * S + 1, 2) control points, S the largest segment count.
    points: torch.Tensor
    #: (N,) int64: cubic segments of each path (1..S).
    segments: torch.Tensor
    #: (N,) bool: closed paths are filled (their width is unused); open ones are stroked.
    closed: torch.Tensor
    #: (N,) stroke widths in pixels.
    widths: torch.Tensor
    #: (N, 4) RGBA in [0, 1], not premultiplied.
    colors: torch.Tensor

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def max_segments(self) -> int:
        return (int(self.points.shape[1]) - 1) // 3

    def path_points(self, i: int) -> torch.Tensor:
        """The control points path ``i`` really uses, (3 * segments + 1, 2)."""
        return self.points[i, : 3 * int(self.segments[i]) + 1]

    @staticmethod
    def concat(parts: list["Curves"]) -> "Curves":
        """Paths of several sets in order (later ones drawn on top), padded to one size."""
        parts = [p for p in parts if len(p)]
        if not parts:
            raise ValueError("nothing to concatenate")
        longest = max(p.points.shape[1] for p in parts)
        points = [pad_points(p.points, longest) for p in parts]
        return Curves(
            points=torch.cat(points),
            segments=torch.cat([p.segments for p in parts]),
            closed=torch.cat([p.closed for p in parts]),
            widths=torch.cat([p.widths for p in parts]),
            colors=torch.cat([p.colors for p in parts]),
        )


def pad_points(points: torch.Tensor, length: int) -> torch.Tensor:
    """Pad (N, L, 2) to (N, length, 2) by repeating each path's last point."""
    extra = length - points.shape[1]
    if extra <= 0:
        return points
    return torch.cat([points, points[:, -1:].expand(-1, extra, -1)], dim=1)


def collapse_unused(points: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """Points (N, 3S+1, 2) with every entry past path i's point 3 * segments[i] replaced by that
    point (a gather, so gradients of the used points are untouched and unused ones get none)."""
    length = points.shape[1]
    index = torch.arange(length, device=points.device).unsqueeze(0).minimum(3 * segments.unsqueeze(1))
    return points.gather(1, index.unsqueeze(-1).expand(-1, -1, 2))


def close_paths(points: torch.Tensor) -> torch.Tensor:
    """(N, 3S, 2) control points of closed paths -> (N, 3S + 1, 2) ending where they start."""
    return torch.cat([points, points[:, :1]], dim=1)


def bernstein(samples: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(samples, 4) cubic Bernstein weights at t = 0, 1/samples, ..., (samples-1)/samples."""
    t = torch.arange(samples, dtype=dtype, device=device) / samples
    u = 1 - t
    return torch.stack([u**3, 3 * u * u * t, 3 * u * t * t, t**3], dim=1)


def to_polylines(curves: Curves, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample every segment at ``samples`` uniform parameter steps.

    Returns vertices (N, S * samples + 1, 2), differentiable in the control points, and the
    number of vertices each path uses, (N,) = segments * samples + 1.
    """
    points = curves.points
    n = points.shape[0]
    s = curves.max_segments
    # (N, S, 4, 2): segment k is points 3k..3k+3 (neighbouring segments share an end point).
    ctrl = points.unfold(1, 4, 3).transpose(-1, -2)
    weights = bernstein(samples, points.dtype, points.device)
    along = torch.einsum("tk,nskc->nstc", weights, ctrl).reshape(n, s * samples, 2)
    vertices = torch.cat([along, points[:, -1:]], dim=1)
    return vertices, curves.segments * samples + 1
