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
from odenet.nn.trace import exact_trace, sample_noise, vjp


class CNFDynamics(nn.Module):
    """Augmented dynamics ``(z, Delta[, E_k, E_J]) -> (f, tr(df/dz)[, ||f||^2, ||eps^T J||^2])``.

    Shapes: ``z: (batch, dim)``, the other states ``(batch,)``. ``eps`` (like ``z``) selects
    the Hutchinson trace; ``eps=None`` the exact trace. With ``regularise`` the state also
    carries the kinetic energy and the Jacobian Frobenius estimate of Finlay et al. 2020
    (``jacobian_eps`` is the probe of the latter; with the Hutchinson trace it is ``eps``
    and costs no extra backward pass).
    """

    def __init__(
        self,
        field: nn.Module,
        eps: torch.Tensor | None,
        create_graph: bool,
        jacobian_eps: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.field = field
        self.eps = eps
        self.create_graph = create_graph
        self.jacobian_eps = jacobian_eps

    def forward(self, t: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        z = state[0]
        regularise = len(state) == 4
        with torch.enable_grad():
            if not z.requires_grad:
                z = z.detach().requires_grad_(True)
            fz = self.field(t, z)
            if self.eps is None:
                tr = exact_trace(fz, z, self.create_graph)
            else:
                g = vjp(fz, z, self.eps, self.create_graph)
                tr = (g * self.eps).sum(1)
            out = [fz, tr]
            if regularise:
                if self.eps is None:
                    g = vjp(fz, z, self.jacobian_eps, self.create_graph)
                out += [fz.pow(2).sum(1), g.pow(2).sum(1)]
        if not self.create_graph:
            out = [o.detach() for o in out]
        return tuple(out)


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

    Methods: ``log_prob(x) -> (batch,)``, ``log_prob_and_regularisation(x)`` (adds the
    kinetic and Jacobian regularisers of Finlay et al. 2020), ``sample(n) -> (n, dim)``,
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
        return self._solve(x, regularise=False)[0]

    def log_prob_and_regularisation(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``log p(x)`` and the regularisers of Finlay et al. 2020 (RNODE), all ``(batch,)``:
        ``kinetic = int_0^t1 ||f||^2 dt`` and ``jacobian``, an unbiased estimate of
        ``int_0^t1 ||df/dz||_F^2 dt``, integrated alongside the density."""
        return self._solve(x, regularise=True)

    def _solve(
        self, x: torch.Tensor, regularise: bool
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        self._check(x, "x")
        eps = sample_noise(x, self.noise) if self.trace == "hutchinson" else None
        jac_eps = None
        if regularise and eps is None:
            jac_eps = sample_noise(x, self.noise)
        dynamics = CNFDynamics(self.ode.field, eps, torch.is_grad_enabled(), jac_eps)
        t = torch.tensor(self.ode.t_span[::-1], dtype=x.dtype, device=x.device)
        zeros = x.new_zeros(x.shape[0])
        y0 = (x, zeros, zeros, zeros) if regularise else (x, zeros)
        final = [s[-1] for s in self.ode.solve(dynamics, y0, t)]
        log_p = self.base_log_prob(final[0]) + final[1]
        # solved from t1 down to 0, so the integrals of positive rates come out negative
        regs = {"kinetic": -final[2], "jacobian": -final[3]} if regularise else {}
        return log_p, regs

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
