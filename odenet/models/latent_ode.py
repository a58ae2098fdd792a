"""Latent ODE for irregularly sampled time series.

Rubanova, Chen, Duvenaud, "Latent ODEs for Irregularly-Sampled Time Series", NeurIPS 2019
(and Chen et al. 2018, Section 5). A recognition network reads the observations backwards
in time and gives ``q(z0 | x) = N(mu, diag(sigma^2))``; a latent ODE ``dz/dt = f(t, z)``
carries ``z0`` to every time, and a linear decoder gives ``p(x_i | z(t_i)) =
N(decoder(z(t_i)), obs_std^2 I)``. Training maximises the ELBO

    E_q[ sum_{observed i, d} log p(x_{i,d} | z(t_i)) ] - KL(q(z0 | x) || N(0, I)).

Encoders: ``"odernn"`` (ODE-RNN: between observations the hidden state follows an ODE,
at each observation a GRU update) or ``"gru"`` (a GRU that also sees the time gap).

Shapes: ``ts: (T,)`` strictly increasing times shared by the batch; ``xs: (B, T, obs_dim)``;
``mask: (B, T, obs_dim)`` with 1 where observed (irregular sampling per sample is encoded
by the mask); ``z0: (B, latent_dim)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from odenet.nn._checks import check_choice, check_positive_int
from odenet.nn.mlp_field import MLPField
from odenet.nn.ode_block import ODEBlock


class RecognitionRNN(nn.Module):
    """ODE-RNN / GRU encoder run backwards in time: ``(ts, xs, mask) -> (B, 2 * latent_dim)``."""

    def __init__(
        self, obs_dim: int, latent_dim: int, hidden: int, kind: str, ode_kwargs: dict[str, Any]
    ) -> None:
        super().__init__()
        self.kind = check_choice("encoder", kind, ("odernn", "gru"))
        extra = 1 if kind == "gru" else 0  # the GRU sees the time gap
        self.cell = nn.GRUCell(2 * obs_dim + extra, hidden)
        self.hidden = hidden
        self.ode = (
            ODEBlock(MLPField(hidden, hidden, 1, "tanh"), **ode_kwargs)
            if kind == "odernn"
            else None
        )
        self.out = nn.Linear(hidden, 2 * latent_dim)

    def forward(self, ts: torch.Tensor, xs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = xs.new_zeros(xs.shape[0], self.hidden)
        n = len(ts)
        for i in range(n - 1, -1, -1):
            gap = ts[i + 1] - ts[i] if i < n - 1 else ts.new_zeros(())
            if self.ode is not None and i < n - 1:
                h = self.ode(h, torch.stack([ts[i + 1], ts[i]]))[-1]
            inputs = [xs[:, i] * mask[:, i], mask[:, i]]
            if self.kind == "gru":
                inputs.append(gap.expand(xs.shape[0], 1))
            h_new = self.cell(torch.cat(inputs, dim=-1), h)
            observed = (mask[:, i].sum(-1, keepdim=True) > 0).to(h.dtype)
            h = observed * h_new + (1 - observed) * h
        return self.out(h)


class LatentODE(nn.Module):
    """Latent ODE (Rubanova et al. 2019) with a Gaussian likelihood of fixed ``obs_std``.

    Args:
        obs_dim, latent_dim: data and latent dimensions.
        hidden: width of the latent field ``MLPField(latent_dim, hidden, 2)``.
        rec_hidden: hidden size of the recognition network.
        encoder: ``"odernn"`` or ``"gru"``.
        obs_std: standard deviation of the observation noise.
        method, rtol, atol, step_size, gradient: solver settings (latent decoder ``self.ode``
            and the ODE-RNN encoder).

    Methods: ``encode(ts, xs, mask) -> (mu, logvar)``, ``decode(z0, ts) -> (B, T, obs_dim)``,
    ``elbo(ts, xs, mask) -> dict``, ``forward(ts, xs, mask, ts_pred=None)`` (predictions
    from the posterior mean).
    """

    def __init__(
        self,
        obs_dim: int,
        latent_dim: int = 4,
        hidden: int = 32,
        rec_hidden: int = 32,
        encoder: str = "odernn",
        obs_std: float = 0.1,
        method: Any = "rk4",
        rtol: float = 1e-3,
        atol: float = 1e-4,
        step_size: float | None = 0.1,
        gradient: Any = None,
    ) -> None:
        super().__init__()
        self.obs_dim = check_positive_int("obs_dim", obs_dim)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        if not 0 < float(obs_std) < math.inf:
            raise ValueError(f"obs_std must be > 0 and finite; got {obs_std!r}.")
        self.obs_std = float(obs_std)
        ode_kwargs = {
            "method": method,
            "rtol": rtol,
            "atol": atol,
            "step_size": step_size,
            "gradient": gradient,
        }
        self.encoder = RecognitionRNN(obs_dim, latent_dim, rec_hidden, encoder, ode_kwargs)
        self.ode = ODEBlock(MLPField(latent_dim, hidden, 2, "tanh"), **ode_kwargs)
        self.decoder = nn.Linear(latent_dim, obs_dim)

    def _check(self, ts: torch.Tensor, xs: torch.Tensor, mask: torch.Tensor | None):
        if ts.ndim != 1 or len(ts) < 1:
            raise ValueError(f"ts must be a 1-D tensor of times; got shape {tuple(ts.shape)}.")
        if len(ts) > 1 and not bool((ts[1:] > ts[:-1]).all()):
            raise ValueError("ts must be strictly increasing; sort the observation times.")
        if xs.ndim != 3 or xs.shape[1:] != (len(ts), self.obs_dim):
            raise ValueError(
                f"xs must have shape (batch, {len(ts)}, {self.obs_dim}); got {tuple(xs.shape)}."
            )
        if mask is None:
            return torch.ones_like(xs)
        if mask.shape != xs.shape:
            raise ValueError(
                f"mask must have xs's shape {tuple(xs.shape)}; got {tuple(mask.shape)}."
            )
        return mask.to(xs.dtype)

    def encode(
        self, ts: torch.Tensor, xs: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of ``z0``, each ``(B, latent_dim)``."""
        mask = self._check(ts, xs, mask)
        mu, logvar = self.encoder(ts, xs, mask).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z0: torch.Tensor, ts: torch.Tensor, t0: float | None = None) -> torch.Tensor:
        """Means of the observations at ``ts``: ``(B, T, obs_dim)``; ``z0`` lives at ``t0``
        (default ``ts[0]``)."""
        start = ts[:1] if t0 is None else torch.tensor([t0], dtype=ts.dtype)
        times = ts if t0 is None or float(t0) == float(ts[0]) else torch.cat([start, ts])
        zs = self.ode(z0, times) if len(times) > 1 else z0[None]
        zs = zs[-len(ts) :]
        return self.decoder(zs).transpose(0, 1)

    def elbo(
        self,
        ts: torch.Tensor,
        xs: torch.Tensor,
        mask: torch.Tensor | None = None,
        n_samples: int = 1,
        kl_weight: float = 1.0,
    ) -> dict[str, torch.Tensor]:
        """Monte-Carlo ELBO per sequence, averaged over the batch.

        Returns ``{"elbo", "log_likelihood", "kl"}`` (scalars); maximise ``elbo`` (its
        KL term weighted by ``kl_weight``).
        """
        mask = self._check(ts, xs, mask)
        mu, logvar = self.encode(ts, xs, mask)
        std = torch.exp(0.5 * logvar)
        log_lik = xs.new_zeros(())
        for _ in range(check_positive_int("n_samples", n_samples)):
            z0 = mu + std * torch.randn_like(std)
            pred = self.decode(z0, ts)
            log_lik = log_lik + self.gaussian_log_likelihood(xs, pred, mask).mean()
        log_lik = log_lik / n_samples
        kl = gaussian_kl(mu, logvar).mean()
        return {"elbo": log_lik - kl_weight * kl, "log_likelihood": log_lik, "kl": kl}

    def gaussian_log_likelihood(
        self, xs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """``sum`` over observed entries of ``log N(x; pred, obs_std^2)``: ``(B,)``."""
        var = self.obs_std**2
        ll = -0.5 * ((xs - pred) ** 2 / var + math.log(2 * math.pi * var))
        return (ll * mask).flatten(1).sum(1)

    def forward(
        self,
        ts: torch.Tensor,
        xs: torch.Tensor,
        mask: torch.Tensor | None = None,
        ts_pred: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predictions ``(B, len(ts_pred), obs_dim)`` from the posterior mean of ``z0``
        (``ts_pred`` defaults to ``ts``; ``z0`` lives at ``ts[0]``)."""
        mu, _ = self.encode(ts, xs, mask)
        return self.decode(mu, ts if ts_pred is None else ts_pred, t0=float(ts[0]))


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per sample: ``(B, d) -> (B,)``."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
