"""Interpolation of L stacked tensors ``theta_0 .. theta_{L-1}`` along depth ``s in [0, 1]``.

Block ``k`` of a stage of ``L`` blocks sits at the node ``s_k = k / L`` (the start of its
Euler step of size ``h = 1 / L``); past the last node, ``s in [(L-1)/L, 1]``, the last
tensor is held. The three schemes:

- ``"constant"``: ``theta(s) = theta_k`` on ``[k/L, (k+1)/L)`` (piecewise constant);
- ``"linear"``: linear between neighbouring nodes (continuous);
- ``"cubic"``: cubic Hermite with Catmull--Rom tangents ``(theta_{k+1} - theta_{k-1}) / 2``
  (one-sided at the ends); continuously differentiable, exact on quadratics away from
  the ends (Catmull & Rom 1974).

All three pass through the nodes, so Euler with ``L`` steps of ``1/L`` sees exactly the
original tensors whatever the scheme. A depth is a Python float; it is snapped to the
nearest node when within ``SNAP`` of it (times like ``k/L`` arrive with rounding error).
"""

from __future__ import annotations

import math

import torch

from odenet.nn._checks import check_choice

INTERPOLATIONS = ("constant", "linear", "cubic")

SNAP = 1e-4
"""Fraction of the node spacing within which a depth is treated as the node itself."""

Weights = list[tuple[int, float]]
"""``[(k, w_k), ...]``: ``theta(s) = sum_k w_k theta_k`` (zero weights omitted)."""


def check_interpolation(interpolation: object) -> str:
    """Return ``interpolation`` if it is one of ``INTERPOLATIONS``, else raise ValueError."""
    return check_choice("interpolation", interpolation, INTERPOLATIONS)


def _position(s: float, num_nodes: int) -> tuple[int, float]:
    """Node index ``k`` and fraction ``u in [0, 1)`` with ``s * L = k + u``, clamped to the
    nodes ``0 .. L-1`` and snapped to a node within ``SNAP``."""
    x = min(max(s * num_nodes, 0.0), num_nodes - 1.0)
    nearest = round(x)
    if abs(x - nearest) <= SNAP:
        return int(nearest), 0.0
    k = math.floor(x)
    return k, x - k


def _cubic_weights(k: int, u: float, num_nodes: int) -> Weights:
    """Hermite basis on ``[k, k+1]`` with Catmull--Rom tangents, as weights on nodes."""
    h00 = 2 * u**3 - 3 * u**2 + 1
    h10 = u**3 - 2 * u**2 + u
    h01 = -2 * u**3 + 3 * u**2
    h11 = u**3 - u**2
    weights: dict[int, float] = {k: h00, k + 1: h01}

    def add_tangent(node: int, factor: float) -> None:
        # tangent at ``node``: central difference, one-sided at the ends (in index units)
        lo, hi = max(node - 1, 0), min(node + 1, num_nodes - 1)
        width = hi - lo
        weights[hi] = weights.get(hi, 0.0) + factor / width
        weights[lo] = weights.get(lo, 0.0) - factor / width

    add_tangent(k, h10)
    add_tangent(k + 1, h11)
    return [(j, w) for j, w in sorted(weights.items()) if w != 0.0]


def interpolation_weights(s: float, num_nodes: int, interpolation: str) -> Weights:
    """Weights on the ``num_nodes`` nodes ``k / num_nodes`` of the tensor at depth ``s``.

    Args:
        s: normalised depth in ``[0, 1]`` (values outside are clamped).
        num_nodes: L, the number of stacked tensors.
        interpolation: one of ``INTERPOLATIONS``.
    """
    k, u = _position(float(s), num_nodes)
    if u == 0.0 or num_nodes == 1:
        return [(k, 1.0)]
    if interpolation == "constant":
        return [(k, 1.0)]
    if interpolation == "linear":
        return [(k, 1.0 - u), (k + 1, u)]
    return _cubic_weights(k, u, num_nodes)


def interpolate(stacked: torch.Tensor, weights: Weights) -> torch.Tensor:
    """``sum_k w_k stacked[k]``: ``(L, *shape) -> (*shape)`` (a view for a single weight 1)."""
    (k0, w0), *rest = weights
    if not rest and w0 == 1.0:
        return stacked[k0]
    out = stacked[k0] * w0
    for k, w in rest:
        out = out + stacked[k] * w
    return out
