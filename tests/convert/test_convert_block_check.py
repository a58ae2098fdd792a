"""Guards on blocks matched by structure: unexpected children (a squeeze-excite block) and
the automatic probe ``block(x) == x + residual(x)``; the no-block / already-converted
messages."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from odenet.convert import (
    UnexpectedBlockError,
    UnrecognisedModelError,
    register_block,
    resnet_to_ode,
    unregister_block,
)
from odenet.convert.block_check import probe_error
from odenet.convert.builtin_blocks import BASIC_BLOCK_RULE, keeps_shape
from odenet.models import MLPResNet
from tests.convert.resnets_for_tests import (
    BasicBlock,
    SEBasicBlock,
    TinyTorchvisionResNet,
    randomise_batchnorm,
    relative_error,
)


def _se_resnet() -> nn.Module:
    torch.manual_seed(0)
    model = TinyTorchvisionResNet(SEBasicBlock, [3, 2], [4, 8])
    randomise_batchnorm(model, torch.Generator().manual_seed(1))
    return model.eval()


def test_se_block_is_refused_with_path_children_and_fix() -> None:
    model = _se_resnet()
    with pytest.raises(UnexpectedBlockError) as info:
        resnet_to_ode(model, probe_blocks=False)  # refused even without the probe
    msg = str(info.value)
    assert "'layer1.0' (SEBasicBlock)" in msg and "['se']" in msg
    assert "register_block(SEBasicBlock" in msg and "check_input" in msg
    assert isinstance(info.value, ValueError)


def test_se_block_converts_exactly_once_registered() -> None:
    model = _se_resnet()
    register_block(SEBasicBlock, lambda block, x: block(x) - x, convertible=keeps_shape)
    try:
        x = torch.randn(2, 3, 6, 6)
        converted = resnet_to_ode(model, check_input=x)
        assert relative_error(converted(x), model(x)) <= 1e-5
    finally:
        unregister_block(SEBasicBlock)


class LookAlike(BasicBlock):
    """BasicBlock's children exactly, but no final relu: ``x + g(x)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))


def test_probe_catches_a_lookalike_and_passes_the_real_block() -> None:
    torch.manual_seed(3)
    real, fake = BasicBlock(4, 4).eval(), LookAlike(4, 4).eval()
    # the probe measures block(x) - (x + r(x)): rounding for the real block, the clipped
    # negative part relu(y) - y for the lookalike
    assert probe_error(real, BASIC_BLOCK_RULE) <= 1e-6
    assert probe_error(fake, BASIC_BLOCK_RULE) > 1e-2
    with pytest.raises(UnexpectedBlockError, match=r"(?s)'1' \(LookAlike\).*register_block"):
        resnet_to_ode(nn.Sequential(nn.Identity(), fake, LookAlike(4, 4)).eval())


def test_already_converted_model_is_named_as_such() -> None:
    converted = resnet_to_ode(MLPResNet(3, 2, width=4, depth=3).eval())
    with pytest.raises(UnrecognisedModelError) as info:
        resnet_to_ode(converted)
    msg = str(info.value)
    assert "already converted" in msg and "ODEBlock" in msg and "'blocks.0'" in msg
    assert "register_block" not in msg and "is not a" not in msg


def test_no_block_message_says_what_was_looked_for() -> None:
    with pytest.raises(UnrecognisedModelError) as info:
        resnet_to_ode(nn.Sequential(nn.Linear(2, 3), nn.Tanh()).eval())
    msg = str(info.value)
    assert "found nothing to convert in Sequential" in msg and "BasicBlock" in msg
    assert "register_block(Sequential" in msg and "is not a" not in msg
