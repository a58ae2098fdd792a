"""What every solver method states about itself, and the hook for methods with their own loop.

Runge--Kutta methods (:class:`~odenet.solvers.RungeKutta`) are one-step methods: the loops
of :mod:`odenet.solvers.integrate` call their ``step``. Methods that are not one-step --
multistep methods that keep a history of evaluations (Adams), or wrappers over another
library's integrator (scipy) -- subclass :class:`LoopMethod` and bring their own loop,
:meth:`LoopMethod.solve_raw`, which ``odenet.solve`` and the gradient strategies call in
place of the Runge--Kutta loops. Both kinds share the capability attributes of
:class:`Method`, read before any evaluation of ``func``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from torch import Tensor

if TYPE_CHECKING:  # integrate.py imports runge_kutta.py, which imports this module
    from .field import CountingField
    from .integrate import RawSolution

__all__ = ["LoopMethod", "LoopSettings", "Method"]

EventFn = Callable[[Tensor, Tensor], Tensor]

#: every gradient strategy that runs the forward solve through ``integrate_rk``
ALL_GRADIENTS = frozenset({"autograd", "adjoint", "checkpoint"})


class Method:
    """Base of every solver method (one-step or not).

    Capabilities (class attributes or properties, read before solving):
        name: the string shortcut (``method="dopri5"``).
        order: order of the method (for variable-order methods, the highest order used).
        reference: where the method comes from.
        adaptive: True when the step size follows ``rtol``/``atol`` (else a fixed grid
            from ``step_size``/``n_steps``).
        differentiable: False when the solve runs outside autograd (e.g. in numpy); such
            a method refuses inputs that require grad instead of silently cutting the graph.
        gradients: the gradient strategies (``odenet.gradients``) the method works with.
        supports_events: whether ``event_fn`` (terminal events) can be used.
    """

    name: ClassVar[str]
    order: ClassVar[int]
    reference: ClassVar[str] = ""
    adaptive: bool
    differentiable: ClassVar[bool] = True
    gradients: ClassVar[frozenset[str]] = ALL_GRADIENTS
    supports_events: ClassVar[bool] = True


@dataclass(frozen=True)
class LoopSettings:
    """What the caller resolved for a :class:`LoopMethod`'s loop.

    Attributes:
        grid: the step grid of a fixed-step method (``grid[0] == t[0]``,
            ``grid[-1] == t[-1]``), ``None`` for an adaptive one.
        opts: the merged, validated solve options (``first_step``, ``max_num_steps``, ...).
        rtol, atol: the checked tolerances.
    """

    grid: list[float] | None
    opts: Mapping[str, object]
    rtol: float
    atol: float

    @property
    def max_steps(self) -> int:
        value = self.opts.get("max_num_steps")
        return 100_000 if value is None else int(value)  # type: ignore[call-overload]

    @property
    def first_step(self) -> float | None:
        value = self.opts.get("first_step")
        return None if value is None else float(value)  # type: ignore[arg-type]


class LoopMethod(Method, ABC):
    """A method that runs its own stepping loop (multistep methods, external integrators).

    Subclasses implement :meth:`solve_raw` and, for dense output and events,
    :meth:`interpolate`. ``valid_options`` lists the keys of ``odeint(options=...)`` the
    method honours (``None``: the usual fixed-step or adaptive keys); method-specific
    settings (e.g. ``max_order``) are constructor arguments instead.
    """

    valid_options: ClassVar[frozenset[str] | None] = None

    @abstractmethod
    def solve_raw(
        self,
        fld: CountingField,
        y0: Tensor,
        k0: Tensor,
        times: list[float],
        settings: LoopSettings,
        dense: bool = False,
        event_fn: EventFn | None = None,
    ) -> RawSolution:
        """Solve from ``y0`` at ``times[0]`` and return the states at every time reached.

        Args:
            fld: the vector field on the flat state, with Python-float time; counts nfe.
            y0: initial state ``(*batch, *state)``.
            k0: ``fld(times[0], y0)``, already computed and checked by the caller.
            times: the output times (strictly monotonic Python floats).
            settings: grid, options and tolerances.
            dense: keep every step (``RawSolution.steps``) for dense output.
            event_fn: terminal event on the flat state, or ``None``.

        Returns:
            A :class:`~odenet.solvers.integrate.RawSolution` with one state per output time
            reached (``ys[0] is y0``) and the step statistics.
        """

    def interpolate(
        self,
        theta: float,
        y0: Tensor,
        y1: Tensor,
        ks: list[Tensor],
        dt: float,
        f1: Tensor | None = None,
    ) -> Tensor:
        """State at ``t0 + theta * dt`` inside a recorded step (for dense output/events)."""
        raise TypeError(f"method {self.name!r} keeps no dense output")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def step_stats(raw: RawSolution, grid: list[float]) -> None:
    """Fill the step-size statistics of a fixed-grid loop's result."""
    raw.initial_step = abs(grid[1] - grid[0]) if len(grid) > 1 else math.nan
    raw.last_step = abs(grid[-1] - grid[-2]) if len(grid) > 1 else math.nan
