"""Layouts shared by the Newton iteration and its linear solvers: stacked stages
``(m, B, *state)`` and the rows ``(R, m*n)`` of the Newton systems."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["from_rows", "stage_sum", "to_rows"]


def to_rows(x: Tensor, mode: str) -> Tensor:
    """Stacked stages ``(m, B, *state)`` -> rows of the Newton systems: ``(B, m*n)`` in
    batch mode, ``(1, m*N)`` in full mode (stage-major within a row)."""
    m = x.shape[0]
    if mode == "full":
        return x.reshape(1, -1)
    b = x.shape[1]
    return x.reshape(m, b, -1).transpose(0, 1).reshape(b, -1)


def from_rows(v: Tensor, like: Tensor, mode: str) -> Tensor:
    """Inverse of :func:`to_rows` (``like``: ``(m, B, *state)``)."""
    if mode == "full":
        return v.reshape(like.shape)
    m, b = like.shape[0], like.shape[1]
    return v.reshape(b, m, -1).transpose(0, 1).reshape(like.shape)


def stage_sum(h_a: Tensor | float, f: Tensor) -> Tensor:
    """``(hA ⊗ I) F``: ``F`` is ``(m, B, *state)``; ``h_a`` a float or per-sample ``(B,)``
    (``m = 1``), ``(m, m)`` or per sample ``(B, m, m)``."""
    if not isinstance(h_a, Tensor):
        return f * h_a
    h_a = h_a.to(f.dtype)
    if h_a.dim() == 1:  # per-sample hγ, m = 1
        return f * h_a.reshape(1, -1, *([1] * (f.dim() - 2)))
    if h_a.dim() == 2:
        return torch.einsum("ij,j...->i...", h_a, f)
    flat = f.reshape(f.shape[0], f.shape[1], -1)
    return torch.einsum("bij,jbn->ibn", h_a, flat).reshape(f.shape)
