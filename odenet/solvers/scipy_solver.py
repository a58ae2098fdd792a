"""``scipy_solver``: scipy.integrate's adaptive solvers behind ``odeint`` (CPU, no gradients)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ..errors import MaxStepsReached, SolverError
from .field import CountingField
from .integrate import RawSolution
from .method import EventFn, LoopMethod, LoopSettings

__all__ = ["SCIPY_SOLVERS", "ScipySolver"]

#: scipy's solver names and the highest order each uses
SCIPY_SOLVERS: dict[str, int] = {
    "RK23": 3,
    "RK45": 5,
    "DOP853": 8,
    "Radau": 5,
    "BDF": 5,
    "LSODA": 12,
}


class ScipySolver(LoopMethod):
    """Solve with ``scipy.integrate``'s ``RK23, RK45, DOP853, Radau, BDF`` or ``LSODA``.

    The state is copied to the host and integrated in float64 numpy; ``func`` is called
    with tensors of ``y0``'s dtype on ``y0``'s device (under ``torch.no_grad()``), and the
    outputs come back in ``y0``'s dtype and device. ``rtol``/``atol`` and
    ``first_step`` go to scipy unchanged; outputs at ``t`` come from scipy's dense output,
    as with ``solve_ivp(t_eval=t)``. The stiff solvers (Radau, BDF, LSODA) approximate
    the Jacobian by finite differences.

    No gradients: the solve runs outside autograd. torchdiffeq 0.2.5 silently returns a
    tensor without a graph; odenet raises a ``ValueError`` when ``y0``, ``t`` or the
    parameters of ``func`` require grad with grad mode on (detach them, or solve under
    ``torch.no_grad()``). No events; no dense output (``Solution.evaluate``).
    ``Stats.n_rejected`` is 0 (scipy does not report rejections).

    Args:
        solver: the scipy method name (default ``"LSODA"``, as in torchdiffeq).
        min_step: smallest step (LSODA only; scipy ignores it elsewhere).
        max_step: largest step (default unbounded).

    Reference: Virtanen et al., "SciPy 1.0", Nature Methods 17 (2020);
    ``scipy.integrate.solve_ivp``.
    """

    name = "scipy_solver"
    reference = "Virtanen et al., SciPy 1.0, Nature Methods 17 (2020): scipy.integrate"
    adaptive = True
    differentiable = False
    gradients: ClassVar[frozenset[str]] = frozenset()
    supports_events = False
    valid_options: ClassVar[frozenset[str] | None] = frozenset({"first_step", "max_num_steps"})

    def __init__(
        self, solver: str = "LSODA", min_step: float = 0.0, max_step: float = math.inf
    ) -> None:
        if not isinstance(solver, str) or solver not in SCIPY_SOLVERS:
            raise ValueError(
                f"solver must be one of scipy's {sorted(SCIPY_SOLVERS)}; got solver={solver!r}"
            )
        for arg, value in (("min_step", min_step), ("max_step", max_step)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{arg} must be a number >= 0; got {arg}={value!r}")
        if max_step <= min_step:
            raise ValueError(
                f"max_step must exceed min_step; got min_step={min_step}, max_step={max_step}"
            )
        self.solver = solver
        self.min_step = float(min_step)
        self.max_step = float(max_step)
        self.order = SCIPY_SOLVERS[solver]  # type: ignore[misc]

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
        """Step scipy's solver from ``times[0]`` to ``times[-1]``, sampling at ``times``."""
        if event_fn is not None:
            raise ValueError(
                "method='scipy_solver' does not support event_fn; use an odenet method "
                "such as 'dopri5'"
            )
        solver = self._build(fld, y0, times, settings)
        raw = RawSolution(ys=[y0])
        idx, n = 1, len(times)
        d = 1.0 if times[-1] > times[0] else -1.0
        while solver.status == "running":
            if raw.n_accepted >= settings.max_steps:
                raise MaxStepsReached(
                    t=solver.t, dt=d * abs(raw.last_step), max_steps=settings.max_steps,
                    t_end=times[-1],
                )  # fmt: skip
            message = solver.step()
            if solver.status == "failed":
                raise SolverError(
                    f"scipy's {self.solver} failed at t={solver.t:.12g}: {message}",
                    t=float(solver.t),
                    dt=float(solver.t - solver.t_old) if solver.t_old is not None else math.nan,
                )
            t_old, t_new = float(solver.t_old), float(solver.t)
            raw.n_accepted += 1
            raw.last_step = abs(t_new - t_old)
            if raw.n_accepted == 1:
                raw.initial_step = raw.last_step
            stop = idx
            while stop < n and (times[stop] - t_new) * d <= 0.0:
                stop += 1
            if stop > idx:
                values = solver.dense_output()(np.asarray(times[idx:stop]))
                raw.ys.extend(self._to_torch(values[:, j], y0) for j in range(stop - idx))
                idx = stop
        return raw

    def _build(
        self, fld: CountingField, y0: Tensor, times: list[float], settings: LoopSettings
    ) -> Any:
        from scipy import integrate  # lazy: scipy is only needed for this method

        shape = y0.shape

        def fun(t: float, y: np.ndarray) -> np.ndarray:
            state = torch.from_numpy(np.ascontiguousarray(y)).to(y0.device, y0.dtype)
            with torch.no_grad():
                out = fld(float(t), state.reshape(shape))
            return out.detach().reshape(-1).cpu().double().numpy()

        kwargs: dict[str, object] = {"rtol": settings.rtol, "atol": settings.atol}
        if settings.first_step is not None:
            kwargs["first_step"] = settings.first_step
        if self.max_step != math.inf:
            kwargs["max_step"] = self.max_step
        if self.solver == "LSODA":
            kwargs["min_step"] = self.min_step
        start = y0.detach().reshape(-1).cpu().double().numpy()
        cls = getattr(integrate, self.solver)
        return cls(fun, times[0], start, times[-1], **kwargs)

    @staticmethod
    def _to_torch(values: np.ndarray, y0: Tensor) -> Tensor:
        out = torch.from_numpy(np.ascontiguousarray(values))
        return out.to(y0.device, y0.dtype).reshape(y0.shape)

    def __repr__(self) -> str:
        return (
            f"ScipySolver(solver={self.solver!r}, min_step={self.min_step}, "
            f"max_step={self.max_step})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScipySolver) and (
            (self.solver, self.min_step, self.max_step)
            == (other.solver, other.min_step, other.max_step)
        )

    def __hash__(self) -> int:
        return hash((ScipySolver, self.solver, self.min_step, self.max_step))
