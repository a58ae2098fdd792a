"""Reference problems with exact solutions and the list of every method.

A new method is tested everywhere by adding one line to FIXED_METHODS or ADAPTIVE_METHODS.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

# (name, order)
FIXED_METHODS: list[tuple[str, int]] = [
    ("euler", 1),
    ("midpoint", 2),
    ("heun", 2),
    ("heun3", 3),
    ("rk4", 4),
]
ADAPTIVE_METHODS: list[tuple[str, int]] = [
    ("adaptive_heun", 2),
    ("fehlberg2", 2),
    ("bosh3", 3),
    ("dopri5", 5),
    ("tsit5", 5),
    ("dopri8", 8),
]
ALL_METHODS = FIXED_METHODS + ADAPTIVE_METHODS


@dataclass(frozen=True)
class Problem:
    """``dy/dt = f(t, y)``, ``y(t0) = y0``, with ``exact(t) -> (len(t), *y0.shape)``."""

    name: str
    f: Callable[[Tensor, Tensor], Tensor]
    y0: Tensor
    exact: Callable[[Tensor], Tensor]
    t1: float = 1.0


def linear_problem(dtype: torch.dtype = torch.float64, seed: int = 0) -> Problem:
    """``dy/dt = A y`` for a fixed 4x4 matrix with rotation and decay; ``y = expm(tA) y0``."""
    g = torch.Generator().manual_seed(seed)
    a = 0.5 * torch.randn(4, 4, generator=g, dtype=torch.float64)
    a = a - a.T - 0.3 * torch.eye(4, dtype=torch.float64)
    a = a.to(dtype)
    y0 = torch.randn(3, 4, generator=g, dtype=torch.float64).to(dtype)  # batch of 3

    def f(t: Tensor, y: Tensor) -> Tensor:
        return y @ a.T

    def exact(t: Tensor) -> Tensor:
        return torch.stack([y0 @ torch.linalg.matrix_exp(ti * a).T for ti in t])

    return Problem("linear", f, y0, exact)


def decay_problem(dtype: torch.dtype = torch.float64, rate: float = -1.5) -> Problem:
    """Exponential growth/decay ``dy/dt = rate * y``: ``y = y0 exp(rate t)``."""
    y0 = torch.tensor([1.0, -2.0, 0.5], dtype=dtype)
    return Problem(
        "decay",
        lambda t, y: rate * y,
        y0,
        lambda t: y0 * torch.exp(rate * t.to(dtype))[:, None],
    )


def sine_problem(dtype: torch.dtype = torch.float64) -> Problem:
    """Time-dependent ``dy/dt = cos(t)``: ``y = y0 + sin(t)`` (tests the time argument)."""
    y0 = torch.tensor([0.3], dtype=dtype)
    return Problem(
        "sine",
        lambda t, y: torch.cos(t).to(y.dtype).expand_as(y),
        y0,
        lambda t: y0 + torch.sin(t.to(dtype))[:, None],
        t1=3.0,
    )


def logistic_problem(dtype: torch.dtype = torch.float64) -> Problem:
    """Nonlinear ``dy/dt = y (1 - y)``: ``y = 1 / (1 + (1/y0 - 1) exp(-t))``."""
    y0 = torch.tensor([0.1, 0.5, 2.0], dtype=dtype)

    def exact(t: Tensor) -> Tensor:
        e = torch.exp(-t.to(dtype))[:, None]
        return 1.0 / (1.0 + (1.0 / y0 - 1.0) * e)

    return Problem("logistic", lambda t, y: y * (1 - y), y0, exact, t1=2.0)


def riccati_problem(
    dtype: torch.dtype = torch.float64, y0_value: float = 0.5, t1: float = 0.9
) -> Problem:
    """Nonlinear ``dy/dt = y**2``: ``y = y0 / (1 - y0 t)`` (blows up at ``t = 1/y0``)."""
    y0 = torch.tensor([y0_value], dtype=dtype)
    return Problem(
        "riccati", lambda t, y: y * y, y0, lambda t: y0 / (1 - y0 * t.to(dtype)[:, None]), t1=t1
    )


PROBLEMS = [linear_problem, decay_problem, sine_problem, logistic_problem]


def van_der_pol(mu: float) -> Callable[[Tensor, Tensor], Tensor]:
    """Van der Pol oscillator, state ``(..., 2)``."""

    def f(t: Tensor, y: Tensor) -> Tensor:
        x, v = y[..., 0], y[..., 1]
        return torch.stack([v, mu * (1 - x * x) * v - x], dim=-1)

    return f


def log_slope(hs: list[float], errs: list[float]) -> float:
    """Least-squares slope of log(err) against log(h)."""
    xs = [math.log(h) for h in hs]
    ys = [math.log(e) for e in errs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


# implicit methods (odenet.solvers.implicit): (name, order); kvaerno3/5 are adaptive
IMPLICIT_METHODS: list[tuple[str, int]] = [
    ("implicit_euler", 1),
    ("implicit_midpoint", 2),
    ("trapezoid", 2),
    ("sdirk2", 2),
    ("trbdf2", 2),
    ("radauIIA3", 3),
    ("radauIIA5", 5),
    ("gl4", 4),
    ("gl6", 6),
    ("kvaerno3", 3),
    ("kvaerno5", 5),
]
