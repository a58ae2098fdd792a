"""Interpolation along depth: nodes reproduced, linear exact on lines, cubic (Catmull--Rom)
exact on quadratics between interior nodes, weights forming a partition of unity."""

from __future__ import annotations

import pytest
import torch

from odenet.convert.interpolation import interpolate, interpolation_weights

L = 8


def _nodes(fn) -> torch.Tensor:
    return torch.tensor([[fn(k / L)] for k in range(L)], dtype=torch.float64)


def _at(stacked: torch.Tensor, s: float, kind: str) -> float:
    return float(interpolate(stacked, interpolation_weights(s, L, kind))[0])


@pytest.mark.parametrize("kind", ["constant", "linear", "cubic"])
def test_nodes_and_partition_of_unity(kind: str) -> None:
    stacked = torch.randn(L, 1, dtype=torch.float64)
    for k in range(L):
        for s in (k / L, k / L - 1e-9, k / L + 1e-9):  # rounding near a node snaps to it
            assert interpolation_weights(s, L, kind) == [(k, 1.0)]
        assert _at(stacked, k / L, kind) == float(stacked[k, 0])
    for s in torch.rand(50, dtype=torch.float64).tolist():
        total = sum(w for _, w in interpolation_weights(s, L, kind))
        assert abs(total - 1.0) < 1e-12


def test_constant_holds_the_piece() -> None:
    stacked = torch.arange(L, dtype=torch.float64)[:, None]
    for s in torch.rand(50, dtype=torch.float64).tolist():
        assert _at(stacked, s, "constant") == min(int(s * L), L - 1)


@pytest.mark.parametrize("kind", ["linear", "cubic"])
def test_linear_functions_exact(kind: str) -> None:
    stacked = _nodes(lambda s: 2.0 - 3.0 * s)
    for s in torch.linspace(0, (L - 1) / L, 37, dtype=torch.float64).tolist():
        assert abs(_at(stacked, s, kind) - (2.0 - 3.0 * s)) < 1e-12


def test_cubic_exact_on_quadratics_inside_and_beats_linear() -> None:
    quad = lambda s: 1.0 + s - 4.0 * s * s  # noqa: E731
    stacked = _nodes(quad)
    errs = {"linear": 0.0, "cubic": 0.0}
    for s in torch.linspace(1 / L, (L - 2) / L, 41, dtype=torch.float64).tolist():
        for kind in errs:
            errs[kind] = max(errs[kind], abs(_at(stacked, s, kind) - quad(s)))
    assert errs["cubic"] < 1e-12
    assert errs["linear"] > 1e-3  # = 4 * (1/(2L))^2 at mid-pieces


def test_hold_after_last_node_and_clamp() -> None:
    stacked = torch.randn(L, 1, dtype=torch.float64)
    for kind in ("constant", "linear", "cubic"):
        assert _at(stacked, 1.0, kind) == float(stacked[-1, 0])
        assert _at(stacked, -0.5, kind) == float(stacked[0, 0])


def test_batchnorm_statistics_interpolate_like_weights() -> None:
    """Between nodes k/L and (k+1)/L, linear interpolation averages weights, BN affine
    parameters and running statistics alike; integer buffers come from a node."""
    from odenet.convert import resnet_to_ode
    from odenet.models import ConvResNet
    from tests.convert.resnets_for_tests import randomise_batchnorm

    torch.manual_seed(0)
    model = ConvResNet(2, 3, channels=(4,), blocks_per_stage=(5,), norm="batch")
    randomise_batchnorm(model, torch.Generator().manual_seed(0))
    model.eval()
    field = resnet_to_ode(model, interpolation="linear").stages[0][0].field
    blocks = list(model.stages[0])
    k = 2
    tensors, scalars = field.tensors_at((k + 0.5) / 5)
    for name in (
        "branch.0.weight",
        "branch.1.weight",
        "branch.1.running_mean",
        "branch.4.running_var",
    ):
        a = blocks[k].state_dict()[name]
        b = blocks[k + 1].state_dict()[name]
        assert torch.allclose(tensors[name], (a + b) / 2, rtol=0, atol=1e-6), name
    assert tensors["branch.1.num_batches_tracked"].dtype == torch.int64
    assert float(scalars["scale"]) == pytest.approx(1 / 5)
