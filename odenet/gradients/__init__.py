"""Gradient strategies for ``odeint(..., gradient=...)``: one per file.

- :class:`Autograd` (default): backpropagate through the solver (memory ``O(n_steps)``).
- :class:`Adjoint`: continuous adjoint of Chen et al. 2018, with Kidger et al.'s seminorm.
- :class:`Checkpoint`: recompute from ``O(sqrt(n))`` stored states; equals autograd.
- :class:`Reversible`: reversible Heun, states rebuilt backwards; memory ``O(1)``.
- :func:`odeint_adjoint`: torchdiffeq's ``odeint_adjoint`` (``odeint`` with :class:`Adjoint`).

The strategies implement :class:`odenet.solving.GradientStrategy`; importing this package
registers them with the solver front (``gradient="adjoint"`` etc.).
"""

from __future__ import annotations

from ..solving.strategy import GradientStrategy, Problem
from .adjoint import Adjoint
from .autograd import Autograd
from .checkpoint import Checkpoint
from .memory import SavedTensorMeter
from .odeint_adjoint import odeint_adjoint
from .registry import GRADIENTS, get_gradient
from .reversible import Reversible

__all__ = [
    "GRADIENTS",
    "Adjoint",
    "Autograd",
    "Checkpoint",
    "GradientStrategy",
    "Problem",
    "Reversible",
    "SavedTensorMeter",
    "get_gradient",
    "odeint_adjoint",
]
