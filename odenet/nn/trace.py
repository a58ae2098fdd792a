"""Divergence (Jacobian trace) of a vector field: exact and Hutchinson estimates.

Hutchinson (1989): for noise ``eps`` with ``E[eps] = 0`` and ``E[eps eps^T] = I``
(Rademacher or standard Gaussian), ``E[eps^T J eps] = tr(J)`` and
``E[||eps^T J||^2] = ||J||_F^2``. Used by FFJORD (Grathwohl et al. 2019) and by the
regularisers of Finlay et al. 2020.
"""

from __future__ import annotations

import torch

from odenet.nn._checks import check_choice


def exact_trace(fx: torch.Tensor, x: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """``tr(d fx / d x)`` per sample, with one backward pass per state dimension.

    Shapes: ``fx, x: (batch, dim) -> (batch,)``. ``fx`` must have been computed from ``x``
    (with ``x.requires_grad``) and sample ``i`` of ``fx`` may depend only on sample ``i``
    of ``x``.
    """
    if fx.ndim != 2 or fx.shape != x.shape:
        raise ValueError(
            f"exact_trace needs fx and x of equal shape (batch, dim); got {tuple(fx.shape)} "
            f"and {tuple(x.shape)}. Flatten the state first."
        )
    diag = []
    for i in range(x.shape[1]):
        (g,) = torch.autograd.grad(
            fx[:, i].sum(), x, retain_graph=True, create_graph=create_graph, allow_unused=True
        )
        diag.append(torch.zeros_like(x[:, i]) if g is None else g[:, i])
    return torch.stack(diag, dim=1).sum(dim=1)


def vjp(
    fx: torch.Tensor, x: torch.Tensor, eps: torch.Tensor, create_graph: bool = True
) -> torch.Tensor:
    """``eps^T J`` per sample (one backward pass; zeros if ``fx`` does not depend on ``x``)."""
    (g,) = torch.autograd.grad(
        fx, x, grad_outputs=eps, create_graph=create_graph, allow_unused=True
    )
    return torch.zeros_like(x) if g is None else g


def hutchinson_trace(
    fx: torch.Tensor, x: torch.Tensor, eps: torch.Tensor, create_graph: bool = True
) -> torch.Tensor:
    """Unbiased estimate ``eps^T J eps`` of ``tr(J)``: ``(batch, *state) -> (batch,)``."""
    return (vjp(fx, x, eps, create_graph) * eps).flatten(1).sum(dim=1)


def sample_noise(like: torch.Tensor, kind: str = "rademacher") -> torch.Tensor:
    """Noise of ``like``'s shape with zero mean and identity covariance."""
    check_choice("noise", kind, ("rademacher", "gaussian"))
    if kind == "gaussian":
        return torch.randn_like(like)
    return torch.randint_like(like, 0, 2) * 2 - 1
