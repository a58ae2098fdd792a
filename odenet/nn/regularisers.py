"""Kinetic-energy and Jacobian-Frobenius regularisers integrated alongside the state.

Finlay, Jacobsen, Nurbekyan, Oberman, "How to train your neural ODE: the world of Jacobian
and kinetic regularization", ICML 2020. For each sample the block integrates

    E_k = int_{t0}^{t1} ||f(t, x)||^2 dt,   E_J = int_{t0}^{t1} ||eps^T J_f(t, x)||^2 dt,

where ``eps`` (fixed during one solve) makes ``E_J`` an unbiased Hutchinson estimate of
``int ||J_f||_F^2 dt``. Both are returned with the final state, to be added to the loss.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from odenet.nn.ode_block import ODEBlock
from odenet.nn.trace import sample_noise, vjp


class RegularisedField(nn.Module):
    """Augmented dynamics on ``(x, E_k, E_J)``: ``(f, ||f||^2, ||eps^T J||^2)`` per sample.

    Shapes: ``x: (batch, *state)``; ``E_k, E_J: (batch,)``; ``eps`` like ``x``.
    """

    def __init__(self, field: nn.Module, eps: torch.Tensor | None, create_graph: bool) -> None:
        super().__init__()
        self.field = field
        self.eps = eps
        self.create_graph = create_graph

    def forward(self, t: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        x = state[0]
        if self.eps is None:
            fx = self.field(t, x)
            return fx, fx.pow(2).flatten(1).sum(1), torch.zeros_like(state[2])
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            fx = self.field(t, x)
            e_j = vjp(fx, x, self.eps, self.create_graph).pow(2).flatten(1).sum(1)
        return fx, fx.pow(2).flatten(1).sum(1), e_j


class RegularisedODEBlock(ODEBlock):
    """``ODEBlock`` whose forward returns ``(x(t1), {"kinetic": E_k, "jacobian": E_J})``.

    ``E_k, E_J`` have shape ``(batch,)``; weight them into the loss, e.g.
    ``loss + lam_k * E_k.mean() + lam_j * E_J.mean()``. With ``jacobian=False`` the
    Jacobian term is not computed (returned as zeros) and no noise is drawn. The last values
    are also kept in ``block.regularisation``. Other arguments as for ``ODEBlock``.
    """

    def __init__(
        self,
        field: nn.Module,
        *args: Any,
        jacobian: bool = True,
        noise: str = "gaussian",
        **kwargs: Any,
    ) -> None:
        super().__init__(field, *args, **kwargs)
        self.jacobian = bool(jacobian)
        self.noise = noise
        self.regularisation: dict[str, torch.Tensor] = {}

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, t: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if t is not None:
            raise ValueError("RegularisedODEBlock returns the final state only; got t. Use t=None.")
        eps = sample_noise(x, self.noise) if self.jacobian else None
        func = RegularisedField(self.field, eps, create_graph=torch.is_grad_enabled())
        zeros = x.new_zeros(x.shape[0])
        y, e_k, e_j = self.solve(func, (x, zeros, zeros.clone()), self._times(x))
        self.regularisation = {"kinetic": e_k[-1], "jacobian": e_j[-1]}
        return y[-1], self.regularisation
