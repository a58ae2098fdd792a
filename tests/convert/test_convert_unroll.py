"""ode_to_resnet: round trip restores the weights; unrolled RK steps equal the solver;
the unrolled model runs under torch.export; errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from odenet.convert import ode_to_resnet, resnet_to_ode
from odenet.models import MLPResNet, ResidualBlock
from odenet.nn import MLPField, ODEBlock
from tests.convert.resnets_for_tests import (
    BasicBlock,
    TinyTorchvisionResNet,
    randomise_batchnorm,
    relative_error,
)


def _same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_round_trip_mlp_restores_weights_exactly() -> None:
    torch.manual_seed(0)
    model = MLPResNet(4, 3, width=6, depth=5, rezero=True, stochastic_depth=0.4).eval()
    back = ode_to_resnet(resnet_to_ode(model, interpolation="constant"), steps=5)
    _same_state(model, back)
    assert [b.survival_prob for b in back.blocks] == [b.survival_prob for b in model.blocks]
    assert all(isinstance(b, ResidualBlock) for b in back.blocks)
    x = torch.randn(7, 4)
    assert torch.equal(back(x), model(x))


def test_round_trip_torchvision_shaped_restores_weights_exactly() -> None:
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    model = TinyTorchvisionResNet(BasicBlock, [3, 3], [4, 8])
    randomise_batchnorm(model, g)
    model.eval()
    ode = resnet_to_ode(model)
    back = ode_to_resnet(ode, steps={"layer1.0": 3, "layer2.1": 2})
    _same_state(model, back)
    assert all(type(b) is BasicBlock for b in back.layer1)
    x = torch.randn(2, 3, 8, 8, generator=g)
    assert torch.equal(back(x), model(x))


@pytest.mark.parametrize("method", ["midpoint", "heun", "rk4"])
@pytest.mark.parametrize("interpolation", ["linear", "cubic"])
def test_unrolled_runge_kutta_equals_the_solver(method: str, interpolation: str) -> None:
    torch.manual_seed(2)
    model = MLPResNet(3, 2, width=5, depth=6, init="smooth", activation="tanh").double().eval()
    ode = resnet_to_ode(model, interpolation=interpolation, method=method)
    ode.blocks[0].step_size = 1.0 / 4  # stage times fall between the nodes k/6
    unrolled = ode_to_resnet(ode, steps=4, method=method)
    x = torch.randn(9, 3, dtype=torch.float64)
    assert relative_error(unrolled(x), ode(x)) <= 1e-12
    assert not any(isinstance(m, ODEBlock) for m in unrolled.modules())


def test_unroll_of_a_general_field() -> None:
    torch.manual_seed(3)
    block = ODEBlock(MLPField(3, hidden=8), method="rk4", step_size=0.25).eval()
    model = nn.Sequential(nn.Linear(2, 3), block, nn.Linear(3, 1)).eval()
    unrolled = ode_to_resnet(model, steps=4, method="rk4")
    x = torch.randn(5, 2)
    assert relative_error(unrolled(x), model(x)) <= 1e-6
    assert sum(isinstance(m, MLPField) for m in unrolled.modules()) == 1  # shared by the steps


def test_converted_resnet_unrolls_and_exports() -> None:
    g = torch.Generator().manual_seed(4)
    torch.manual_seed(4)
    model = TinyTorchvisionResNet(BasicBlock, [2, 2], [4, 8])
    randomise_batchnorm(model, g)
    model.eval()
    unrolled = ode_to_resnet(resnet_to_ode(model, interpolation="linear"), steps=3, method="heun")
    x = torch.randn(2, 3, 8, 8, generator=g)
    exported = torch.export.export(unrolled, (x,))
    assert torch.allclose(exported.module()(x), unrolled(x), rtol=0, atol=1e-5)


def test_unroll_errors() -> None:
    model = nn.Sequential(ODEBlock(MLPField(2, hidden=3))).eval()
    with pytest.raises(ValueError, match="adaptive"):
        ode_to_resnet(model, steps=3, method="dopri5")
    with pytest.raises(ValueError, match="steps must be a positive int"):
        ode_to_resnet(model, steps=0)
    with pytest.raises(ValueError, match="no entry for the ODE block '0'"):
        ode_to_resnet(model, steps={"other": 2})
    with pytest.raises(ValueError, match="found no ODEBlock"):
        ode_to_resnet(nn.Linear(2, 2), steps=2)
