r"""Closed-form law of log||x_L||^2 - log||x_0||^2 for the linear random ResNet.

Model (width n, depth L, branch scale s = 1/sqrt(L)):

    x_{k+1} = x_k + L^{-1/2} W_k x_k,   W_k iid with iid N(0, sigma^2 / n) entries.

Derivation.
1. Given x_k, the vector W_k x_k is N(0, (sigma^2 / n) ||x_k||^2 I_n) and independent of
   the past (W_k is fresh). By rotational invariance, with a = sigma / sqrt(n L),

       rho_k := ||x_{k+1}||^2 / ||x_k||^2  =  (1 + a g_1)^2 + a^2 (g_2^2 + ... + g_n^2),

   g ~ N(0, I_n), and the rho_k are iid (their law does not depend on x_k). Hence, exactly
   at every depth,

       D_L := log||x_L||^2 - log||x_0||^2 = sum_{k<L} log rho_k,
       E D_L = L E[log rho],  Var D_L = L Var[log rho]         (finite L, any n).

   ``finite_depth_moments`` evaluates these two expectations by Gauss quadrature (Hermite in
   g_1, generalised Laguerre in the chi-square g_2^2 + ... + g_n^2).
2. Expanding log rho = eps - eps^2/2 + O(a^3), eps = 2 a g_1 + a^2 ||g||^2, gives
   E log rho = a^2 (n - 2) + O(L^-2) and Var log rho = 4 a^2 + O(L^-2), so by the
   central limit theorem for the iid sum,

       D_L  ->  N( sigma^2 (1 - 2/n),  4 sigma^2 / n )   as L -> infinity, n fixed.

3. The same law comes from the limiting SDE dx = (sigma / sqrt(n)) dB_t x with B an n x n
   matrix Brownian motion (Ito): d||x||^2 = sigma^2 ||x||^2 dt + 2 (sigma/sqrt(n)) ||x||^2
   dbeta, so d log||x||^2 = sigma^2 (1 - 2/n) dt + (2 sigma / sqrt(n)) dbeta, a Brownian
   motion with drift: the norm is a geometric Brownian motion and D_T ~ N(sigma^2 T
   (1 - 2/n), 4 sigma^2 T / n) exactly.

Width first. At fixed L, n -> infinity: rho_k -> 1 + sigma^2 / L almost surely, so
D_L -> L log(1 + sigma^2 / L) (deterministic), which tends to sigma^2 as L -> infinity.
Depth first: N(sigma^2 (1 - 2/n), 4 sigma^2 / n) -> delta_{sigma^2} as n -> infinity. The two
iterated limits agree, as Hayou & Yang 2023 prove for 1/sqrt(L)-scaled ResNets in general.

References: Peluchetti & Favaro 2020, "Infinitely deep neural networks as diffusion
processes" (AISTATS); Li, Nica & Roy 2021, "The future is log-Gaussian: ResNets and their
infinite-depth-and-width limit at initialization" (NeurIPS; log-Gaussian norms); Hayou &
Yang 2023, "Width and depth limits commute in residual networks" (ICML).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss


@dataclass(frozen=True)
class Moments:
    """Mean and variance of a scalar law."""

    mean: float
    var: float


def _check_width(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"width n must be a positive int; got n={n!r}.")


def depth_limit_law(n: int, sigma2: float = 1.0, T: float = 1.0) -> Moments:
    """L -> infinity law of D = log||x_L||^2 - log||x_0||^2 at width n (Gaussian):
    mean sigma^2 T (1 - 2/n), variance 4 sigma^2 T / n (derivation in the module docstring)."""
    _check_width(n)
    return Moments(mean=sigma2 * T * (1 - 2 / n), var=4 * sigma2 * T / n)


def width_limit_value(depth: int, sigma2: float = 1.0) -> float:
    """n -> infinity value of D at fixed depth L: L log(1 + sigma^2 / L) (variance 0)."""
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive int; got depth={depth!r}.")
    return depth * math.log1p(sigma2 / depth)


def gamma_gauss_rule(shape: float, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss quadrature for U ~ Gamma(shape, 1): nodes u_i and probability weights w_i with
    E f(U) ~ sum_i w_i f(u_i), exact for polynomials of degree < 2 ``nodes``.

    Golub & Welsch 1969: the nodes are the eigenvalues of the Jacobi matrix of the
    generalised Laguerre polynomials (alpha = shape - 1; diagonal 2i + alpha + 1,
    off-diagonal sqrt(i (i + alpha))) and the weights the squared first eigenvector
    components. Unlike tabulated Laguerre weights this never overflows for large shape.
    """
    if shape <= 0:
        raise ValueError(f"shape must be > 0; got shape={shape}.")
    alpha = shape - 1.0
    i = np.arange(nodes, dtype=np.float64)
    diag = 2 * i + alpha + 1
    off = np.sqrt(i[1:] * (i[1:] + alpha))
    jacobi = np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)
    u, vecs = np.linalg.eigh(jacobi)
    return u, vecs[0] ** 2


def finite_depth_moments(
    n: int, depth: int, sigma2: float = 1.0, *, scale: float | None = None, nodes: int = 120
) -> Moments:
    """Exact mean and variance of D at width n and depth L: L E[log rho], L Var[log rho],
    with rho = (1 + a g1)^2 + a^2 chi2_{n-1}, a^2 = s^2 sigma^2 / n and branch scale
    s = ``scale`` (default 1/sqrt(L); the iid-ratio argument holds for any s).

    Gauss-Hermite (probabilists') quadrature in g1 times generalised Gauss-Laguerre in the
    chi-square (chi2_k = 2 U, U ~ Gamma(k/2), :func:`gamma_gauss_rule`); ``nodes`` points
    each. Accurate to ~1e-10 for
    1/a^2 >= 16 (the log singularity at g1 = -1/a lies beyond the Hermite nodes); for
    larger a (e.g. s = 1 at small n) it is an approximation only.
    """
    _check_width(n)
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive int; got depth={depth!r}.")
    s = 1 / math.sqrt(depth) if scale is None else float(scale)
    a = s * math.sqrt(sigma2 / n)
    x, wx = hermegauss(nodes)
    wx = wx / math.sqrt(2 * math.pi)
    if n == 1:
        q, wq = np.zeros(1), np.ones(1)
    else:
        u, wq = gamma_gauss_rule((n - 1) / 2, nodes)
        q = 2 * u
    rho = (1 + a * x)[:, None] ** 2 + a * a * q[None, :]
    w = wx[:, None] * wq[None, :]
    logr = np.log(rho)
    m1 = float((w * logr).sum())
    m2 = float((w * logr**2).sum())
    return Moments(mean=depth * m1, var=depth * (m2 - m1 * m1))
