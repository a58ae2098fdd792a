"""Monte-Carlo moment estimates with standard errors."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class MCMoments:
    """Sample mean and variance of N iid draws, with their standard errors.

    se_mean = sqrt(var / N); se_var = sqrt((m4 - var^2) / N) with m4 the sample fourth
    central moment (delta method; valid for any law with a finite fourth moment).
    """

    n: int
    mean: float
    se_mean: float
    var: float
    se_var: float

    def z_mean(self, target: float) -> float:
        """|mean - target| in standard errors."""
        return abs(self.mean - target) / self.se_mean

    def z_var(self, target: float) -> float:
        """|var - target| in standard errors."""
        return abs(self.var - target) / self.se_var


def mc_moments(samples: Tensor) -> MCMoments:
    """Moments of a 1-D tensor of iid samples (N >= 2)."""
    x = samples.detach().double().reshape(-1)
    n = x.numel()
    if n < 2:
        raise ValueError(f"need at least 2 samples for a variance; got {n}.")
    c = x - x.mean()
    var = float((c * c).sum()) / (n - 1)
    m4 = float((c**4).mean())
    return MCMoments(
        n=n,
        mean=float(x.mean()),
        se_mean=math.sqrt(var / n),
        var=var,
        se_var=math.sqrt(max(m4 - var * var, 0.0) / n),
    )


def two_sample_z(a: MCMoments, b: MCMoments, what: str = "mean") -> float:
    """z-score of the difference of two independent estimates ("mean" or "var")."""
    if what == "mean":
        return abs(a.mean - b.mean) / math.hypot(a.se_mean, b.se_mean)
    if what == "var":
        return abs(a.var - b.var) / math.hypot(a.se_var, b.se_var)
    raise ValueError(f"what must be 'mean' or 'var'; got what={what!r}.")
