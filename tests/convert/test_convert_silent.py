"""No silent results from the converters (issue 15, sections 3 and 4): weight-tied blocks,
miswired name-matched blocks, unprobed blocks, refine/coarsen changing the output, huge
refine factors and malformed report data."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

from odenet.convert import (
    ResampleWarning,
    SharedWeightsError,
    UncheckedBlockWarning,
    UnexpectedBlockError,
    coarsen,
    refine,
    report,
    resnet_to_ode,
)
from odenet.convert.block_check import probe_input
from odenet.models import MLPResNet, ResidualBlock
from tests.convert.resnets_for_tests import BasicBlock, relative_error


def _mlp_block(width: int = 3) -> ResidualBlock:
    return ResidualBlock(nn.Sequential(nn.Linear(width, width), nn.Tanh()), scale=0.25)


# --- weight sharing ---------------------------------------------------------------------


def test_a_block_used_twice_is_refused() -> None:
    """nn.Sequential(b, b, b) applies b three times; its named_children list b once, so a
    converter would silently drop two of them. Refused, naming both paths and the fix."""
    torch.manual_seed(0)
    b = _mlp_block()
    model = nn.Sequential(b, b, b).eval()
    with pytest.raises(SharedWeightsError, match=r"block '0' shares weights.*'1', '2'.*deepcopy"):
        resnet_to_ode(model)


def test_a_parameter_shared_between_blocks_is_refused() -> None:
    torch.manual_seed(0)
    blocks = [_mlp_block() for _ in range(3)]
    blocks[2].branch[0].weight = blocks[0].branch[0].weight  # tie one weight
    model = nn.Sequential(*blocks).eval()
    with pytest.raises(SharedWeightsError, match=r"parameter 'branch.0.weight'.*'2.branch.0"):
        resnet_to_ode(model)
    with pytest.raises(SharedWeightsError):  # refine converts first: refused as well
        refine(model, 2)


def test_untied_copies_convert_and_reproduce_the_model() -> None:
    """The fix the message gives works: deep copies convert, and Euler at L steps
    reproduces the original network."""
    torch.manual_seed(0)
    b = _mlp_block()
    model = nn.Sequential(b, copy.deepcopy(b), copy.deepcopy(b)).eval()
    shared_act = nn.Tanh().eval()  # a parameter-free module shared by blocks is fine
    for blk in model:
        blk.branch[1] = shared_act
    x = torch.randn(5, 3)
    assert relative_error(resnet_to_ode(model)(x), model(x)) < 1e-6


# --- name-matched blocks: wiring, and the risk of probe_blocks=False ----------------------


class MiswiredBlock(BasicBlock):
    """BasicBlock's attributes, but bn1 is built for other channels than conv1 gives."""

    def __init__(self) -> None:
        super().__init__(4, 4)
        self.conv1 = nn.Conv2d(4, 6, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(5)
        self.conv2 = nn.Conv2d(6, 4, 3, padding=1, bias=False)


def test_miswired_block_is_refused_even_without_the_probe() -> None:
    model = nn.Sequential(MiswiredBlock()).eval()
    with pytest.raises(
        UnexpectedBlockError, match=r"bn1 is built for 5 channels but conv1 gives 6"
    ):
        resnet_to_ode(model, probe_blocks=False)


class NoFinalRelu(BasicBlock):
    """Wired as its names say, but its forward drops the final relu."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))


def test_probe_blocks_false_warns_and_check_input_settles_it() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(NoFinalRelu(4, 4), NoFinalRelu(4, 4)).eval()
    with pytest.warns(UncheckedBlockWarning, match="forward was not run"):
        resnet_to_ode(model, probe_blocks=False)
    with pytest.raises(UnexpectedBlockError, match="differs from the BasicBlock-like residual"):
        resnet_to_ode(model)  # the probe (default) refuses it
    good = nn.Sequential(BasicBlock(4, 4), BasicBlock(4, 4)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning when check_input vouches for it
        resnet_to_ode(good, probe_blocks=False, check_input=torch.randn(2, 4, 5, 5))


# --- refine / coarsen report their change ------------------------------------------------


def _rough_net() -> nn.Module:
    """Independent weights per block and scale 1: far from a smooth ODE."""
    torch.manual_seed(0)
    return MLPResNet(6, 3, width=8, depth=4, scale="1").eval()


def test_refine_reports_the_stage_change_it_made_and_warns() -> None:
    model = _rough_net()
    with pytest.warns(ResampleWarning, match=r"refine\(factor=2\) changed the output of stage"):
        fine = refine(model, 2)
    rep = fine.resample_report
    assert rep.depths == {"blocks.0": (4, 8)}
    # the reported number is the actual change of the stage: original blocks against the
    # refined blocks on the same probe input
    x = probe_input(model.blocks[0])
    actual = relative_error(fine.blocks(x), model.blocks(x))
    assert rep.stage_deviation["blocks.0"] == pytest.approx(actual, rel=1e-4)
    assert rep.max_deviation > rep.tolerance


def test_refine_output_deviation_on_check_input() -> None:
    model = _rough_net()
    x = torch.randn(16, 6)
    with pytest.warns(ResampleWarning):
        fine = refine(model, 3, check_input=x)
    assert fine.resample_report.output_deviation == pytest.approx(
        relative_error(fine(x), model(x)), rel=1e-5
    )


def test_factor_one_changes_nothing_and_does_not_warn() -> None:
    model = _rough_net()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = refine(model, 1, check_input=torch.randn(4, 6))
    assert same.resample_report.max_deviation < 1e-6


def test_coarsen_reports_too() -> None:
    model = _rough_net()
    with pytest.warns(ResampleWarning, match=r"coarsen\(factor=2\)"):
        coarse = coarsen(model, 2)
    assert coarse.resample_report.depths == {"blocks.0": (4, 2)}


def test_huge_refine_factor_is_refused_at_once_with_the_memory_it_needs() -> None:
    model = MLPResNet(6, 3, width=8, depth=4).eval()
    # per block: Linear(8, 8) twice (2 * 72 values, float32) + 2 float64 scalars
    per_block = 2 * (8 * 8 + 8) * 4 + 2 * 8
    factor = 10**9
    with pytest.raises(ValueError, match=r"4000000000 blocks") as info:
        refine(model, factor)
    assert f"{per_block * 4 * factor} bytes" in str(info.value)
    assert "max_blocks=4096" in str(info.value)
    with pytest.raises(ValueError, match=r"more than max_bytes=1000"):
        refine(model, 2, max_bytes=1000)


# --- report with malformed data ----------------------------------------------------------


def _classifier() -> nn.Module:
    torch.manual_seed(0)
    return MLPResNet(4, 3, width=6, depth=2).eval()


@pytest.mark.parametrize(
    ("data", "exc", "pattern"),
    [
        (torch.randn(8, 4), TypeError, r"single tensor of shape \(8, 4\)"),
        (((torch.randn(2, 4), torch.tensor([0, 1])) for _ in range(2)), TypeError, "one-shot"),
        ([torch.randn(2, 4)], TypeError, r"batch 0 is a tensor of shape \(2, 4\)"),
        ((torch.randn(8, 4), [0] * 8), TypeError, "y of data is a list"),
        ((torch.randn(8, 4), torch.zeros(8, 1, dtype=torch.long)), ValueError, r"shape \(batch,\)"),
        ((torch.randn(8, 4), torch.full((8,), 3)), ValueError, r"in \[0, 3\).*\[3, 3\]"),
        ((torch.randn(8, 4), torch.randn(8)), ValueError, r"output shape \(8, 3\).*got \(8,\)"),
        ((torch.randn(8, 5), torch.zeros(8, dtype=torch.long)), ValueError, "in_features=5"),
        (42, TypeError, "got int"),
    ],
)
def test_report_names_malformed_data(data: object, exc: type, pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        report(_classifier(), data, show=False)


def test_report_accepts_a_list_of_batches() -> None:
    model = _classifier()
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    rep = report(model, [(x[:4], y[:4]), (x[4:], y[4:])], show=False)
    whole = report(model, (x, y), show=False)
    assert rep.original.accuracy == whole.original.accuracy
