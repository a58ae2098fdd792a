"""Recognition of blocks, the register_block registry, and the errors of resnet_to_ode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from odenet.convert import (
    StageShapeError,
    UncheckedBlockWarning,
    UnrecognisedModelError,
    find_rule,
    ode_blocks,
    register_block,
    resnet_to_ode,
    unregister_block,
)
from odenet.models import MLPResNet, ResidualBlock
from tests.convert.resnets_for_tests import BasicBlock, Bottleneck, relative_error


class GatedBlock(nn.Module):
    """``x + tanh(gate) * mlp(x)``: a user block type unknown to odenet."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, dim))
        self.gate = nn.Parameter(torch.randn(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.tanh(self.gate) * self.mlp(x)


def gated_net(depth: int = 5, dim: int = 4) -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, dim), *[GatedBlock(dim) for _ in range(depth)])


def test_unrecognised_model_names_module_and_registration() -> None:
    model = gated_net().eval()
    with pytest.raises(UnrecognisedModelError) as info:
        resnet_to_ode(model)
    msg = str(info.value)
    assert "'1' (GatedBlock)" in msg
    assert "register_block(GatedBlock" in msg


@pytest.mark.parametrize("residual", ["exact", "generic"])
def test_registered_block_converts_exactly(residual: str) -> None:
    fns = {
        "exact": lambda block, x: torch.tanh(block.gate) * block.mlp(x),
        "generic": lambda block, x: block(x) - x,
    }
    register_block(GatedBlock, fns[residual])
    try:
        torch.manual_seed(0)
        model = gated_net().eval()
        converted = resnet_to_ode(model)
        x = torch.randn(8, 3)
        assert relative_error(converted(x), model(x)) <= 1e-6
        # the gate is a depth-varying parameter: 5 gates stacked
        stack = ode_blocks(converted)[0][1].field.stack
        assert stack.param("gate").shape == (5,)
        assert stack.param("mlp.0.weight").shape == (5, 4, 4)
    finally:
        unregister_block(GatedBlock)
    assert find_rule(GatedBlock(2)) is None


def test_register_block_checks_arguments() -> None:
    with pytest.raises(TypeError, match=r"nn\.Module subclass"):
        register_block(int, lambda b, x: x)
    with pytest.raises(TypeError, match="residual_fn must be callable"):
        register_block(GatedBlock, "not a function")


def test_training_mode_is_refused() -> None:
    model = MLPResNet(3, 2, width=4, depth=3)
    with pytest.raises(ValueError, match=r"eval mode.*training mode"):
        resnet_to_ode(model)
    model.eval()
    model.blocks[1].train()
    with pytest.raises(ValueError, match=r"'blocks\.1' \(ResidualBlock\)"):
        resnet_to_ode(model)


def test_differing_shapes_in_a_stage_are_refused() -> None:
    def branch(hidden: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 4))

    model = nn.Sequential(
        ResidualBlock(branch(8)), ResidualBlock(branch(8)), ResidualBlock(branch(6))
    ).eval()
    with pytest.raises(StageShapeError) as info:
        resnet_to_ode(model)
    msg = str(info.value)
    assert "'2'" in msg and "'0'" in msg and "(6, 4)" in msg and "(8, 4)" in msg


def test_structural_matching_and_discrete_downsampling() -> None:
    down = nn.Sequential(nn.Conv2d(4, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8))
    assert find_rule(BasicBlock(4, 4)).name == "BasicBlock-like"
    assert find_rule(Bottleneck(8, 2)).name == "Bottleneck-like"
    rule = find_rule(BasicBlock(4, 8, 2, down))
    assert rule is not None and not rule.convertible(BasicBlock(4, 8, 2, down))
    assert find_rule(nn.Linear(2, 2)) is None


class LookAlike(BasicBlock):
    """Has BasicBlock's attributes but another forward (no final relu)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))


def test_check_input_catches_a_structural_false_match() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(LookAlike(4, 4), LookAlike(4, 4)).eval()
    x = torch.randn(2, 4, 5, 5)
    with pytest.warns(UncheckedBlockWarning, match=r"2 block\(s\) \('0', '1'\).*check_input"):
        resnet_to_ode(model, probe_blocks=False)  # converts (structure matches), warns ...
    with pytest.raises(ValueError, match=r"check_input.*register_block"):
        resnet_to_ode(model, check_input=x, probe_blocks=False)  # ... the check refuses it
    register_block(LookAlike, lambda b, x: b(x) - x)
    try:
        resnet_to_ode(model, check_input=x)
    finally:
        unregister_block(LookAlike)


def test_single_block_outside_a_sequential() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(3, 4)
            self.block = ResidualBlock(nn.Linear(4, 4), scale=0.5)
            self.items = nn.ModuleList([ResidualBlock(nn.Linear(4, 4)) for _ in range(2)])

        def forward(self, x):
            x = self.block(self.inp(x))
            for b in self.items:
                x = b(x)
            return x

    torch.manual_seed(2)
    model = Net().eval()
    converted = resnet_to_ode(model)
    assert [name for name, _ in ode_blocks(converted)] == ["block", "items.0", "items.1"]
    x = torch.randn(5, 3)
    assert relative_error(converted(x), model(x)) <= 1e-6


def test_bad_interpolation_is_refused() -> None:
    with pytest.raises(ValueError, match="interpolation must be one of"):
        resnet_to_ode(MLPResNet(2, 2, width=3, depth=2).eval(), interpolation="spline")
