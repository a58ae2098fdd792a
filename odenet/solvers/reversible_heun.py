"""The reversible Heun method: algebraically reversible, second order, one evaluation per step.

Kidger, Foster, Li & Lyons, "Efficient and accurate gradients for neural SDEs",
NeurIPS 2021, Section 3 (here for ODEs). The state is a pair ``(y, z)`` with ``z0 = y0``:

    z1 = 2 y0 - z0 + dt f(t0, z0)
    y1 = y0 + dt/2 (f(t0, z0) + f(t1, z1))

and ``f(t1, z1)`` is reused by the next step. Given ``(y1, z1, f(t1, z1))`` the step is
undone exactly (up to rounding) by

    z0 = 2 y1 - z1 - dt f(t1, z1)
    y0 = y1 - dt/2 (f(t0, z0) + f(t1, z1))

so a backward pass can rebuild every state from the last one instead of storing them. It is
not a Butcher-tableau method: it lives outside ``odenet.solvers.METHODS`` and is run by
``gradient="reversible"`` (:mod:`odenet.gradients.reversible`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from torch import Tensor

__all__ = ["ReversibleHeun", "ReversibleState", "reverse_y", "reverse_z"]

#: ``field(t, y) -> dy/dt`` with a Python-float ``t``
Field = Callable[[float, Tensor], Tensor]
#: ``(y, z, f(t, z))``
ReversibleState = tuple[Tensor, Tensor, Tensor]


class ReversibleHeun:
    """Reversible Heun: order 2, fixed step, one evaluation of ``f`` per step, reversible.

    Capabilities: ``adaptive = False``, ``reversible = True``, ``fsal = False``.
    """

    name: ClassVar[str] = "reversible_heun"
    order: ClassVar[int] = 2
    adaptive: ClassVar[bool] = False
    fsal: ClassVar[bool] = False
    reversible: ClassVar[bool] = True
    reference: ClassVar[str] = (
        "P. Kidger, J. Foster, X. Li & T. Lyons, NeurIPS 2021, arXiv:2105.13493, Sec. 3"
    )

    def step(self, field: Field, t0: float, t1: float, state: ReversibleState) -> ReversibleState:
        """Advance ``(y0, z0, f(t0, z0))`` (each ``(*batch, *state)``) from ``t0`` to ``t1``."""
        y0, z0, f0 = state
        dt = t1 - t0
        z1 = (2.0 * y0).sub_(z0).add_(f0, alpha=dt)
        f1 = field(t1, z1)
        y1 = y0 + (f0 + f1) * (0.5 * dt)
        return y1, z1, f1

    def reverse(
        self, field: Field, t1: float, t0: float, state: ReversibleState
    ) -> ReversibleState:
        """Undo :meth:`step`: from ``(y1, z1, f(t1, z1))`` at ``t1`` back to ``t0``."""
        y1, z1, f1 = state
        dt = t1 - t0
        z0 = reverse_z(y1, z1, f1, dt)
        f0 = field(t0, z0)
        return reverse_y(y1, f0, f1, dt), z0, f0

    def __repr__(self) -> str:
        return "ReversibleHeun()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


def reverse_z(y1: Tensor, z1: Tensor, f1: Tensor, dt: float) -> Tensor:
    """``z0 = 2 y1 - z1 - dt f(t1, z1)``: the first half of undoing a step."""
    return (2.0 * y1).sub_(z1).sub_(f1, alpha=dt)


def reverse_y(y1: Tensor, f0: Tensor, f1: Tensor, dt: float) -> Tensor:
    """``y0 = y1 - dt/2 (f(t0, z0) + f(t1, z1))``: the second half of undoing a step."""
    return y1 - (f0 + f1) * (0.5 * dt)
