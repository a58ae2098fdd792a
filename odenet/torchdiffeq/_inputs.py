"""Input checks with torchdiffeq 0.2.5's exception types.

torchdiffeq rejects most bad input with ``assert``; here that becomes
:class:`TorchdiffeqInputError` (an ``AssertionError`` and a ``ValueError``). Where
torchdiffeq raises ``TypeError``/``ValueError`` the same type is raised here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from ._errors import TorchdiffeqInputError

__all__ = ["Inputs", "check_inputs"]


@dataclass(frozen=True)
class Inputs:
    """Checked ``y0`` and ``t``.

    Attributes:
        shapes: the shapes of a tuple ``y0`` (``None`` for a tensor).
        t: the output times, on ``y0``'s device.
        decreasing: whether ``t`` runs backwards.
    """

    shapes: tuple[torch.Size, ...] | None
    t: Tensor
    decreasing: bool


def _check_tol(name: str, tol: object) -> None:
    if isinstance(tol, Tensor) and tol.requires_grad:
        raise TorchdiffeqInputError(f"{name} cannot require gradient")
    if isinstance(tol, (tuple, list)):
        raise ValueError(
            f"{name} given per tuple component ({tol!r}) is not supported by odenet.torchdiffeq; "
            "give one number"
        )


def check_inputs(y0: object, t: object, rtol: object, atol: object) -> Inputs:
    """Check ``y0``, ``t`` and the tolerances as torchdiffeq does."""
    if isinstance(y0, Tensor):
        shapes = None
        device = y0.device
    else:
        if not isinstance(y0, tuple):
            raise TorchdiffeqInputError("y0 must be either a torch.Tensor or a tuple")
        for i, y in enumerate(y0):
            if not isinstance(y, Tensor):
                raise TypeError(f"y0[{i}] must be a torch.Tensor; got {type(y).__name__}")
        shapes = tuple(y.shape for y in y0)
        device = y0[0].device if y0 else torch.device("cpu")
    if not isinstance(t, Tensor):
        raise TorchdiffeqInputError("t must be a torch.Tensor")
    if not torch.is_floating_point(t):
        raise TypeError(f"`t` must be a floating point Tensor but is a {t.type()}")
    if t.dim() != 1:
        raise TorchdiffeqInputError("t must be one dimensional")
    if t.numel() > 1:
        diff = t[1:] > t[:-1]
        if not (bool(diff.all()) or bool((~diff).all())) or bool((t[1:] == t[:-1]).any()):
            raise TorchdiffeqInputError("t must be strictly increasing or decreasing")
    _check_tol("rtol", rtol)
    _check_tol("atol", atol)
    if t.device != device:
        warnings.warn("t is not on the same device as y0. Coercing to y0.device.", stacklevel=3)
        t = t.to(device)
    decreasing = t.numel() > 1 and bool(t[0] > t[1])
    return Inputs(shapes, t, decreasing)
