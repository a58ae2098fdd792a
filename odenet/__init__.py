"""odenet: continuous-depth models for PyTorch.

A residual block ``x + h * f(x)`` is one Euler step of a learned vector field; odenet
provides the solvers, gradient strategies, layers, converters and experiments built on
that view.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
