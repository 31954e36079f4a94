"""A differentiable rasterizer of stroked and filled polylines, in pure torch.

Curves in, image out: it knows nothing of plugins or options. Why hand-written: diffvg, the
usual differentiable vector rasterizer, cannot be installed from any registry and does not
build on Python 3.11, and no maintained pure-torch library does this.

How a path covers a pixel (pixel centres at x + 0.5, y + 0.5):

* Stroked (open) paths: coverage of a strip of width ``w`` by a pixel filter, from the
  distance ``d`` of the pixel centre to the path: ``F(w/2 - d) - F(-w/2 - d)``, where ``F`` is
  the cumulative profile of a smooth pixel filter (a smoothstep over ``[-r, r]``, ``r =
  softness / 2``). It is exactly 0 for a zero width, falls to exactly 0 at ``d = w/2 + r``, and
  is differentiable in the points (through ``d``) and in the width. Caps and joins are round.
* Filled (closed) paths: ``F(signed distance)``, positive inside by the nonzero winding rule.

Paths are composited in order with "over": out = sum_i c_i a_i prod_{j>i} (1 - a_j) + the
background times prod_i (1 - a_i), exactly, over the paths that cover each pixel.

Cost: the work is limited to where paths are. The bounding box of each run of a few
consecutive polyline segments, grown by the path's reach (half width + r), bounds the pixels
those segments can touch; every candidate pixel is measured against them without gradients,
and only the nearest segment of each (path, pixel) pair within reach is kept. Only then are
distances recomputed with gradients, for those pairs alone. Filled paths add their interior
pixels, found by counting the signed crossings of each pixel row with the outline (a
scanline fill). A naive version (every pixel against every segment of every path, full-canvas
layers) was measured at about 10 s and 10 GB for 256 strokes at 224x224 on the development
machines; see benchmarks/bench_strokes.py for this one.
"""

from __future__ import annotations

import torch

from .bezier import Curves, to_polylines

#: Added under square roots and divisions so zero-length segments and pixels exactly on a
#: path have finite gradients. In squared pixels: it moves distances by at most 1e-4 px.
EPS = 1e-8
#: Upper bound on (segment, pixel) candidates measured at once, to bound memory.
CHUNK = 1 << 21


# ----------------------------------------------------------------------------------------
# Coverage: the pixel filter, and what a stroke or fill covers at a given distance.
# ----------------------------------------------------------------------------------------


def edge_profile(x: torch.Tensor, radius: float) -> torch.Tensor:
    """The fraction of a pixel filter of radius ``radius`` lying left of ``x`` (a smoothstep
    from 0 at -radius to 1 at +radius; its compact support is what lets the renderer skip
    distant pixels exactly)."""
    t = ((x + radius) / (2 * radius)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def stroke_coverage(distance: torch.Tensor, width: torch.Tensor, radius: float) -> torch.Tensor:
    """Coverage of a pixel at ``distance`` from the centre line of a stroke of ``width``."""
    half = width / 2
    return edge_profile(half - distance, radius) - edge_profile(-half - distance, radius)


def fill_coverage(signed_distance: torch.Tensor, radius: float) -> torch.Tensor:
    """Coverage of a pixel at ``signed_distance`` from an outline (positive inside)."""
    return edge_profile(signed_distance, radius)


def segment_distance(px, py, ax, ay, bx, by) -> torch.Tensor:
    """Distance from points (px, py) to segments (a, b), element-wise."""
    dx, dy = bx - ax, by - ay
    vx, vy = px - ax, py - ay
    t = ((vx * dx + vy * dy) / (dx * dx + dy * dy + EPS)).clamp(0, 1)
    ex, ey = vx - t * dx, vy - t * dy
    return torch.sqrt(ex * ex + ey * ey + EPS)


# ----------------------------------------------------------------------------------------
# Finding the pixels each path touches (no gradients).
# ----------------------------------------------------------------------------------------


def box_pixels(x0, y0, widths, heights):
    """Every pixel of a set of boxes, box by box in row-major order: (owner box, x, y)."""
    counts = widths * heights
    owner = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
    start = torch.cumsum(counts, 0) - counts
    local = torch.arange(len(owner), device=counts.device) - start[owner]
    w = widths[owner]
    return owner, x0[owner] + local % w, y0[owner] + local // w


def _pixel_span(lo: torch.Tensor, hi: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First pixel and pixel count whose centres (x + 0.5) may lie in [lo, hi], clipped to
    the canvas (generous by up to one pixel; the distance test decides)."""
    first = torch.floor(lo - 0.5).clamp(0, size).long()
    end = (torch.floor(hi - 0.5) + 1).clamp(0, size).long()
    return first, (end - first).clamp(min=0)


def _chunks(counts: torch.Tensor, budget: int) -> list[tuple[int, int]]:
    """Consecutive ranges of items whose counts sum to at most ``budget`` (or one item)."""
    total = torch.cumsum(counts, 0)
    ranges, start, done = [], 0, 0
    while start < len(counts):
        end = max(int(torch.searchsorted(total, done + budget, right=True)), start + 1)
        ranges.append((start, end))
        done, start = int(total[end - 1]), end
    return ranges


def _ranges(counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For items with ``counts`` sub-items each: the owner item of every sub-item, and the
    index of each item's first sub-item."""
    owner = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
    return owner, torch.cumsum(counts, 0) - counts


#: Segments measured together per candidate pixel; None picks it from the scene.
GROUP_SIZE: int | None = None


def _group_size(lengths: torch.Tensor, reach: torch.Tensor) -> int:
    """How many consecutive segments to test per candidate pixel.

    A segment's box is its length plus twice its reach on a side, so when the reach is long
    against the segments (thick strokes) neighbouring boxes overlap heavily and every pixel
    is found once per overlapping segment; the duplicates then cost gathers and a sort.
    Testing groups of segments that span about the reach finds each pixel about once per
    group, for a few more (cheap) distance computations per candidate.
    """
    if GROUP_SIZE is not None:
        return GROUP_SIZE
    if lengths.numel() == 0:
        return 1
    # Measured here: about reach / length + 1 segments per group is fastest, from thin
    # CLIPDraw strokes (2) to 30 px wide ones (4); the result does not depend on it.
    ratio = float(reach.median()) / max(float(lengths.median()), 0.25)
    return int(min(max(round(ratio) + 1, 1), 8))


@torch.no_grad()
def _band_pairs(vertices, counts, reach, width, height):
    """The (path, pixel) pairs within each path's reach of its outline, sorted by pixel then
    path, with the index of the segment nearest to the pixel.

    ``vertices`` past a path's count must repeat its last vertex (``render`` sees to it).
    Candidates are enumerated row by row of the box of each group of ``k`` consecutive
    segments: per candidate pixel, one row lookup and float arithmetic (gathers and integer
    division cost far more than arithmetic on the CPU).
    """
    n, m = vertices.shape[:2]
    device, dtype = vertices.device, vertices.dtype
    used_segments = counts - 1
    lengths = (vertices[:, 1:] - vertices[:, :-1]).norm(dim=-1)
    valid = torch.arange(m - 1, device=device)[None, :] < used_segments[:, None]
    k = _group_size(lengths[valid], reach)
    groups = -(-(m - 1) // k)
    padded = torch.cat([vertices, vertices[:, -1:].expand(-1, groups * k + 1 - m, -1)], dim=1)
    index = torch.arange(groups, device=device)[:, None] * k + torch.arange(k + 1, device=device)
    grouped = padded[:, index]  # (n, groups, k + 1, 2)
    lo = grouped.amin(2) - reach[:, None, None]
    hi = grouped.amax(2) + reach[:, None, None]
    x0, bw = _pixel_span(lo[..., 0].flatten(), hi[..., 0].flatten(), width)
    y0, bh = _pixel_span(lo[..., 1].flatten(), hi[..., 1].flatten(), height)
    used = (torch.arange(groups, device=device)[None, :] * k < used_segments[:, None]).flatten()
    bh = bh * (used & (bw > 0))

    a = grouped[:, :, :-1]
    d = grouped[:, :, 1:] - a
    inv_len2 = 1 / ((d * d).sum(-1) + EPS)
    # Per group, k values each of: a.x, a.y, (b - a).x, (b - a).y, 1 / |b - a|^2.
    group_table = torch.stack([a[..., 0], a[..., 1], d[..., 0], d[..., 1], inv_len2], dim=2).reshape(n * groups, 5 * k)

    # One row per (group, pixel row of its box): centre y, reach, the group's segments.
    row_group, first_row = _ranges(bh)
    row_y = y0[row_group] + torch.arange(len(row_group), device=device) - first_row[row_group]
    row_x0, row_w = x0[row_group], bw[row_group]
    row_table = torch.cat(
        [(row_y.to(dtype) + 0.5)[:, None], reach[row_group // groups][:, None], group_table[row_group]], dim=1
    )
    row_base = row_y * width + row_x0

    found = []
    for r0, r1 in _chunks(row_w, max(CHUNK // k, 1)):
        row, first = _ranges(row_w[r0:r1])
        # Candidate c of the chunk lies in row `row[c]` at x = c + (row's first x - its first c).
        shift = (row_x0[r0:r1] - first).to(dtype) + 0.5
        table = torch.cat([row_table[r0:r1], shift[:, None]], dim=1).index_select(0, row)
        yc, within, shift = table[:, 0], table[:, 1], table[:, -1]
        ax, ay, dx, dy, inv = table[:, 2:-1].view(-1, 5, k).unbind(1)
        vx = (torch.arange(len(row), device=device, dtype=dtype) + shift)[:, None] - ax
        vy = yc[:, None] - ay
        t = ((vx * dx + vy * dy) * inv).clamp(0, 1)
        ex, ey = vx - t * dx, vy - t * dy
        nearest, which = (ex * ex + ey * ey).min(dim=1)
        distance = torch.sqrt(nearest + EPS)
        hit = torch.nonzero(distance < within).squeeze(1)
        where = torch.stack([row_group[r0:r1], row_base[r0:r1] - first], dim=1).index_select(0, row[hit])
        found.append((where[:, 0], where[:, 1] + hit, which[hit], distance[hit]))
    empty = torch.zeros(0, dtype=torch.long, device=device)
    if not found:
        return empty, empty, empty
    group, pixel, which, distance = (torch.cat(parts) for parts in zip(*found))
    if group.numel() == 0:
        return empty, empty, empty
    path = group // groups
    segment = (group % groups) * k + which

    # Keep the nearest segment of each (path, pixel): group equal keys by an integer sort
    # (int32 sorts much faster, when the keys fit), take each group's smallest distance, and
    # the first entry that attains it.
    key = pixel * n + path
    if n * width * height < 2**31:
        key = key.int()
    order = torch.sort(key, stable=True).indices
    key, distance = key[order], distance[order]
    new_pair = torch.ones_like(key, dtype=torch.bool)
    new_pair[1:] = key[1:] != key[:-1]
    pair = torch.cumsum(new_pair, 0) - 1
    best = distance.new_full((int(pair[-1]) + 1,), float("inf")).scatter_reduce(0, pair, distance, "amin")
    best_at = torch.nonzero(distance == best[pair]).squeeze(1)
    first_best = torch.ones_like(best_at, dtype=torch.bool)
    first_best[1:] = pair[best_at[1:]] != pair[best_at[:-1]]
    chosen = order[best_at[first_best]]
    return path[chosen], pixel[chosen], segment[chosen]


@torch.no_grad()
def _inside_pairs(vertices, counts, closed_ids, width, height):
    """(path, pixel) pairs whose pixel centre is inside a closed path (nonzero winding).

    A scanline fill: every outline segment crossing a pixel row's centre line adds its
    direction (+1 down, -1 up) to the pixels of that row left of the crossing; a suffix sum
    along each row gives each pixel's winding number. Done in each path's bounding box.
    """
    device = vertices.device
    v = vertices[closed_ids]
    m = v.shape[1]
    valid_vertex = torch.arange(m, device=device)[None, :] < counts[closed_ids, None]
    big = torch.finfo(v.dtype).max
    lo = torch.where(valid_vertex[..., None], v, big).amin(dim=1)
    hi = torch.where(valid_vertex[..., None], v, -big).amax(dim=1)
    x0, bw = _pixel_span(lo[:, 0], hi[:, 0], width)
    y0, bh = _pixel_span(lo[:, 1], hi[:, 1], height)
    # One extra column per row collects crossings right of the box (they count for every pixel).
    stride = bw + 1
    offset = torch.cumsum(stride * bh, 0) - stride * bh

    a, b = v[:, :-1], v[:, 1:]
    valid = torch.arange(m - 1, device=device)[None, :] < (counts[closed_ids, None] - 1)
    ymin, ymax = torch.minimum(a[..., 1], b[..., 1]), torch.maximum(a[..., 1], b[..., 1])
    # Rows whose centre y = row + 0.5 lies in [ymin, ymax): half-open, so a vertex shared by
    # two segments is counted once.
    row0 = torch.ceil(ymin - 0.5).long().maximum(y0[:, None])
    row1 = torch.ceil(ymax - 0.5).long().minimum(y0[:, None] + bh[:, None])
    rows = ((row1 - row0).clamp(min=0) * valid).flatten()
    edge, _, row = box_pixels(torch.zeros_like(rows), row0.flatten(), torch.ones_like(rows), rows)
    shape = edge // (m - 1)
    ax, ay = a[..., 0].flatten()[edge], a[..., 1].flatten()[edge]
    bx, by = b[..., 0].flatten()[edge], b[..., 1].flatten()[edge]
    yc = row + 0.5
    xc = ax + (yc - ay) * (bx - ax) / (by - ay)
    direction = torch.where(by > ay, 1, -1)
    # Pixels with centre x < xc: columns below ceil(xc - 0.5).
    column = (torch.ceil(xc - 0.5).long() - x0[shape]).clamp(min=0).minimum(bw[shape])
    increments = torch.zeros(int((stride * bh).sum()), dtype=torch.long, device=device)
    # Column c of a row receives the crossings that count for pixels left of c; the winding
    # of pixel c is the sum over columns > c of its row.
    slot = offset[shape] + (row - y0[shape]) * stride[shape] + column
    increments.index_put_((slot,), direction, accumulate=True)

    owner, px, py = box_pixels(x0, y0, stride, bh)
    suffix = increments.flip(0).cumsum(0).flip(0)  # sum from each slot to the end
    row_end = offset[owner] + (py - y0[owner] + 1) * stride[owner]  # first slot after the row
    position = offset[owner] + (py - y0[owner]) * stride[owner] + (px - x0[owner])
    after_row = torch.cat([suffix, suffix.new_zeros(1)])[row_end]
    winding = torch.cat([suffix, suffix.new_zeros(1)])[position + 1] - after_row
    inside = (winding != 0) & (px < x0[owner] + bw[owner])
    return closed_ids[owner[inside]], (py * width + px)[inside]


# ----------------------------------------------------------------------------------------
# Rendering.
# ----------------------------------------------------------------------------------------


def background_pixels(background: torch.Tensor, width: int, height: int, like: torch.Tensor) -> torch.Tensor:
    """(H * W, 3) from an RGB colour (3,) or an image (3, H, W) / (1, 3, H, W)."""
    bg = background.to(like.device, like.dtype)
    if bg.dim() == 1:
        return bg.expand(height * width, 3).contiguous()
    return bg.reshape(3, height * width).t()


def render(
    vertices: torch.Tensor,
    counts: torch.Tensor,
    closed: torch.Tensor,
    widths: torch.Tensor,
    colors: torch.Tensor,
    width: int,
    height: int,
    background: torch.Tensor,
    softness: float = 1.25,
) -> torch.Tensor:
    """Draw N polylines over a background; returns (1, 3, height, width).

    ``vertices`` (N, M, 2) in pixels, of which path i uses the first ``counts[i]`` (at least
    2); ``closed`` (N,) bool: filled, else stroked with ``widths`` (N,) pixels; ``colors``
    (N, 4) RGBA in [0, 1]; ``background`` an RGB colour (3,) or image (3, H, W);
    ``softness``: width of the soft edge in pixels (1.25 comes closest to the area-coverage
    anti-aliasing of SVG renderers such as cairo). Differentiable in vertices, widths,
    colours and background.
    """
    radius = softness / 2
    n = vertices.shape[0]
    bg = background_pixels(background, width, height, vertices)
    # The image stays a function of every input even when nothing is visible, so a run whose
    # paths all left the canvas still back-propagates (zero gradients) instead of failing.
    anchor = 0 * (vertices.sum() + widths.sum() + colors.sum())
    if n == 0 or vertices.shape[1] < 2:
        return _to_image(bg + anchor, width, height)

    # Negative widths draw nothing; a zero width keeps its gradient (clamp's would be 0 there).
    widths = torch.where(widths < 0, torch.zeros_like(widths), widths)
    counts = counts.clamp(2, vertices.shape[1])
    # Vertices past a path's count repeat its last one: then every segment can be measured,
    # the unused ones being points on the path's end (a gather: their gradient goes there).
    last = torch.arange(vertices.shape[1], device=vertices.device)[None, :].minimum(counts[:, None] - 1)
    vertices = vertices.gather(1, last[..., None].expand(-1, -1, 2))
    reach = torch.where(closed, torch.full_like(widths, radius), widths.detach() / 2 + radius).detach()
    path, pixel, segment = _band_pairs(vertices.detach(), counts, reach, width, height)

    # Distances with gradients, for the kept pairs only.
    flat = vertices.reshape(-1, 2)
    first = path * vertices.shape[1] + segment
    a, b = flat.index_select(0, first), flat.index_select(0, first + 1)
    px = (pixel % width).to(vertices.dtype) + 0.5
    py = (pixel // width).to(vertices.dtype) + 0.5
    distance = segment_distance(px, py, a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    is_closed = closed[path]
    coverage = stroke_coverage(distance, widths.index_select(0, path), radius)

    if bool(closed.any()):
        closed_ids = torch.nonzero(closed).flatten()
        inside_path, inside_pixel = _inside_pairs(vertices.detach(), counts, closed_ids, width, height)
        inside_key = inside_pixel * n + inside_path
        band_key = pixel * n + path
        inside = torch.isin(band_key, inside_key) & is_closed
        signed = torch.where(inside, distance, -distance)
        coverage = torch.where(is_closed, fill_coverage(signed, radius), coverage)
        # Interior pixels beyond the soft edge are fully covered: no distance needed.
        deep = ~torch.isin(inside_key, band_key)
        path = torch.cat([path, inside_path[deep]])
        pixel = torch.cat([pixel, inside_pixel[deep]])
        coverage = torch.cat([coverage, coverage.new_ones(int(deep.sum()))])
        order = torch.argsort(pixel * n + path)
        path, pixel, coverage = path[order], pixel[order], coverage[order]

    color = colors.index_select(0, path)
    alpha = color[:, 3] * coverage
    premultiplied = color[:, :3] * alpha[:, None]
    return _to_image(_composite(pixel, alpha, premultiplied, bg) + anchor, width, height)


def _composite(pixel, alpha, premultiplied, bg):
    """Exact "over" of (path, pixel) pairs, sorted by pixel then path, onto background rows.

    Each pixel's pairs are laid out along a row of a (pixels, depth) table, padded with alpha 0
    (the identity of "over"), so the composite is a product along rows. Pixels are bucketed
    by depth (up to 2, 4, 8, ... layers) with one table per bucket, so a few deeply covered
    pixels do not pad every other pixel's row: the tables hold under twice the pairs.
    """
    if pixel.numel() == 0:
        return bg
    device = pixel.device
    pixels, row, depth = torch.unique_consecutive(pixel, return_inverse=True, return_counts=True)
    rank = torch.arange(len(row), device=device) - (torch.cumsum(depth, 0) - depth)[row]
    bucket = torch.ceil(torch.log2(depth.double())).long()  # table width 2 ** bucket
    done, mixed = [], []
    for b in torch.unique(bucket).tolist():
        width = 2**b
        members = bucket == b
        rows = torch.nonzero(members).squeeze(1)
        # Each member pixel's position among the members, and the pairs belonging to them.
        position = torch.cumsum(members, 0) - 1
        pairs = torch.nonzero(members[row]).squeeze(1)
        slot = position[row[pairs]] * width + rank[pairs]
        a = alpha.new_zeros(len(rows) * width).index_put((slot,), alpha[pairs]).view(-1, width)
        c = premultiplied.new_zeros(len(rows) * width, 3).index_put((slot,), premultiplied[pairs]).view(-1, width, 3)
        # through[:, k]: the share of layer k's light that reaches the eye = prod_{j>k} (1 - a_j).
        # cumprod's backward handles zero factors (fully opaque layers) exactly.
        suffix = (1 - a).flip(1).cumprod(1).flip(1)
        through = torch.cat([suffix[:, 1:], suffix.new_ones(len(rows), 1)], dim=1)
        mixed.append((c * through[..., None]).sum(1) + bg[pixels[rows]] * suffix[:, :1])
        done.append(pixels[rows])
    return bg.index_put((torch.cat(done),), torch.cat(mixed))


def _to_image(rows: torch.Tensor, width: int, height: int) -> torch.Tensor:
    return rows.t().reshape(1, 3, height, width)


def render_curves(
    curves: Curves, width: int, height: int, background: torch.Tensor, samples: int = 12, softness: float = 1.25
) -> torch.Tensor:
    """Draw cubic Bézier paths (each segment sampled at ``samples`` points) with :func:`render`."""
    vertices, counts = to_polylines(curves, samples)
    return render(vertices, counts, curves.closed, curves.widths, curves.colors, width, height, background, softness)
