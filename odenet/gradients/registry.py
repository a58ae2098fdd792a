"""String shortcuts for the gradient strategies: ``gradient="adjoint"`` means ``Adjoint()``.

The registry itself lives with the solver front (:mod:`odenet.solving.strategy`), which
looks names up without importing this package; importing this module registers the four
built-in strategies there.
"""

from __future__ import annotations

from ..solving.strategy import (
    GradientStrategy,
    get_gradient,
    register_gradient,
    registered_gradients,
)
from .adjoint import Adjoint
from .autograd import Autograd
from .checkpoint import Checkpoint
from .reversible import Reversible

__all__ = ["GRADIENTS", "get_gradient"]

for _cls in (Autograd, Adjoint, Checkpoint, Reversible):
    register_gradient(_cls)

#: name -> strategy class (the live registry: strategies registered later appear here too)
GRADIENTS: dict[str, type[GradientStrategy]] = registered_gradients()
