"""``solve(..., progress=True)``: a tqdm progress bar over the time span.

The bar counts time from ``t[0]`` to ``t[-1]`` and moves each time the stepping loop starts
a step from a newly reached time (every step starts where the last accepted one ended), so
it advances once per accepted step. The loops keep time as Python floats, so updating the
bar costs no host-device synchronisation; tqdm redraws at most ten times a second. The bar
is closed when the solve returns or raises (left where the solve stopped).
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable
from typing import Any

from tqdm.auto import tqdm

from ..solvers import RungeKutta, get_method
from .strategy import method_name

__all__ = ["ProgressBar", "solve_with_progress"]


class ProgressBar:
    """tqdm over ``[t0, t1]`` (either direction), advanced with :meth:`reached`."""

    def __init__(self, t0: float, t1: float, **tqdm_kwargs: Any) -> None:
        self.t0 = t0
        self.span = abs(t1 - t0)
        if math.isfinite(self.span):
            opts = {"total": self.span, "unit": "t", "bar_format": _FORMAT, "leave": True}
        else:  # an open-ended event search (t[-1] = inf): the time reached, no total
            opts = {"total": None, "unit": "t", "bar_format": _OPEN_FORMAT, "leave": True}
        self.bar = tqdm(**{**opts, **tqdm_kwargs})
        self.done = 0.0
        self.closed = False

    def reached(self, t: float) -> None:
        """The solve has reached time ``t`` (a Python float)."""
        if self.closed:
            return
        done = min(abs(t - self.t0), self.span)
        if done > self.done:
            self.bar.update(done - self.done)
            self.done = done

    def close(self, finished: bool) -> None:
        if self.closed:
            return
        if finished and math.isfinite(self.span):
            self.reached(self.t0 + self.span if self.span else self.t0)
            self.bar.n = self.span  # float rounding of the increments
            self.bar.refresh()
        self.bar.close()
        self.closed = True

    def watch(self, method: RungeKutta) -> RungeKutta:
        """A copy of ``method`` whose ``step`` reports its start time to the bar."""
        watched = copy.copy(method)
        inner = method.step

        def step(fld: Any, t: float, *args: Any, **kwargs: Any) -> Any:
            self.reached(t)
            return inner(fld, t, *args, **kwargs)

        watched.step = step  # type: ignore[method-assign]
        return watched


_FORMAT = "{l_bar}{bar}| t {n:.4g}/{total:.4g} [{elapsed}<{remaining}]"
_OPEN_FORMAT = "{desc}t {n:.4g} [{elapsed}]"


def solve_with_progress(solve: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    """Run ``solve(**arguments)`` (with ``progress=False``) under a :class:`ProgressBar`."""
    names = set(inspect.signature(solve).parameters) - {"progress"}
    arguments = {k: v for k, v in arguments.items() if k in names}
    if arguments.get("batch_mode", "joint") != "joint":
        raise ValueError(
            "progress=True applies to batch_mode='joint' only; drop progress or use the "
            "joint batch mode"
        )
    t = arguments["t"]
    times = t.detach().reshape(-1).cpu()  # the solve reads t to the host anyway
    bar = ProgressBar(float(times[0]), float(times[-1]))
    method = arguments.get("method", "dopri5")
    if method_name(method) != "reversible_heun":
        arguments["method"] = bar.watch(get_method(method))
    finished = False
    try:
        out = solve(**arguments, progress=False)
        finished = getattr(out, "status", "success") == "success"
        return out
    finally:
        bar.close(finished)
