"""Continuous normalizing flow (FFJORD).

Grathwohl, Chen, Bettencourt, Sutskever, Duvenaud, "FFJORD: Free-form continuous dynamics
for scalable reversible generative models", ICLR 2019; Chen et al. 2018 (instantaneous
change of variables).

Base ``z(0) ~ N(0, I)`` flows along ``dz/dt = f(t, z)`` to data ``x = z(t1)``. The density
obeys ``d log p(z(t)) / dt = -tr(df/dz)``, so with ``Delta`` solving ``dDelta/dt = tr(df/dz)``
backwards from ``Delta(t1) = 0`` alongside ``z`` from ``z(t1) = x``:

    log p(x) = log N(z(0); 0, I) + Delta(0).

The trace is exact (``dim`` backward passes per evaluation; small dimensions) or the
Hutchinson estimate ``eps^T (df/dz) eps`` with one noise draw per solve (unbiased).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from odenet.nn._checks import check_choice, check_positive_int
from odenet.nn.mlp_field import MLPField
from odenet.nn.ode_block import ODEBlock
from odenet.nn.trace import exact_trace, hutchinson_trace, sample_noise


class CNFDynamics(nn.Module):
    """Augmented dynamics ``(z, Delta) -> (f(t, z), tr(df/dz))`` per sample.

    Shapes: ``z: (batch, dim)``, ``Delta: (batch,)``. ``eps`` (like ``z``) selects the
    Hutchinson estimate; ``eps=None`` the exact trace.
    """

    def __init__(self, field: nn.Module, eps: torch.Tensor | None, create_graph: bool) -> None:
        super().__init__()
        self.field = field
        self.eps = eps
        self.create_graph = create_graph

    def forward(
        self, t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        z = state[0]
        with torch.enable_grad():
            if not z.requires_grad:
                z = z.detach().requires_grad_(True)
            fz = self.field(t, z)
            if self.eps is None:
                tr = exact_trace(fz, z, self.create_graph)
            else:
                tr = hutchinson_trace(fz, z, self.eps, self.create_graph)
        if not self.create_graph:
            fz, tr = fz.detach(), tr.detach()
        return fz, tr


class CNF(nn.Module):
    """FFJORD continuous normalizing flow on ``R^dim`` with a standard normal base.

    Args:
        dim: data dimension.
        hidden, num_hidden_layers, activation: the default ``MLPField`` (time-conditioned).
        field: a custom field module ``f(t, z)`` instead of the MLP (e.g. a linear one).
        t1: flow time; data live at ``t1``, the base at 0.
        trace: ``"exact"`` or ``"hutchinson"``; noise: ``"rademacher"`` or ``"gaussian"``.
        method, rtol, atol, step_size, gradient: solver settings of the ``ODEBlock``
            ``self.ode`` (its ``nfe`` counts the last solve).

    Methods: ``log_prob(x) -> (batch,)``, ``sample(n) -> (n, dim)``,
    ``transform(z) -> x``; ``forward(x)`` is ``log_prob(x)``.
    """

    def __init__(
        self,
        dim: int = 2,
        hidden: int = 64,
        num_hidden_layers: int = 3,
        activation: str = "tanh",
        field: nn.Module | None = None,
        t1: float = 1.0,
        trace: str = "exact",
        noise: str = "rademacher",
        method: Any = "dopri5",
        rtol: float = 1e-5,
        atol: float = 1e-5,
        step_size: float | None = None,
        gradient: Any = None,
    ) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        self.trace = check_choice("trace", trace, ("exact", "hutchinson"))
        self.noise = check_choice("noise", noise, ("rademacher", "gaussian"))
        if field is None:
            field = MLPField(dim, hidden, num_hidden_layers, activation, time_conditioning=True)
        self.ode = ODEBlock(
            field, (0.0, float(t1)), method, rtol, atol, step_size, gradient=gradient
        )

    def _check(self, x: torch.Tensor, name: str) -> None:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{name} must have shape (batch, {self.dim}); got {tuple(x.shape)}.")

    def base_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """``log N(z; 0, I)`` per sample: ``(batch, dim) -> (batch,)``."""
        return -0.5 * (z.pow(2).sum(1) + self.dim * math.log(2 * math.pi))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` per sample (an unbiased estimate with ``trace="hutchinson"``)."""
        self._check(x, "x")
        eps = sample_noise(x, self.noise) if self.trace == "hutchinson" else None
        dynamics = CNFDynamics(self.ode.field, eps, create_graph=torch.is_grad_enabled())
        t = torch.tensor(self.ode.t_span[::-1], dtype=x.dtype, device=x.device)
        z, delta = self.ode.solve(dynamics, (x, x.new_zeros(x.shape[0])), t)
        return self.base_log_prob(z[-1]) + delta[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_prob(x)

    def transform(self, z: torch.Tensor) -> torch.Tensor:
        """Push base points forward: solve from ``z`` at 0 to ``t1``; ``(n, dim) -> (n, dim)``."""
        self._check(z, "z")
        return self.ode(z)

    def sample(self, n: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """``n`` samples ``(n, dim)``: base draws pushed forward to ``t1``."""
        check_positive_int("n", n)
        p = next(self.parameters(), None)
        dtype = dtype or (p.dtype if p is not None else torch.get_default_dtype())
        device = p.device if p is not None else None
        return self.transform(torch.randn(n, self.dim, dtype=dtype, device=device))
