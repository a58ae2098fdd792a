"""The diffusion limit of the 1/sqrt(L) random ResNet, as an SDEBlock (torchsde).

x_{k+1} = x_k + L^{-1/2} W_k phi(x_k), W_k iid with N(0, sigma^2/n) entries, is exactly the
Euler-Maruyama scheme with step 1/L for the Ito SDE on [0, 1]

    dx_t = (sigma / sqrt(n)) dB_t phi(x_t),      B an n x n matrix Brownian motion,

because L^{-1/2} W_k has the law of (sigma / sqrt(n)) (B_{(k+1)/L} - B_{k/L}). As L -> infinity
x_L converges in law to x_1 (Peluchetti & Favaro 2020; Hayou 2023 "On the infinite-depth
limit of finite-width neural networks", TMLR). Flattening B row-major to n^2 channels, the
diffusion matrix is g(x) = (sigma / sqrt(n)) I_n (x) phi(x)^T of shape (n, n^2): general noise.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from odenet.limits.random_resnet import _activation
from odenet.sde import SDEBlock


class MatrixNoiseDiffusion(nn.Module):
    """g(t, x) = (sigma / sqrt(n)) I_n kron phi(x)^T: (batch, n) -> (batch, n, n^2), so that
    g dB = (sigma / sqrt(n)) dB phi(x) for a row-major flattened n x n Brownian matrix."""

    def __init__(self, n: int, sigma: float = 1.0, phi: str = "linear") -> None:
        super().__init__()
        self.n, self.sigma = n, float(sigma)
        self.phi, _ = _activation(phi)
        self.register_buffer("eye", torch.eye(n), persistent=False)

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        batch, n = x.shape
        eye = self.eye.to(dtype=x.dtype, device=x.device)
        g = eye[None, :, :, None] * self.phi(x)[:, None, None, :]  # (batch, n, n, n)
        return (self.sigma / math.sqrt(n)) * g.reshape(batch, n, n * n)


def _zero_drift(t: Tensor, x: Tensor) -> Tensor:
    return torch.zeros_like(x)


def resnet_diffusion_limit(
    n: int,
    *,
    sigma: float = 1.0,
    phi: str = "linear",
    dt: float = 1 / 256,
    method: str = "euler",
    seed: int | None = None,
) -> SDEBlock:
    """SDEBlock for dx = (sigma / sqrt(n)) dB phi(x) on t in [0, 1] (Ito, general noise,
    n^2 Brownian channels). ``block(x0)`` with x0 (batch, n) returns x_1 (batch, n): one
    independent network limit per batch row."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"width n must be a positive int; got n={n!r}.")
    return SDEBlock(
        _zero_drift,
        MatrixNoiseDiffusion(n, sigma, phi),
        noise_type="general",
        sde_type="ito",
        method=method,
        dt=dt,
        t_span=(0.0, 1.0),
        seed=seed,
    )
