"""refine/coarsen: refining a smooth 1/L ResNet converges to the ODE at Euler's first
order; coarsen undoes refine exactly; errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from odenet.convert import ResampleWarning, coarsen, ode_blocks, refine, resnet_to_ode
from odenet.models import MLPResNet


def _smooth_model() -> MLPResNet:
    torch.manual_seed(0)
    return (
        MLPResNet(3, 2, width=6, depth=8, init="smooth", activation="tanh", smooth_frequencies=1)
        .double()
        .eval()
    )


@pytest.mark.parametrize("interpolation", ["linear", "cubic"])
def test_refine_converges_at_first_order(interpolation: str) -> None:
    model = _smooth_model()
    x = torch.randn(16, 3, dtype=torch.float64)
    ode = resnet_to_ode(model, interpolation=interpolation, method="dopri5", rtol=1e-10, atol=1e-12)
    errors = []
    with torch.no_grad():
        h = model.stem(x)
        reference = ode.blocks(h)  # the ODE of the interpolated weights, solved tightly
        for factor in (2, 4, 8, 16):
            fine = refine(model, factor, interpolation=interpolation)
            assert len(fine.blocks) == 8 * factor
            errors.append(float((fine.blocks(h) - reference).abs().max()))
    slopes = [math.log2(a / b) for a, b in itertools.pairwise(errors)]
    assert all(0.8 < s < 1.2 for s in slopes), (errors, slopes)


def test_coarsen_undoes_refine_exactly() -> None:
    model = _smooth_model().float()
    back = coarsen(refine(model, 4), 4)
    sa, sb = model.state_dict(), back.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [b.scale for b in back.blocks] == pytest.approx([b.scale for b in model.blocks])


def test_coarsen_keeps_every_factor_th_block_with_the_step_scaled() -> None:
    model = _smooth_model()
    coarse = coarsen(model, 2)
    for j, block in enumerate(coarse.blocks):
        original = model.blocks[2 * j]
        assert block.scale == pytest.approx(2 * original.scale)
        for p, q in zip(block.parameters(), original.parameters(), strict=True):
            assert torch.equal(p, q)
    assert [b.field.num_blocks for _, b in ode_blocks(resnet_to_ode(coarse))] == [4]


def test_resample_errors() -> None:
    model = _smooth_model()
    with pytest.raises(ValueError, match="not divisible by factor=3"):
        coarsen(model, 3)
    with pytest.raises(ValueError, match="factor must be a positive int"):
        refine(model, 0)


def test_refine_post_activation_blocks_is_euler_of_the_interpolated_ode() -> None:
    """Blocks without a rescaling rule (torchvision-shaped) become ScaledResidual wrappers
    ``x + (1/factor) r(x)``: L * factor Euler steps of the linearly interpolated field."""
    from odenet.convert.unroll import ScaledResidual
    from tests.convert.resnets_for_tests import (
        BasicBlock,
        TinyTorchvisionResNet,
        randomise_batchnorm,
    )

    torch.manual_seed(1)
    model = TinyTorchvisionResNet(BasicBlock, [3], [4])
    randomise_batchnorm(model, torch.Generator().manual_seed(1))
    model.eval()
    with pytest.warns(ResampleWarning, match="layer1.0"):  # random BasicBlocks: not smooth
        fine = refine(model, 2)
    assert len(fine.layer1) == 6
    assert all(isinstance(b, ScaledResidual) and b.factor == 0.5 for b in fine.layer1)
    ode = resnet_to_ode(model, interpolation="linear")
    ode.layer1[0].step_size = 1 / 6
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        assert torch.allclose(fine(x), ode(x), rtol=0, atol=1e-5)
        assert (fine(x) - model(x)).abs().max() > 1e-4  # a different network
