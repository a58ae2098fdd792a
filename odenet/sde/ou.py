"""Ornstein-Uhlenbeck reference process: exact sampler, closed-form MLE, path moments.

dX = theta (mu - X) dt + sigma dW,  theta > 0.

Exact transition (Uhlenbeck & Ornstein 1930; e.g. Gardiner, "Stochastic Methods", 4.5.4):
X_{t+h} | X_t ~ N(mu + (X_t - mu) a, sigma^2 (1 - a^2) / (2 theta)),  a = exp(-theta h).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class OUParams:
    """Parameters of dX = theta (mu - X) dt + sigma dW."""

    theta: float
    mu: float
    sigma: float


def _check_grid(ts: Tensor) -> float:
    """Return the common spacing h of an evenly spaced increasing grid ts (T,)."""
    if ts.dim() != 1 or ts.numel() < 2:
        raise ValueError(f"ts must be a 1-D tensor with >= 2 times; got shape {tuple(ts.shape)}.")
    steps = ts[1:] - ts[:-1]
    h = float(steps[0])
    if h <= 0 or not torch.allclose(steps, torch.full_like(steps, h), rtol=1e-6, atol=1e-9):
        raise ValueError(f"ts must be evenly spaced and increasing; got steps {steps.tolist()}.")
    return h


def ou_sample_paths(
    params: OUParams, x0: Tensor, ts: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """Exact OU paths at the evenly spaced times ts (T,), from x0 (batch, 1) at ts[0].

    Returns (T, batch, 1). No discretisation error: each step uses the Gaussian transition.
    """
    if params.theta <= 0 or params.sigma <= 0:
        raise ValueError(f"need theta > 0 and sigma > 0; got {params}.")
    h = _check_grid(ts)
    a = math.exp(-params.theta * h)
    sd = params.sigma * math.sqrt((1 - a * a) / (2 * params.theta))
    xs = [x0]
    for _ in range(ts.numel() - 1):
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        xs.append(params.mu + (xs[-1] - params.mu) * a + sd * noise)
    return torch.stack(xs)


def ou_mle(paths: Tensor, ts: Tensor) -> OUParams:
    """Closed-form maximum-likelihood estimate of (theta, mu, sigma) from paths (T, batch, 1)
    on an evenly spaced grid: least squares of X_{k+1} on X_k gives slope a and intercept b,
    then theta = -log(a)/h, mu = b/(1 - a), sigma^2 = 2 theta s^2 / (1 - a^2) with s^2 the
    residual variance. Needs 0 < a < 1."""
    h = _check_grid(ts)
    x, y = paths[:-1].reshape(-1).double(), paths[1:].reshape(-1).double()
    xm, ym = x.mean(), y.mean()
    a = float(((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum())
    if not 0 < a < 1:
        raise ValueError(f"paths do not look mean-reverting: lag-1 regression slope a={a}.")
    b = float(ym - a * xm)
    s2 = float(((y - a * x - b) ** 2).mean())
    theta = -math.log(a) / h
    return OUParams(theta=theta, mu=b / (1 - a), sigma=math.sqrt(2 * theta * s2 / (1 - a * a)))


def path_moments(paths: Tensor, eps: float = 1e-12) -> Tensor:
    """Summary statistics of paths (T, batch, dim): per time the mean and the standard
    deviation, and the lag-1 correlation corr(X_k, X_{k+1}). Returns a flat vector of length
    (3T - 1) * dim. All three are O(1) quantities, which keeps a squared-error loss on them
    well conditioned.

    For a Gaussian Markov process such as OU these moments identify (theta, mu, sigma):
    corr(X_k, X_{k+1}) = exp(-theta h) sd_k / sd_{k+1}, the means relax to mu at rate theta,
    and the standard deviations then fix sigma."""
    mean = paths.mean(1)
    centred = paths - mean.unsqueeze(1)
    sd = (centred**2).mean(1).clamp_min(eps).sqrt()
    corr = (centred[:-1] * centred[1:]).mean(1) / (sd[:-1] * sd[1:])
    return torch.cat([mean.reshape(-1), sd.reshape(-1), corr.reshape(-1)])
