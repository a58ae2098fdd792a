"""The identity at the heart of odenet: a ResNet with scale 1/L and per-block weights equals
odeint of the piecewise-constant depth-varying field with Euler and step 1/L."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from odenet import odeint
from odenet.models import ConvResNet, MLPResNet
from odenet.nn import DepthVaryingConvField, DepthVaryingMLPField

TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


def copy_branches_into(field: nn.Module, branches: list[nn.Module]) -> None:
    """Coefficient k of each depth-varying layer <- weights of block k's branch."""
    with torch.no_grad():
        for k, branch in enumerate(branches):
            layers = [m for m in branch.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
            for dv, layer in zip(field.layers, layers, strict=True):
                dv.weight[k].copy_(layer.weight)
                dv.bias[k].copy_(layer.bias)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("depth", [3, 7])
@pytest.mark.parametrize("preactivation", [False, True])
def test_mlp_resnet_is_euler(dtype: torch.dtype, depth: int, preactivation: bool) -> None:
    torch.manual_seed(depth)
    net = MLPResNet(
        4,
        2,
        width=6,
        depth=depth,
        hidden=5,
        num_hidden_layers=2,
        activation="tanh",
        scale="1/L",
        preactivation=preactivation,
    ).to(dtype)
    field = DepthVaryingMLPField(
        6,
        hidden=5,
        num_hidden_layers=2,
        n_basis=depth,
        activation="tanh",
        preactivation=preactivation,
    ).to(dtype)
    copy_branches_into(field, [b.branch for b in net.blocks])
    h = net.stem(torch.randn(11, 4, dtype=dtype))
    resnet_out = net.blocks(h)
    t = torch.tensor([0.0, 1.0], dtype=dtype)
    ode_out = odeint(field, h, t, method="euler", step_size=1.0 / depth)[-1]
    assert torch.allclose(ode_out, resnet_out, rtol=0, atol=TOLERANCE[dtype])
    # and it is not trivially so: another step count gives a different answer
    other = odeint(field, h, t, method="euler", step_size=1.0 / (2 * depth))[-1]
    assert (other - resnet_out).abs().max() > 100 * TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("preactivation", [False, True])
def test_conv_resnet_stages_are_euler(dtype: torch.dtype, preactivation: bool) -> None:
    torch.manual_seed(0)
    net = ConvResNet(
        2,
        3,
        channels=(4, 6),
        blocks_per_stage=(3, 5),
        norm="none",
        scale="1/L",
        preactivation=preactivation,
    ).to(dtype)
    x = net.stem(torch.randn(2, 2, 8, 8, dtype=dtype))
    t = torch.tensor([0.0, 1.0], dtype=dtype)
    for i, stage in enumerate(net.stages):
        if i > 0:
            x = net.downsamples[i - 1](x)
        field = DepthVaryingConvField(
            x.shape[1], n_basis=len(stage), preactivation=preactivation
        ).to(dtype)
        copy_branches_into(field, [b.branch for b in stage])
        ode_out = odeint(field, x, t, method="euler", step_size=1.0 / len(stage))[-1]
        x = stage(x)
        assert torch.allclose(ode_out, x, rtol=0, atol=TOLERANCE[dtype])
