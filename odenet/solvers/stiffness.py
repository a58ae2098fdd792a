"""Stiffness detection for explicit Runge--Kutta pairs (Hairer's test in DOPRI5).

When the last two stages of a method share their node (``c[s-2] == c[s-1]``, as in
dopri5 and tsit5), the quotient

    rho = ||k_s - k_{s-1}|| / ||Y_s - Y_{s-1}||,   Y_s - Y_{s-1} = h sum_j (a_sj - a_{s-1,j}) k_j

estimates the magnitude of the dominant eigenvalue of the Jacobian along the step. A
step with ``h * rho`` near the boundary of the method's real stability interval is limited
by stability rather than accuracy; many such steps in a row mean the problem is stiff.
Unlike Hairer's code, a step whose stage differences point to a *growing* mode (positive
Rayleigh quotient ``dk . dY``) is not counted: near a finite-time blow-up ``rho`` is large
too, but no implicit method would help there.

Counting follows Hairer's DOPRI5 code: ``STIFF_RUN`` consecutive tested steps with
``h * rho`` beyond the boundary declare stiffness; ``CLEAR_RUN`` non-stiff tests in a row
clear the suspicion. The test runs on every ``interval``-th accepted step and, while a
suspicion is open, on every step. Its norms are queued with the loop's own per-step read
of the error ratio, so it adds no host synchronisation. To spare short solves that merely
pass through a stability-limited stretch, the error is raised only when the remaining span
would need at least ``min_remaining`` more steps of the current size.

Reference: E. Hairer & G. Wanner, *Solving ODEs II*, §IV.2 ("Automatic stiffness
detection"); Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.10 and the DOPRI5 code.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..errors import StiffnessDetected

__all__ = ["StiffnessMonitor", "real_stability_boundary"]

#: consecutive stiff tests that declare stiffness (DOPRI5: 15)
STIFF_RUN = 15
#: consecutive non-stiff tests that clear a suspicion (DOPRI5: 6)
CLEAR_RUN = 6


@functools.lru_cache(maxsize=64)
def real_stability_boundary(a: tuple[tuple[float, ...], ...], b: tuple[float, ...]) -> float:
    """Largest ``x`` with ``|R(-y)| <= 1`` for all ``y`` in ``[0, x]``.

    ``R(z) = 1 + z b^T (I - z A)^{-1} 1`` is the stability function of the explicit
    method (a polynomial of degree ``s``). Scanned on a grid of step 1e-4 up to 2 s.
    """
    s = len(b)
    amat = np.zeros((s, s))
    for i, row in enumerate(a):
        amat[i, : len(row)] = row
    bvec = np.asarray(b)
    # R(z) = sum_k z^k b^T A^{k-1} 1 (k >= 1) + 1: exact for strictly lower-triangular A
    coeffs = [1.0]
    v = np.ones(s)
    for _ in range(s):
        coeffs.append(float(bvec @ v))
        v = amat @ v
    xs = np.arange(1e-4, 2.0 * s, 1e-4)
    values = np.polynomial.polynomial.polyval(-xs, coeffs)
    outside = np.nonzero(np.abs(values) > 1.0 + 1e-12)[0]
    return float(xs[outside[0] - 1]) if outside.size and outside[0] > 0 else float(xs[-1])


@functools.lru_cache(maxsize=64)
def _test_plan(
    c: tuple[float, ...], a: tuple[tuple[float, ...], ...], b: tuple[float, ...]
) -> tuple[tuple[tuple[int, float], ...], float] | None:
    """``(weights, boundary)`` of :class:`StiffnessMonitor` for an explicit tableau whose
    last two stages share a non-zero node, else ``None`` (made once per tableau)."""
    if c[-1] != c[-2] or c[-1] == 0.0:
        return None
    last, prev = a[-1], (*a[-2], 0.0)
    weights = tuple((j, x - y) for j, (x, y) in enumerate(zip(last, prev, strict=True)))
    weights = tuple((j, w) for j, w in weights if w != 0.0)
    if not weights:
        return None
    return weights, 0.98 * real_stability_boundary(a, b)


@dataclass
class StiffnessMonitor:
    """Hairer's stiffness test, fed from the adaptive loop.

    Use :meth:`for_method` (``None`` when the method has no pair of stages with a shared
    node). Per accepted step the loop calls :meth:`wants`; when it is true it queues
    :meth:`norms` with its error ratio and passes the two values to :meth:`update`.

    Attributes:
        weights: ``a_sj - a_{s-1,j}`` for the stage difference ``Y_s - Y_{s-1}``.
        boundary: the threshold on ``h * rho`` (0.98 of the real stability interval; dopri5:
            3.24, Hairer's code uses 3.25).
        interval: test every ``interval``-th accepted step while no suspicion is open.
        min_remaining: raise only if ``|t_end - t| / h`` is at least this.
    """

    weights: tuple[tuple[int, float], ...]
    boundary: float
    interval: int = 100
    min_remaining: float = 1000.0
    method_name: str = ""
    stiff: int = field(default=0, init=False)
    calm: int = field(default=0, init=False)
    tests: int = field(default=0, init=False)

    @classmethod
    def for_method(cls, method: object, **kwargs: float) -> StiffnessMonitor | None:
        """The monitor for an explicit pair, or ``None`` when the test does not apply."""
        tab = getattr(method, "tableau", None)
        if tab is None or getattr(tab, "b_error", None) is None or tab.stages < 3:
            return None
        if getattr(tab, "implicit", False):  # implicit methods are meant for stiffness
            return None
        plan = _test_plan(tab.c, tab.a, tab.b)
        if plan is None:
            return None
        weights, boundary = plan
        return cls(weights, boundary, method_name=getattr(method, "name", ""), **kwargs)  # type: ignore[arg-type]

    def _limited(self, num: float, den: float, dot: float, h: float) -> bool:
        """``h * rho`` beyond the boundary, for a mode that is not growing: the cosine of
        ``dk`` and ``dY`` (the sign of the Rayleigh quotient) must stay below 1/2, so a
        blow-up (a large positive eigenvalue, e.g. ``y' = y^2`` near its pole) is not
        called stiffness while decaying and oscillatory modes are."""
        if not (den > 0.0 and math.isfinite(num) and math.isfinite(den) and math.isfinite(dot)):
            return False
        return h * h * num > self.boundary**2 * den and dot < 0.5 * math.sqrt(num * den)

    def wants(self, n_accepted: int) -> bool:
        """Whether the step about to be judged (accepted count before it) is tested."""
        return self.stiff > 0 or (n_accepted + 1) % self.interval == 0

    def norms(self, ks: list[Tensor], dt: float) -> Tensor:
        """``[||dk||^2, ||dY||^2, dk . dY]`` with ``dk = k_s - k_{s-1}``, ``dY = Y_s - Y_{s-1}``,
        as a float64 tensor of shape ``(3,)`` (no synchronisation)."""
        with torch.no_grad():
            (j0, w0), *rest = self.weights
            dy = torch.mul(ks[j0], w0 * dt)
            for j, w in rest:
                dy.add_(ks[j], alpha=w * dt)
            dk = (ks[-1] - ks[-2]).double().reshape(-1)
            dy = dy.double().reshape(-1)
            return torch.stack([dk.dot(dk), dy.dot(dy), dk.dot(dy)])

    def update(
        self,
        num: float,
        den: float,
        dot: float,
        h: float,
        t: float,
        dt: float,
        t_end: float,
        steps: int,
    ) -> None:
        """Count one tested accepted step of magnitude ``h`` that ended at ``t`` (the
        ``steps``-th accepted step).

        Raises:
            StiffnessDetected: after ``STIFF_RUN`` stiff tests in a row, when the rest of
                the span would take at least ``min_remaining`` steps of size ``h``.
        """
        self.tests += 1
        if self._limited(num, den, dot, h):
            self.calm = 0
            self.stiff += 1
            remaining = abs(t_end - t) / h if h > 0 else float("inf")
            if self.stiff >= STIFF_RUN and remaining >= self.min_remaining:
                rho_h = h * (num / den) ** 0.5
                raise StiffnessDetected(
                    t=t,
                    dt=dt,
                    h_rho=rho_h,
                    boundary=self.boundary,
                    steps=steps,
                    method=self.method_name,
                )
        elif self.stiff > 0:
            self.calm += 1
            if self.calm >= CLEAR_RUN:
                self.stiff = 0
                self.calm = 0
