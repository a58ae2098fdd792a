"""ResNet family: scales, stochastic depth, ReZero, initialisations, shapes, gradients."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from odenet.models import ConvResNet, MLPResNet, ResidualBlock
from odenet.models.branch_scale import branch_scale
from odenet.models.resnet_init import smooth_basis

SCALE_CASES = [("1", 1.0), ("1/L", 0.25), ("1/sqrt(L)", 0.5), (0.3, 0.3)]


@pytest.mark.parametrize(("name", "expected"), SCALE_CASES)
def test_branch_scale(name: str | float, expected: float) -> None:
    assert branch_scale(name, 4) == expected
    net = MLPResNet(3, 2, width=4, depth=4, scale=name)
    assert all(b.scale == expected for b in net.blocks)


def test_bad_scale_names_argument() -> None:
    with pytest.raises(ValueError, match="scale"):
        branch_scale("1/L^2", 4)


def test_stochastic_depth_eval_is_deterministic_and_scaled() -> None:
    torch.manual_seed(0)
    branch = nn.Linear(5, 5)
    block = ResidualBlock(branch, scale=0.5, survival_prob=0.7).eval()
    x = torch.randn(8, 5)
    y1, y2 = block(x), block(x)
    assert torch.equal(y1, y2)
    assert torch.allclose(y1, x + 0.5 * 0.7 * branch(x), atol=1e-7)


def test_stochastic_depth_training_mean_matches_eval() -> None:
    """In training each sample keeps its branch with probability p: the MC mean of the
    output over many draws equals the eval output within 4 standard errors."""
    torch.manual_seed(0)
    branch = nn.Linear(3, 3)
    block = ResidualBlock(branch, scale=1.0, survival_prob=0.6)
    x = torch.randn(1, 3).expand(20000, 3)
    with torch.no_grad():
        out = block.train()(x)
        fx = branch(x[:1])
        kept = ((out - x[:1]).abs().sum(1) > 0).double()
        assert abs(kept.mean().item() - 0.6) < 4 * math.sqrt(0.6 * 0.4 / 20000)
        mean, se = out.mean(0), out.std(0) / math.sqrt(20000)
        assert torch.all((mean - block.eval()(x[:1])[0]).abs() < 4 * se + 1e-7)
        assert torch.allclose(block(x[:1]), x[:1] + 0.6 * fx)


def test_survival_probs_decay_linearly() -> None:
    net = MLPResNet(3, 2, width=4, depth=4, stochastic_depth=0.5)
    assert [b.survival_prob for b in net.blocks] == [0.875, 0.75, 0.625, 0.5]


def test_rezero_starts_as_identity_and_learns() -> None:
    torch.manual_seed(0)
    net = MLPResNet(3, 2, width=4, depth=3, rezero=True)
    h = torch.randn(5, 4)
    assert torch.equal(net.blocks(h), h)
    net(torch.randn(5, 3)).sum().backward()
    assert all(b.rezero.grad is not None and b.rezero.grad != 0 for b in net.blocks)


def test_fixup_blocks_start_as_identity_head_zero() -> None:
    torch.manual_seed(0)
    net = MLPResNet(3, 2, width=4, depth=9, init="fixup")
    h = torch.randn(5, 4)
    assert torch.equal(net.blocks(h), h)
    assert torch.equal(net(torch.randn(5, 3)), torch.zeros(5, 2))
    # the first branch layer is rescaled by L^(-1/(2m-2)) = 9^(-1/2) for m = 2 layers
    ref = MLPResNet(3, 2, width=4, depth=9, init="iid")
    std_ratio = net.blocks[0].branch[0].weight.std() / ref.blocks[0].branch[0].weight.std()
    assert 0.2 < std_ratio.item() < 0.5


def test_smooth_init_is_smooth_and_keeps_variance() -> None:
    torch.manual_seed(0)
    for t in (0.0, 0.3, 0.9):
        assert sum(c * c for c in smooth_basis(t, 3)) == pytest.approx(1.0)
    depth, width = 64, 32
    smooth = MLPResNet(3, 2, width=width, depth=depth, init="smooth")
    iid = MLPResNet(3, 2, width=width, depth=depth, init="iid")

    def weights(net: MLPResNet) -> torch.Tensor:
        return torch.stack([b.branch[0].weight for b in net.blocks])

    ws, wi = weights(smooth), weights(iid)
    # consecutive blocks differ by O(1/L) for smooth, O(1) for iid
    jump_s = (ws[1:] - ws[:-1]).std() / ws.std()
    jump_i = (wi[1:] - wi[:-1]).std() / wi.std()
    assert jump_s < 0.2 < 1.0 < jump_i
    # entry variance of the iid init (uniform on +-1/sqrt(width): var 1/(3 width)) is kept
    # on average over depth, within the spread of 4 anchor draws
    assert 0.4 < (ws.var() * 3 * width).item() < 2.5


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"preactivation": True}, {"rezero": True}, {"init": "smooth"}, {"stochastic_depth": 0.3}],
)
def test_mlp_resnet_shapes_dtypes_and_gradients(kwargs: dict) -> None:
    torch.manual_seed(0)
    net = MLPResNet(5, 3, width=8, depth=3, **kwargs).double()
    if kwargs.get("rezero"):
        for b in net.blocks:  # move away from 0 so gradients reach the branches
            b.rezero.data.fill_(0.5)
    out = net(torch.randn(7, 5, dtype=torch.float64))
    assert out.shape == (7, 3) and out.dtype == torch.float64
    net.eval()
    net(torch.randn(7, 5, dtype=torch.float64)).pow(2).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
@pytest.mark.parametrize("preactivation", [False, True])
def test_conv_resnet_shapes_and_gradients(norm: str, preactivation: bool) -> None:
    torch.manual_seed(0)
    net = ConvResNet(
        3, 5, channels=(4, 8, 8), blocks_per_stage=(1, 2, 1), norm=norm, preactivation=preactivation
    )
    out = net(torch.randn(2, 3, 8, 8))
    assert out.shape == (2, 5)
    out.pow(2).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_conv_resnet_fixup_and_errors() -> None:
    net = ConvResNet(1, 4, channels=(4,), blocks_per_stage=(3,), norm="none", init="fixup")
    x = torch.randn(2, 4, 6, 6)
    assert torch.equal(net.stages[0](x), x)
    with pytest.raises(ValueError, match="blocks_per_stage"):
        ConvResNet(1, 4, channels=(4, 8), blocks_per_stage=(3,))
    with pytest.raises(ValueError, match="init"):
        MLPResNet(3, 2, init="orthogonal")
    with pytest.raises(ValueError, match="survival_prob"):
        ResidualBlock(nn.Identity(), survival_prob=0.0)
