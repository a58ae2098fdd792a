"""Natural cubic spline interpolation (torchcde's ``natural_cubic_coeffs``; Kidger et al.
2020, "Neural controlled differential equations for irregular time series").

The C2 piecewise cubic through the knots with zero second derivative at both ends. The
second derivatives ``M_i`` at the interior knots solve the tridiagonal system

    h_{i-1} M_{i-1} + 2 (h_{i-1} + h_i) M_i + h_i M_{i+1} = 6 (m_i - m_{i-1}),

``m_i = (x_{i+1} - x_i) / h_i``, ``M_0 = M_n = 0`` (de Boor, "A practical guide to
splines", Ch. IV), solved by the Thomas algorithm (diagonally dominant, so stable without
pivoting). Error ``O(h^4)`` in the value for smooth data away from the ends.

Missing values (NaN): per sample and channel, leading/trailing NaNs take the first/last
observed value and the spline runs through the observed points only (interpolating over
the missing ones), re-expressed on the full knot grid.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_data, check_times
from .piecewise import PiecewiseCubic

__all__ = ["NaturalCubicSpline", "natural_spline_coeffs"]


def _thomas(lower: Tensor, diag: Tensor, upper: Tensor, rhs: Tensor) -> Tensor:
    """Solve a tridiagonal system along the last axis (all arguments broadcast; ``lower[0]``
    and ``upper[-1]`` are ignored)."""
    n = rhs.shape[-1]
    c_prime, d_prime = [], []
    c_prev = d_prev = None
    for i in range(n):
        if i == 0:
            denom = diag[..., 0]
            d_i = rhs[..., 0] / denom
        else:
            denom = diag[..., i] - lower[..., i] * c_prev
            d_i = (rhs[..., i] - lower[..., i] * d_prev) / denom
        c_i = upper[..., i] / denom if i < n - 1 else None
        c_prime.append(c_i)
        d_prime.append(d_i)
        c_prev, d_prev = c_i, d_i
    out = [d_prime[-1]]
    for i in range(n - 2, -1, -1):
        out.append(d_prime[i] - c_prime[i] * out[-1])
    return torch.stack(out[::-1], dim=-1)


def natural_spline_coeffs(t: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Coefficients ``(a, b, c, d)``, each ``(..., K - 1)``, of the natural cubic spline
    through ``(t[..., k], y[..., k])``; ``t`` broadcasts against ``y (..., K)``, ``K >= 2``."""
    h = t[..., 1:] - t[..., :-1]
    m = (y[..., 1:] - y[..., :-1]) / h
    n_knots = y.shape[-1]
    if n_knots == 2:
        zero = torch.zeros_like(m)
        return y[..., :-1], m, zero, zero
    h, m = torch.broadcast_tensors(h, m)
    rhs = 6 * (m[..., 1:] - m[..., :-1])
    diag = 2 * (h[..., :-1] + h[..., 1:])
    inner = _thomas(h[..., :-1], diag, h[..., 1:], rhs)
    zero = torch.zeros_like(inner[..., :1])
    big_m = torch.cat([zero, inner, zero], dim=-1)  # second derivatives at every knot
    a = y[..., :-1]
    b = m - h * (2 * big_m[..., :-1] + big_m[..., 1:]) / 6
    c = big_m[..., :-1] / 2
    d = (big_m[..., 1:] - big_m[..., :-1]) / (6 * h)
    return a, b, c, d


def _series_with_gaps(t: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One channel of one sample with NaNs: spline through the observed points, expressed
    by its Taylor coefficients at every knot of ``t`` (the observed knots are a subset, so
    the spline is one cubic on every interval of ``t``)."""
    observed = ~torch.isnan(y)
    n_obs = int(observed.sum())
    if n_obs == 0:
        zero = torch.zeros_like(y[:-1])
        return zero, zero, zero, zero
    first, last = torch.nonzero(observed)[[0, -1], 0].tolist()
    y = y.clone()
    y[:first] = y[first]
    y[last + 1 :] = y[last]
    keep = ~torch.isnan(y)
    tk, yk = t[keep], y[keep]
    if tk.shape[0] == len(t):  # only leading/trailing gaps
        return natural_spline_coeffs(t, y)
    a, b, c, d = natural_spline_coeffs(tk, yk)
    left = t[:-1]
    j = (torch.searchsorted(tk, left, right=True) - 1).clamp(0, tk.shape[0] - 2)
    s = left - tk[j]
    a_j, b_j, c_j, d_j = a[j], b[j], c[j], d[j]
    return (
        a_j + s * (b_j + s * (c_j + s * d_j)),
        b_j + s * (2 * c_j + 3 * s * d_j),
        c_j + 3 * s * d_j,
        d_j,
    )


class NaturalCubicSpline(PiecewiseCubic):
    """C2 natural cubic spline through the observations.

    Args:
        x: ``(batch, time, channels)``; NaN marks a missing value (see the module docs).
        t: knot times ``(time,)``, ``(batch, time)`` or ``None``.
    """

    def __init__(self, x: Tensor, t: Tensor | None = None) -> None:
        x = check_data(x)
        knots = check_times(t, x)
        tt = knots.unsqueeze(-2) if knots.dim() == 2 else knots  # (B, 1, T) or (T,)
        y = x.transpose(1, 2)  # (B, C, T)
        missing = torch.isnan(y)
        if not bool(missing.any()):
            a, b, c, d = natural_spline_coeffs(tt, y)
        else:
            a, b, c, d = natural_spline_coeffs(tt, torch.where(missing, 0.0, y))
            parts = [p.clone() for p in (a, b, c, d)]
            for bi, ci in torch.nonzero(missing.any(-1)).tolist():
                row = knots[bi] if knots.dim() == 2 else knots
                for p, v in zip(parts, _series_with_gaps(row, y[bi, ci]), strict=True):
                    p[bi, ci] = v
            a, b, c, d = parts
        super().__init__(
            knots, a.transpose(1, 2), b.transpose(1, 2), c.transpose(1, 2), d.transpose(1, 2)
        )
