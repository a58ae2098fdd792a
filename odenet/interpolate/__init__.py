"""Interpolation of irregular, partly missing time series into continuous paths.

Every interpolation takes data ``x (batch, time, channels)`` with NaN for missing values and
knot times ``t`` (``(time,)`` shared, ``(batch, time)`` per sample, or ``None``), and gives
a :class:`PiecewiseCubic` path with ``.evaluate(t)``, ``.derivative(t)`` (``(batch,
channels)``), ``.grid_points`` (every knot, for ``jump_t``) and ``.interval``. Use them as
the control ``X`` of :func:`odenet.cdeint`, or as a forcing term through ``args``.

One interpolation per file:

- :class:`LinearInterpolation`: C0, piecewise linear.
- :class:`RectilinearInterpolation`: causal lead-lag path on a virtual time.
- :class:`NaturalCubicSpline`: C2, natural end conditions.
- :class:`HermiteCubic`: C1, backward-difference slopes (causal up to one observation).
"""

from __future__ import annotations

from .cubic_spline import NaturalCubicSpline, natural_spline_coeffs
from .hermite import HermiteCubic
from .linear import LinearInterpolation
from .piecewise import PiecewiseCubic
from .rectilinear import RectilinearInterpolation

__all__ = [
    "HermiteCubic",
    "LinearInterpolation",
    "NaturalCubicSpline",
    "PiecewiseCubic",
    "RectilinearInterpolation",
    "natural_spline_coeffs",
]
