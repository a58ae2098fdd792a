"""resnet_to_ode with constant interpolation and Euler at L steps per stage reproduces the
original network (issue 7): MLP ResNet, conv ResNet, torchvision-shaped BasicBlock and
Bottleneck networks, random weights and BatchNorm statistics, eval mode, float32."""

from __future__ import annotations

import pytest
import torch

from odenet.convert import InterpolatedResidualField, ode_blocks, resnet_to_ode
from odenet.models import ConvResNet, MLPResNet
from tests.convert.resnets_for_tests import (
    BasicBlock,
    Bottleneck,
    TinyTorchvisionResNet,
    randomise_batchnorm,
    relative_error,
)

EXACT = 1e-5  # the bound, relative, float32


def _randomise_rezero(model: torch.nn.Module, g: torch.Generator) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("rezero"):
                p.copy_(torch.randn((), generator=g))


def _stage_lengths(model: torch.nn.Module) -> list[int]:
    return [b.field.num_blocks for _, b in ode_blocks(model)]


def _check_exact_and_not_trivial(model, converted, x) -> float:
    with torch.no_grad():
        want, got = model(x), converted(x)
        err = relative_error(got, want)
        assert err <= EXACT, err
        # the comparison can fail: with twice the steps the answer moves well beyond EXACT
        for _, block in ode_blocks(converted):
            block.step_size = block.step_size / 2
        other = relative_error(converted(x), want)
    assert other > 10 * EXACT, other
    return err


MLP_OPTIONS = [
    {"scale": "1/L"},
    {"scale": "1"},
    {"scale": "1/sqrt(L)", "preactivation": True},
    {"scale": "1/L", "rezero": True, "stochastic_depth": 0.5},
    {"scale": "1/L", "init": "smooth", "num_hidden_layers": 2, "activation": "tanh"},
]


@pytest.mark.parametrize("options", MLP_OPTIONS)
def test_mlp_resnet_exact(options: dict) -> None:
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    model = MLPResNet(6, 4, width=16, depth=7, **options).eval()
    _randomise_rezero(model, g)
    converted = resnet_to_ode(model, interpolation="constant")
    assert _stage_lengths(converted) == [7]
    _check_exact_and_not_trivial(model, converted, torch.randn(32, 6, generator=g))


@pytest.mark.parametrize(
    "options",
    [
        {"norm": "batch"},
        {"norm": "batch", "preactivation": True},
        {"norm": "group", "scale": "1/sqrt(L)", "init": "fixup", "rezero": True},
        {"norm": "none", "scale": "1", "stochastic_depth": 0.3},
    ],
)
def test_conv_resnet_exact(options: dict) -> None:
    g = torch.Generator().manual_seed(2)
    torch.manual_seed(2)
    model = ConvResNet(3, 5, channels=(4, 8), blocks_per_stage=(3, 4), **options)
    _randomise_rezero(model, g)
    with torch.no_grad():  # fixup zeroes the last layer of each branch: make it count
        for p in model.parameters():
            if p.abs().max() == 0:
                p.normal_(0.0, 0.3, generator=g)
    randomise_batchnorm(model, g)
    model.eval()
    converted = resnet_to_ode(model)
    assert _stage_lengths(converted) == [3, 4]
    _check_exact_and_not_trivial(model, converted, torch.randn(4, 3, 8, 8, generator=g))


@pytest.mark.parametrize(
    ("block", "layers", "planes", "stages"),
    [
        (BasicBlock, [3, 4], [4, 8], [3, 3]),  # layer2: downsample block + 3 converted
        (Bottleneck, [4, 3], [2, 4], [3, 2]),  # layer1.0 has a (1x1) downsample too
    ],
)
def test_torchvision_shaped_exact(block, layers, planes, stages) -> None:
    g = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    model = TinyTorchvisionResNet(block, layers, planes)
    randomise_batchnorm(model, g)
    model.eval()
    converted = resnet_to_ode(model)
    assert _stage_lengths(converted) == stages
    # downsampling blocks stay discrete and keep their class
    assert isinstance(converted.layer2[0], block)
    err = _check_exact_and_not_trivial(model, converted, torch.randn(3, 3, 8, 8, generator=g))
    print(f"{block.__name__}: relative error {err:.2e}")


@pytest.mark.parametrize("interpolation", ["linear", "cubic"])
def test_every_interpolation_passes_through_the_blocks(interpolation: str) -> None:
    """Euler at the nodes k/L sees the original blocks whatever the interpolation."""
    g = torch.Generator().manual_seed(4)
    torch.manual_seed(4)
    model = TinyTorchvisionResNet(BasicBlock, [4], [4])
    randomise_batchnorm(model, g)
    model.eval()
    converted = resnet_to_ode(model, interpolation=interpolation)
    field = converted.layer1[0].field
    assert isinstance(field, InterpolatedResidualField)
    assert field.interpolation == interpolation
    _check_exact_and_not_trivial(model, converted, torch.randn(2, 3, 6, 6, generator=g))


def test_float64_exact_and_original_untouched() -> None:
    torch.manual_seed(5)
    model = MLPResNet(3, 2, width=5, depth=9).double().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    converted = resnet_to_ode(model, interpolation="cubic")
    x = torch.randn(10, 3, dtype=torch.float64)
    assert relative_error(converted(x), model(x)) <= 1e-13
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(not isinstance(m, type(converted.blocks[0])) for m in model.modules())


def test_converted_parameters_are_trainable() -> None:
    """Gradients reach the stacked parameters (float64 gradcheck through linear
    interpolation at off-node times, rk4)."""
    torch.manual_seed(6)
    model = MLPResNet(2, 2, width=3, depth=3, activation="tanh").double().eval()
    converted = resnet_to_ode(model, interpolation="linear", method="rk4")
    block = converted.blocks[0]
    block.step_size = 0.4  # stage times 0, 0.2, 0.4, ... fall between the nodes k/3
    stack = block.field.stack
    weight = stack.param("branch.0.weight")
    x = torch.randn(4, 3, dtype=torch.float64)

    def f(w: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            weight.copy_(w)
        return block(x)

    # gradcheck needs the parameter as the input: use functional_call on the stack
    from torch.func import functional_call

    def g(w: torch.Tensor) -> torch.Tensor:
        return functional_call(block, {"field.stack.params.branch-0-weight": w}, (x,))

    w0 = weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(g, (w0,), eps=1e-6, atol=1e-6)
    assert f(w0.detach()).shape == (4, 3)
