"""ODENet (Chen et al. 2018): shapes, solver settings, NFE, gradients, state_dict."""

from __future__ import annotations

import pytest
import torch

from odenet import solve
from odenet.models import ODENet


@pytest.mark.parametrize("downsample", [0, 1, 2])
def test_shapes_nfe_and_gradients(downsample: int) -> None:
    torch.manual_seed(0)
    model = ODENet(1, 10, channels=8, downsample=downsample, method="rk4", step_size=0.25)
    out = model(torch.randn(3, 1, 8, 8))
    assert out.shape == (3, 10)
    assert model.ode.nfe_forward == 16
    out.logsumexp(1).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_adaptive_and_state_dict_roundtrip() -> None:
    torch.manual_seed(0)
    a = ODENet(3, 4, channels=8, method="dopri5", rtol=1e-4, atol=1e-4)
    b = ODENet(3, 4, channels=8, method="dopri5", rtol=1e-4, atol=1e-4)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 6, 6)
    assert torch.equal(a.eval()(x), b.eval()(x))
    # the block's count agrees with the solver's own statistics for the same solve
    h = a.stem(x)
    a.ode(h)
    t = torch.tensor([0.0, 1.0])
    stats = solve(a.ode.field, h, t, method="dopri5", rtol=1e-4, atol=1e-4).stats
    assert a.ode.nfe_forward == stats.nfe > 6


def test_odeblock_changes_features() -> None:
    """The ODE block is not the identity at init (the time-conditioned field is non-zero)."""
    torch.manual_seed(0)
    model = ODENet(1, 10, channels=8, method="rk4", step_size=0.5)
    h = model.stem(torch.randn(2, 1, 8, 8))
    assert (model.ode(h) - h).abs().max() > 1e-3
