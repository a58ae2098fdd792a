"""String shortcuts for the gradient strategies: ``gradient="adjoint"`` means ``Adjoint()``."""

from __future__ import annotations

from .adjoint import Adjoint
from .autograd import Autograd
from .base import GradientStrategy
from .checkpoint import Checkpoint
from .reversible import Reversible

__all__ = ["GRADIENTS", "get_gradient"]

GRADIENTS: dict[str, type[GradientStrategy]] = {
    cls.name: cls for cls in (Autograd, Adjoint, Checkpoint, Reversible)
}


def get_gradient(gradient: object) -> GradientStrategy:
    """The strategy for ``None`` (autograd), a name, a strategy class or an instance.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
        TypeError: anything else.
    """
    if gradient is None:
        return Autograd()
    if isinstance(gradient, GradientStrategy):
        return gradient
    if isinstance(gradient, type) and issubclass(gradient, GradientStrategy):
        return gradient()
    if isinstance(gradient, str):
        key = gradient.lower()
        if key not in GRADIENTS:
            raise ValueError(
                f"gradient={gradient!r} is not a known strategy; choose one of "
                f"{sorted(GRADIENTS)} or pass an object such as "
                "odenet.gradients.Checkpoint(budget=8)"
            )
        return GRADIENTS[key]()
    raise TypeError(
        f"gradient must be None, a name such as 'adjoint', or a strategy object such as "
        f"odenet.gradients.Adjoint(); got {type(gradient).__name__}"
    )
