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


def _fill_ends(y: Tensor) -> Tensor:
    """``y (N, T)`` with leading (trailing) NaNs set to the first (last) observed value and
    rows without any observation set to zero."""
    n = y.shape[1]
    obs = ~torch.isnan(y)
    idx = torch.arange(n, device=y.device).expand_as(y)
    first = torch.where(obs, idx, n).min(1, keepdim=True).values
    last = torch.where(obs, idx, -1).max(1, keepdim=True).values
    ys = torch.nan_to_num(y)
    y_first = ys.gather(1, first.clamp(max=n - 1))
    y_last = ys.gather(1, last.clamp(min=0))
    out = torch.where(idx < first, y_first, torch.where(idx > last, y_last, y))
    return torch.where(last < 0, torch.zeros_like(y), out)


def _gapped_coeffs(t: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Natural splines through the observed points of each row of ``y (N, T)`` (NaN =
    missing; ``t (N, T)``), as Taylor coefficients ``(N, T - 1)`` on the full grid.

    Each row's observed points are moved to the front (``k`` of them, ``k >= 2`` since the
    ends are filled); the tridiagonal system gets identity rows past the row's last knot,
    so ``M = 0`` there and the padding does not couple into the spline.
    """
    y = _fill_ends(y)
    n_rows, n = y.shape
    obs = ~torch.isnan(y)
    k = obs.sum(1, keepdim=True)  # (N, 1)
    order = torch.sort((~obs).to(torch.int8), dim=1, stable=True).indices
    pos = torch.arange(n, device=y.device).expand(n_rows, n)
    valid = pos < k
    t_last = t.gather(1, order).gather(1, k - 1)
    span = (t[:, -1:] - t[:, :1]).clamp(min=1.0)
    tk = torch.where(valid, t.gather(1, order), t_last + span * (pos - k + 1))
    yk = torch.where(valid, y.gather(1, order), torch.zeros_like(y))
    h = tk[:, 1:] - tk[:, :-1]
    m = torch.where(valid[:, 1:], (yk[:, 1:] - yk[:, :-1]) / h, torch.zeros_like(h))
    if n > 2:
        inner = pos[:, 1:-1] < k - 1  # interior knots 1 .. k-2 of each row
        one, zero = torch.ones_like(h[:, 1:]), torch.zeros_like(h[:, 1:])
        lower = torch.where(inner, h[:, :-1], zero)
        upper = torch.where(inner, h[:, 1:], zero)
        diag = torch.where(inner, 2 * (h[:, :-1] + h[:, 1:]), one)
        rhs = torch.where(inner, 6 * (m[:, 1:] - m[:, :-1]), zero)
        mid = _thomas(lower, diag, upper, rhs)
        pad = torch.zeros_like(mid[:, :1])
        big_m = torch.cat([pad, mid, pad], dim=1)
    else:
        big_m = torch.zeros_like(yk)
    a = yk[:, :-1]
    b = m - h * (2 * big_m[:, :-1] + big_m[:, 1:]) / 6
    c = big_m[:, :-1] / 2
    d = (big_m[:, 1:] - big_m[:, :-1]) / (6 * h)
    left = t[:, :-1].contiguous()
    j = torch.searchsorted(tk.contiguous(), left, right=True) - 1
    j = torch.minimum(j.clamp(min=0), k - 2)
    sj = left - tk.gather(1, j)
    a_j, b_j, c_j, d_j = (v.gather(1, j) for v in (a, b, c, d))
    return (
        a_j + sj * (b_j + sj * (c_j + sj * d_j)),
        b_j + sj * (2 * c_j + 3 * sj * d_j),
        c_j + 3 * sj * d_j,
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
            n_batch, n_chan, n_time = y.shape
            rows = knots.unsqueeze(1) if knots.dim() == 2 else knots.expand(n_batch, 1, n_time)
            rows = rows.expand(n_batch, n_chan, n_time).reshape(-1, n_time)
            coeffs = _gapped_coeffs(rows, y.reshape(-1, n_time))
            a, b, c, d = (v.reshape(n_batch, n_chan, n_time - 1) for v in coeffs)
        super().__init__(
            knots, a.transpose(1, 2), b.transpose(1, 2), c.transpose(1, 2), d.transpose(1, 2)
        )
