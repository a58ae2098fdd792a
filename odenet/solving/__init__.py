"""The solver front: ``odeint``/``solve``, their input checks, the loop runner and the result.

- :func:`odeint`, :func:`solve`: check the inputs, pick the batch mode (joint or
  ``"independent"``), hand the problem to the gradient strategy or run the plain loop.
- :func:`cdeint`, :func:`cdesolve`: controlled differential equations, reduced to an ODE.
- :class:`Solution`, :class:`Stats`, :class:`SampleStats`: what a solve returns.
- :class:`Event`, :class:`EventRecord`: events that stop, or are recorded during, a solve.
- :class:`GradientStrategy`, :class:`Problem`, :func:`register_gradient`,
  :func:`get_gradient`: the interface the strategies in :mod:`odenet.gradients` implement.

Layering: ``solving`` sits on :mod:`odenet.solvers` (methods, controller, stepping loop)
and :mod:`odenet.interpolate`; :mod:`odenet.gradients` sits on ``solving`` and registers
its strategies here, so no module of this package imports ``odenet.gradients``.
"""

from __future__ import annotations

from .cdeint import cdeint, cdesolve
from .events import Event, EventRecord
from .odeint import odeint, solve
from .solution import SampleStats, Solution, Stats
from .strategy import GradientStrategy, Problem, get_gradient, register_gradient

__all__ = [
    "Event",
    "EventRecord",
    "GradientStrategy",
    "Problem",
    "SampleStats",
    "Solution",
    "Stats",
    "cdeint",
    "cdesolve",
    "get_gradient",
    "odeint",
    "register_gradient",
    "solve",
]
