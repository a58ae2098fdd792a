"""Piecewise cubic paths: the common shape of every interpolation in :mod:`odenet.interpolate`.

On the knot interval ``[t_i, t_{i+1}]`` of sample ``b`` the path is

    X(t) = a_i + b_i s + c_i s^2 + d_i s^3,    s = t - t_i,

with coefficients of shape ``(batch, time - 1, channels)``. Knots are shared ``(time,)`` or
per sample ``(batch, time)``. Outside its own knots a sample's path is constant (the value
at the nearest end, derivative zero), so a batch whose samples span different time ranges
can be integrated over the union of the ranges.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["PiecewiseCubic"]


class PiecewiseCubic:
    """A batch of piecewise cubic paths ``X: R -> R^channels``.

    Args:
        knots: ``(time,)`` shared or ``(batch, time)`` per sample, strictly increasing.
        a, b: ``(batch, time - 1, channels)`` value and slope at each interval's left knot.
        c, d: quadratic and cubic coefficients of the same shape, or ``None`` (zero).
    """

    def __init__(
        self, knots: Tensor, a: Tensor, b: Tensor, c: Tensor | None = None, d: Tensor | None = None
    ) -> None:
        self.knots = knots.contiguous()
        # contiguous (batch, interval, channel) storage: one gather/index_select per call
        self.a, self.b = a.contiguous(), b.contiguous()
        self.c = None if c is None else c.contiguous()
        self.d = None if d is None else d.contiguous()

    # -- shapes and knots -------------------------------------------------------------
    @property
    def batch(self) -> int:
        return self.a.shape[0]

    @property
    def channels(self) -> int:
        return self.a.shape[-1]

    @property
    def grid_points(self) -> Tensor:
        """Every knot of every sample, sorted and unique: ``(n,)``. Pass it as ``jump_t``
        so an adaptive solver steps onto the points where the derivative may jump."""
        return torch.unique(self.knots.detach().reshape(-1))

    @property
    def interval(self) -> Tensor:
        """``(2,)``: the earliest first knot and the latest last knot of the batch."""
        k = self.knots.detach()
        return torch.stack([k[..., 0].min(), k[..., -1].max()])

    # -- evaluation -------------------------------------------------------------------
    def _locate(self, t: Tensor | float) -> tuple[Tensor, Tensor, Tensor]:
        """Interval index, local time ``s`` and an inside mask.

        Shared knots and one time: index ``(1,)``, ``s`` and mask ``(1, 1)`` (broadcast
        over the batch). Otherwise: index, ``s`` and mask ``(batch, 1)``.
        """
        k = self.knots
        t = torch.as_tensor(t, dtype=k.dtype, device=k.device)
        if t.dim() > 1 or (t.dim() == 1 and t.shape[0] != self.batch):
            raise ValueError(
                f"t must be a number, a 0-d tensor or one time per sample ({self.batch},); "
                f"got shape {tuple(t.shape)}"
            )
        if k.dim() == 1 and t.dim() == 0:
            tq = t.reshape(1)
            idx = (torch.searchsorted(k, tq, right=True) - 1).clamp(0, k.shape[0] - 2)
            left, width = k[idx], k[idx + 1] - k[idx]
            inside = ((tq >= k[:1]) & (tq <= k[-1:])).reshape(1, 1)
            s = torch.minimum(torch.clamp(tq - left, min=0.0), width).reshape(1, 1)
            return idx, s, inside
        kb = k if k.dim() == 2 else k.expand(self.batch, -1)
        tq = t.reshape(-1, 1).expand(self.batch, 1).contiguous()
        idx = torch.searchsorted(kb.contiguous(), tq, right=True) - 1
        idx = idx.clamp(0, kb.shape[1] - 2)
        left = kb.gather(1, idx)
        width = (kb[:, 1:] - kb[:, :-1]).gather(1, idx)
        inside = (tq >= kb[:, :1]) & (tq <= kb[:, -1:])
        s = torch.minimum(torch.clamp(tq - left, min=0.0), width)
        return idx, s, inside

    @staticmethod
    def _take(coef: Tensor, idx: Tensor) -> Tensor:
        if idx.dim() == 1:  # one interval for the whole batch
            return coef.index_select(1, idx).squeeze(1)
        return coef.gather(1, idx.unsqueeze(-1).expand(-1, 1, coef.shape[-1])).squeeze(1)

    def evaluate(self, t: Tensor | float) -> Tensor:
        """``X(t)``: ``(batch, channels)``; ``t`` a number, 0-d tensor or ``(batch,)``."""
        idx, s, _ = self._locate(t)
        out = self._take(self.a, idx) + self._take(self.b, idx) * s
        if self.c is not None:
            out = out + self._take(self.c, idx) * s * s
        if self.d is not None:
            out = out + self._take(self.d, idx) * s * s * s
        return out

    def derivative(self, t: Tensor | float) -> Tensor:
        """``dX/dt``: ``(batch, channels)``, right derivative at knots, zero outside a
        sample's knots."""
        idx, s, inside = self._locate(t)
        out = self._take(self.b, idx)
        if self.c is not None:
            out = out + 2 * self._take(self.c, idx) * s
        if self.d is not None:
            out = out + 3 * self._take(self.d, idx) * s * s
        return out * inside.to(out.dtype)

    def __repr__(self) -> str:
        shared = "shared" if self.knots.dim() == 1 else "per-sample"
        return (
            f"{type(self).__name__}(batch={self.batch}, knots={self.knots.shape[-1]} "
            f"({shared}), channels={self.channels})"
        )
