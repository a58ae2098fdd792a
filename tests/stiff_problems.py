"""Stiff reference problems (Hairer & Wanner II, §IV.1 and §IV.10) with scipy references.

Each problem has a torch vector field accepting a batch ``(B, n)`` of states and optional
per-sample rate multipliers ``scale`` ``(B, n_rates)``, a numpy twin for scipy, and a
reference solution from scipy's Radau IIA at ``rtol=1e-10``, computed once per session
(``functools.lru_cache``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.integrate import solve_ivp
from torch import Tensor

__all__ = ["STIFF_PROBLEMS", "StiffProblem", "get_problem", "reference", "relative_error"]


@dataclass(frozen=True)
class StiffProblem:
    """``dy/dt = f(t, y)`` on ``[0, t_end]`` from ``y0``, reported at ``t_out``.

    ``rates``: the default rate constants; ``torch_field(rates)`` returns ``f(t, y)`` for
    ``y`` ``(B, n)`` and ``rates`` ``(n_rates,)`` or per sample ``(B, n_rates)``;
    ``numpy_field(rates)`` the same for one state (scipy). ``atol``: absolute tolerance
    suited to the problem's scales.
    """

    name: str
    y0: tuple[float, ...]
    t_out: tuple[float, ...]
    rates: tuple[float, ...]
    torch_field: Callable[[Tensor], Callable[[Tensor, Tensor], Tensor]]
    numpy_field: Callable[[np.ndarray], Callable[[float, np.ndarray], np.ndarray]]
    atol: float = 1e-10


def _col(rates: Tensor, i: int) -> Tensor:
    return rates[..., i : i + 1] if rates.dim() == 2 else rates[i]


def _rober_torch(k: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
    def f(t: Tensor, y: Tensor) -> Tensor:
        y1, y2, y3 = y[..., 0:1], y[..., 1:2], y[..., 2:3]
        a = _col(k, 0) * y1
        b = _col(k, 1) * y2 * y3
        c = _col(k, 2) * y2 * y2
        return torch.cat([b - a, a - b - c, c], dim=-1)

    return f


def _rober_numpy(k: np.ndarray) -> Callable[[float, np.ndarray], np.ndarray]:
    def f(t: float, y: np.ndarray) -> np.ndarray:
        a, b, c = k[0] * y[0], k[1] * y[1] * y[2], k[2] * y[1] ** 2
        return np.array([b - a, a - b - c, c])

    return f


def _vdp_torch(mu: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
    def f(t: Tensor, y: Tensor) -> Tensor:
        x, v = y[..., 0:1], y[..., 1:2]
        return torch.cat([v, _col(mu, 0) * (1 - x * x) * v - x], dim=-1)

    return f


def _vdp_numpy(mu: np.ndarray) -> Callable[[float, np.ndarray], np.ndarray]:
    def f(t: float, y: np.ndarray) -> np.ndarray:
        return np.array([y[1], mu[0] * (1 - y[0] ** 2) * y[1] - y[0]])

    return f


def _hires_terms(y: list, k6: object) -> list:
    y1, y2, y3, y4, y5, y6, y7, y8 = y
    r = k6 * y6 * y8
    return [
        -1.71 * y1 + 0.43 * y2 + 8.32 * y3 + 0.0007,
        1.71 * y1 - 8.75 * y2,
        -10.03 * y3 + 0.43 * y4 + 0.035 * y5,
        8.32 * y2 + 1.71 * y3 - 1.12 * y4,
        -1.745 * y5 + 0.43 * y6 + 0.43 * y7,
        -r + 0.69 * y4 + 1.71 * y5 - 0.43 * y6 + 0.69 * y7,
        r - 1.81 * y7,
        -r + 1.81 * y7,
    ]


def _hires_torch(k: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
    def f(t: Tensor, y: Tensor) -> Tensor:
        parts = [y[..., i : i + 1] for i in range(8)]
        return torch.cat(_hires_terms(parts, _col(k, 0)), dim=-1)

    return f


def _hires_numpy(k: np.ndarray) -> Callable[[float, np.ndarray], np.ndarray]:
    return lambda t, y: np.array(_hires_terms(list(y), k[0]))


def _orego_terms(y: list, s: object) -> list:
    y1, y2, y3 = y
    return [
        s * (y2 + y1 * (1 - 8.375e-6 * y1 - y2)),
        (y3 - (1 + y1) * y2) / s,
        0.161 * (y1 - y3),
    ]


def _orego_torch(k: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
    def f(t: Tensor, y: Tensor) -> Tensor:
        parts = [y[..., i : i + 1] for i in range(3)]
        return torch.cat(_orego_terms(parts, _col(k, 0)), dim=-1)

    return f


def _orego_numpy(k: np.ndarray) -> Callable[[float, np.ndarray], np.ndarray]:
    return lambda t, y: np.array(_orego_terms(list(y), k[0]))


STIFF_PROBLEMS: dict[str, StiffProblem] = {
    p.name: p
    for p in (
        StiffProblem(
            "rober", (1.0, 0.0, 0.0), (0.0, 1e-2, 1.0, 1e2, 1e4, 1e5),
            (0.04, 1e4, 3e7), _rober_torch, _rober_numpy, atol=1e-10,
        ),
        StiffProblem(
            "vdp", (2.0, 0.0), (0.0, 500.0, 1000.0, 1500.0, 2000.0, 3000.0),
            (1000.0,), _vdp_torch, _vdp_numpy, atol=1e-8,
        ),
        StiffProblem(
            "hires", (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0057), (0.0, 1.0, 10.0, 321.8122),
            (280.0,), _hires_torch, _hires_numpy, atol=1e-10,
        ),
        StiffProblem(
            "orego", (1.0, 2.0, 3.0), (0.0, 30.0, 100.0, 200.0, 360.0),
            (77.27,), _orego_torch, _orego_numpy, atol=1e-8,
        ),
    )
}  # fmt: skip


def get_problem(name: str) -> StiffProblem:
    return STIFF_PROBLEMS[name]


@functools.lru_cache(maxsize=64)
def reference(name: str, rates: tuple[float, ...] | None = None) -> np.ndarray:
    """scipy Radau at ``rtol=1e-10`` (``atol`` 1e-4 of the problem's): ``(len(t_out), n)``."""
    p = STIFF_PROBLEMS[name]
    k = np.asarray(rates if rates is not None else p.rates, dtype=float)
    sol = solve_ivp(
        p.numpy_field(k), (p.t_out[0], p.t_out[-1]), np.asarray(p.y0), method="Radau",
        t_eval=np.asarray(p.t_out), rtol=1e-10, atol=p.atol * 1e-4,
    )  # fmt: skip
    if not sol.success:
        raise RuntimeError(f"scipy Radau failed on {name}: {sol.message}")
    return sol.y.T


def relative_error(y: np.ndarray, ref: np.ndarray) -> float:
    """Largest error over times and components, relative to each component's largest
    magnitude over the run (a species at 1e-9 while its peak is 1e-5 counts at 1e-5)."""
    scale = np.abs(ref).max(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return float((np.abs(y - ref) / scale).max())
