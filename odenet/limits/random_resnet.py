"""Random ResNets at initialisation: x_{k+1} = x_k + s W_k phi(x_k), W_k iid Gaussian.

Three branch scalings (Peluchetti & Favaro 2020; Hayou 2023; Hayou & Yang 2023):

* s = 1: no depth scaling; for linear phi ||x_L||^2 grows like (1 + sigma^2)^L.
* s = 1/L: the sum of L independent zero-mean kicks of size 1/L vanishes like L^{-1/2}, so
  x_L -> the ODE limit x' = M phi(x) with M = E[W] (the identity map when M = 0); the
  spread across seeds shrinks like L^{-1/2}.
* s = 1/sqrt(L): the kicks add up to a diffusion, dx = (sigma / sqrt(n)) dB_t phi(x) with
  B an n x n matrix Brownian motion; the law of x_L converges and stays random.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

SCALINGS: tuple[str, ...] = ("1", "1/L", "1/sqrt(L)")

# name -> (function, positively 1-homogeneous?)
ACTIVATIONS: dict[str, tuple[Callable[[Tensor], Tensor], bool]] = {
    "linear": (lambda x: x, True),
    "relu": (torch.relu, True),
    "abs": (torch.abs, True),
    "tanh": (torch.tanh, False),
}


def branch_scale(scaling: str | float, depth: int) -> float:
    """The multiplier s for a named scaling ("1", "1/L", "1/sqrt(L)") or a given float."""
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive int; got depth={depth!r}.")
    if isinstance(scaling, (int, float)) and not isinstance(scaling, bool):
        return float(scaling)
    table = {"1": 1.0, "1/L": 1.0 / depth, "1/sqrt(L)": 1.0 / math.sqrt(depth)}
    if scaling not in table:
        raise ValueError(f"scaling must be one of {SCALINGS} or a float; got scaling={scaling!r}.")
    return table[scaling]


def _activation(phi: str) -> tuple[Callable[[Tensor], Tensor], bool]:
    if phi not in ACTIVATIONS:
        raise ValueError(f"phi must be one of {sorted(ACTIVATIONS)}; got phi={phi!r}.")
    return ACTIVATIONS[phi]


@dataclass(frozen=True)
class ResNetSample:
    """Result of :func:`simulate_random_resnet` over S seeds.

    Attributes:
        x: final state x_L, or its direction x_L / ||x_L|| when simulated with
            ``renormalise=True``. Shape (S, n).
        log_norm_sq: log||x_k||^2 at the recorded layers, shape (S, len(layers)).
        layers: recorded layer indices k (0 = input, last = depth).
    """

    x: Tensor
    log_norm_sq: Tensor
    layers: tuple[int, ...]

    @property
    def log_ratio(self) -> Tensor:
        """log||x_L||^2 - log||x_0||^2, shape (S,)."""
        return self.log_norm_sq[:, -1] - self.log_norm_sq[:, 0]


def simulate_random_resnet(
    x0: Tensor,
    depth: int,
    scaling: str | float,
    *,
    n_seeds: int,
    phi: str = "linear",
    sigma: float = 1.0,
    weight_mean: Tensor | None = None,
    record_every: int | None = None,
    renormalise: bool = False,
    generator: torch.Generator | None = None,
) -> ResNetSample:
    """Simulate x_{k+1} = x_k + s (M + sigma n^{-1/2} G_k) phi(x_k), k = 0..L-1, over seeds.

    Args:
        x0: input, shape (n,) (shared by all seeds) or (n_seeds, n).
        depth: number of residual blocks L.
        scaling: "1", "1/L", "1/sqrt(L)" or a float s.
        n_seeds: number S of independent weight draws (one network per seed).
        phi: "linear", "relu", "abs" or "tanh".
        sigma: weight standard deviation times sqrt(n) (entries of G_k are iid N(0, 1)).
        weight_mean: optional deterministic n x n mean M of every W_k (M = 0 by default).
        record_every: also record log||x_k||^2 every this many layers (default: only 0, L).
        renormalise: for positively homogeneous phi only: rescale the state to unit norm
            after every block and accumulate the log-norm (the map is 1-homogeneous, so the
            direction evolves identically); lets s = 1 run to L = 1024 without overflow.
        generator: torch generator for the weights.

    Cost: O(L S n^2) operations, S x n x n Gaussians per layer.
    """
    fn, homogeneous = _activation(phi)
    if not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"n_seeds must be a positive int; got n_seeds={n_seeds!r}.")
    if record_every is not None and (not isinstance(record_every, int) or record_every < 1):
        raise ValueError(f"record_every must be a positive int or None; got {record_every!r}.")
    if renormalise and not homogeneous:
        raise ValueError(
            f"renormalise=True needs a positively homogeneous phi (linear, relu, abs); "
            f"got phi={phi!r}. Use renormalise=False."
        )
    homogeneous = renormalise
    s = branch_scale(scaling, depth)
    n = x0.shape[-1]
    x = x0.expand(n_seeds, n).clone() if x0.dim() == 1 else x0.clone()
    if x.shape != (n_seeds, n):
        raise ValueError(
            f"x0 must have shape (n,) or (n_seeds, n)=({n_seeds}, {n}); got {tuple(x0.shape)}."
        )
    every = depth if record_every is None else record_every
    logn = torch.zeros(n_seeds, dtype=x.dtype, device=x.device)
    records, layers = [], []

    def record(k: int) -> None:
        records.append(logn + torch.log((x * x).sum(-1)))
        layers.append(k)

    record(0)
    if homogeneous:
        norm = x.norm(dim=-1, keepdim=True)
        logn, x = logn + 2 * torch.log(norm[:, 0]), x / norm
    for k in range(depth):
        g = torch.randn(n_seeds, n, n, generator=generator, dtype=x.dtype, device=x.device)
        w = (
            sigma / math.sqrt(n) * g
            if weight_mean is None
            else weight_mean + sigma / math.sqrt(n) * g
        )
        x = x + s * torch.bmm(w, fn(x).unsqueeze(-1)).squeeze(-1)
        if homogeneous:
            norm = x.norm(dim=-1, keepdim=True)
            logn, x = logn + 2 * torch.log(norm[:, 0]), x / norm
        if (k + 1) % every == 0 or k + 1 == depth:
            if homogeneous:
                records.append(logn.clone())
                layers.append(k + 1)
            else:
                record(k + 1)
    return ResNetSample(x=x, log_norm_sq=torch.stack(records, dim=1), layers=tuple(layers))


def sample_linear_log_ratio(
    n: int,
    depth: int,
    *,
    n_seeds: int,
    sigma: float = 1.0,
    scaling: str | float = "1/sqrt(L)",
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Exact sampler of log||x_L||^2 - log||x_0||^2 for linear phi without forming matrices.

    By rotational invariance the per-block ratios rho_k = ||x_{k+1}||^2 / ||x_k||^2 are iid
    with rho = (1 + b g_1)^2 + b^2 chi2_{n-1}, b = s sigma / sqrt(n) (see
    :mod:`odenet.limits.closed_form`). Cost O(L S) instead of O(L S n^2), so widths of
    thousands are cheap. Returns (n_seeds,).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"width n must be a positive int; got n={n!r}.")
    b = branch_scale(scaling, depth) * sigma / math.sqrt(n)
    g1 = torch.randn(n_seeds, depth, generator=generator, dtype=dtype)
    if n > 1:
        chi = torch.distributions.Chi2(torch.tensor(float(n - 1), dtype=dtype))
        # Chi2 has no generator argument: draw Gamma(k/2, 1/2) via the global RNG seeded from ours.
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            q = chi.sample((n_seeds, depth))
    else:
        q = torch.zeros(n_seeds, depth, dtype=dtype)
    rho = (1 + b * g1) ** 2 + b * b * q
    return torch.log(rho).sum(-1)
