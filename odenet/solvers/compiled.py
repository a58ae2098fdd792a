"""``compile_step=True`` in the joint batch mode: each Runge--Kutta step under ``torch.compile``.

:class:`CompiledSteps` stands in for a :class:`~odenet.solvers.RungeKutta` method inside
the fixed and adaptive loops of :mod:`odenet.solvers.integrate` (the loops are unchanged:
step-size control, outputs and events stay in Python). Its :meth:`CompiledSteps.step`
runs one compiled function holding every stage -- ``func`` included, inlined by Dynamo --
the stage sums and the embedded error estimate, so a step is one call of generated code
instead of ~``6 s`` PyTorch dispatches. Time and step size enter as 0-d float64 tensors,
not Python floats, so one compilation serves every step: the graph is specialised on
shapes, dtypes and ``func`` only (``dynamic=False``), i.e. one compilation per state
shape, cached per ``(func, method)``.

On CUDA ``mode="reduce-overhead"`` (CUDA graphs) may be passed as ``compile_step``; it is
not measured here (no GPU on the development machine), and the loop's accept decision is
still one host synchronisation per step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from .field import CountingField
from .func_cache import FuncCache
from .runge_kutta import RungeKutta

__all__ = ["CompiledSteps", "compiled_steps"]

Coeffs = tuple[tuple[int, float], ...]


def _nonzero(weights: Sequence[float]) -> Coeffs:
    return tuple((j, float(w)) for j, w in enumerate(weights) if w != 0.0)


def _combo(ks: Sequence[Tensor], coeffs: Coeffs) -> Tensor:
    (j0, a0), *rest = coeffs
    out = ks[j0] * a0
    for j, a in rest:
        out = out + ks[j] * a
    return out


def _step(
    func: Callable[[Tensor, Tensor], Tensor],
    c: tuple[float, ...],
    rows: tuple[Coeffs, ...],
    b: Coeffs,
    e: Coeffs | None,
    fsal: bool,
    t_dtype: torch.dtype,
    t: Tensor,
    y: Tensor,
    dt: Tensor,
    k0: Tensor,
) -> tuple[Tensor, list[Tensor], Tensor | None]:
    """One explicit RK step with 0-d tensor ``t``, ``dt`` (float64): ``(y1, ks, err)``."""
    dty = dt.to(y.dtype)
    ks = [k0]
    yi = y
    for i in range(1, len(c)):
        yi = y + dty * _combo(ks, rows[i]) if rows[i] else y
        ks.append(func((t + c[i] * dt).to(t_dtype), yi))
    y1 = yi if fsal else y + dty * _combo(ks, b)
    err = None if e is None else dty * _combo(ks, e)
    return y1, ks, err


class CompiledSteps:
    """A method whose :meth:`step` runs compiled; everything else is the method's own.

    Args:
        method: the Runge--Kutta method.
        func: the user's ``func(t, y)`` (its calls are counted on the loop's field).
        mode: ``torch.compile`` mode (``None``: the default).
    """

    def __init__(self, method: RungeKutta, func: Callable[..., Tensor], mode: str | None) -> None:
        self.method = method
        self.func = func
        tab = method.tableau
        self._c = tuple(float(x) for x in tab.c)
        self._rows = tuple(_nonzero(row) for row in tab.a)
        self._b = _nonzero(tab.b)
        self._e = None if tab.b_error is None else _nonzero(tab.b_error)
        self._fn = torch.compile(self._bound(method.fsal), dynamic=False, mode=mode)
        self._err: Tensor | None = None

    def _bound(self, fsal: bool) -> Callable[..., Any]:
        """``_step`` with the method's constants bound, so a call passes tensors only."""
        func, c, rows, b, e = self.func, self._c, self._rows, self._b, self._e

        def step(t: Tensor, y: Tensor, dt: Tensor, k0: Tensor, t_dtype: torch.dtype) -> Any:
            return _step(func, c, rows, b, e, fsal, t_dtype, t, y, dt, k0)

        return step

    def __getattr__(self, name: str) -> Any:  # order, fsal, interpolate, ... of the method
        return getattr(self.method, name)

    def step(
        self, field: CountingField, t: float, y: Tensor, dt: float, k0: Tensor
    ) -> tuple[Tensor, list[Tensor]]:
        """As :meth:`RungeKutta.step`; ``field`` only counts the evaluations here (the
        compiled code calls ``func`` itself with the field's time dtype).

        A ``field`` that is not the loop's :class:`CountingField` is a wrapper that moves
        evaluation times (``perturb``'s one-sided field, ``jump_t``'s left limit): the
        compiled code would bypass it, so such a step runs the method's own eager step.
        """
        if not isinstance(field, CountingField):
            self._err = None
            return self.method.step(field, t, y, dt, k0)
        dev = y.device
        tt = torch.scalar_tensor(t, dtype=torch.float64, device=dev)
        hh = torch.scalar_tensor(dt, dtype=torch.float64, device=dev)
        t_dtype = getattr(field, "_dtype", torch.float64)
        y1, ks, err = self._fn(tt, y, hh, k0, t_dtype)
        if isinstance(field, CountingField):
            field.nfe += len(self._c) - 1
        self._err = err
        return y1, ks

    def error_estimate(self, ks: Sequence[Tensor], dt: float) -> Tensor:
        """The error estimate computed with the last step (inside the compiled code)."""
        if self._err is None:
            return self.method.error_estimate(ks, dt)
        err, self._err = self._err, None
        return err


#: compiled steps, one per (func, method, mode)
_CACHE: FuncCache[CompiledSteps] = FuncCache()


def compiled_steps(
    method: RungeKutta, func: Callable[..., Tensor], mode: str | None
) -> CompiledSteps:
    """The :class:`CompiledSteps` of ``(func, method, mode)``, compiled once and cached."""
    hit = _CACHE.get(func, (method.name, mode))
    if hit is not None and hit.method == method:
        return hit
    return _CACHE.put(func, (method.name, mode), CompiledSteps(method, func, mode))
