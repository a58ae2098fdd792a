"""``refine`` and ``coarsen``: change the number of blocks of every stage of a ResNet.

A stage of ``L`` blocks is read as the weight function ``theta(s)`` of depth (nodes
``k / L``, ``"linear"`` or ``"cubic"`` interpolation; ``odenet.convert.interpolation``) and
resampled at ``L'`` nodes ``j / L'``; each new block takes the step ``1/L'``, i.e. computes
``x + (L / L') r_{theta(j/L')}(x)``. For a ResNet with scale ``1/L`` and weights smooth in
depth, the refined network approaches the neural ODE as ``L'`` grows (Euler's first order;
Sander et al. 2022; Marion et al. 2024).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from odenet.convert.interpolation import check_interpolation
from odenet.convert.resnet_to_ode import ode_blocks, resnet_to_ode
from odenet.convert.unroll import ode_to_resnet


def _check_factor(factor: object) -> int:
    if not isinstance(factor, int) or isinstance(factor, bool) or factor < 1:
        raise ValueError(f"factor must be a positive int; got {factor!r}. Pass e.g. factor=4.")
    return factor


def resample(model: nn.Module, new_depth: Callable[[int], int], interpolation: str) -> nn.Module:
    """Each stage of ``L`` blocks becomes ``new_depth(L)`` blocks (see module docstring)."""
    check_interpolation(interpolation)
    ode = resnet_to_ode(model, interpolation=interpolation)
    steps = {name: new_depth(block.field.num_blocks) for name, block in ode_blocks(ode)}
    return ode_to_resnet(ode, steps, method="euler")


def refine(model: nn.Module, factor: int, *, interpolation: str = "linear") -> nn.Module:
    """A copy of the ResNet ``model`` with ``factor`` times more blocks in every stage
    (e.g. 16 -> 64 with ``factor=4``), each with the step divided by ``factor``."""
    f = _check_factor(factor)
    return resample(model, lambda n: n * f, interpolation)


def coarsen(model: nn.Module, factor: int, *, interpolation: str = "linear") -> nn.Module:
    """A copy of the ResNet ``model`` with ``factor`` times fewer blocks in every stage
    (e.g. 16 -> 4 with ``factor=4``), each with the step multiplied by ``factor``; every
    stage's depth must be divisible by ``factor`` (new block j is old block ``j * factor``
    with its step rescaled)."""
    f = _check_factor(factor)

    def new_depth(n: int) -> int:
        if n % f:
            raise ValueError(
                f"coarsen: a stage of {n} blocks is not divisible by factor={f}; choose a "
                f"factor dividing every stage's depth (e.g. one of "
                f"{[d for d in range(1, n + 1) if n % d == 0]})."
            )
        return n // f

    return resample(model, new_depth, interpolation)
