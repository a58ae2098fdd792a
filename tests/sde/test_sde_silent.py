"""SDEBlock: integer times, non-finite t_span and a state of the wrong size or dtype are
named (issue 15, sections 3 and 4)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from odenet.nn import MLPField
from odenet.sde import SDEBlock


class LinearDrift(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.lin = nn.Linear(dim, dim)

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        return self.lin(y)


def _noise(t: Tensor, y: Tensor) -> Tensor:
    return 0.1 * torch.ones_like(y)


def test_integer_ts_is_a_type_error_with_the_fix() -> None:
    block = SDEBlock(LinearDrift(3), _noise, adjoint_params=None)
    with pytest.raises(TypeError, match=r"ts must be a floating-point.*torch.int64.*linspace"):
        block(torch.zeros(2, 3), torch.tensor([0, 1, 2]))


def test_float_ts_still_solves() -> None:
    """With zero drift and constant diffusion s, y(1) - y(0) = s W(1): a Gaussian whose
    sample variance over a large batch is s^2 (here within 4 standard errors)."""
    block = SDEBlock(lambda t, y: torch.zeros_like(y), _noise, method="euler", dt=0.05, seed=1)
    y = block(torch.zeros(4000, 1, dtype=torch.float64), torch.tensor([0.0, 1.0]))
    var = float(y[-1].var())
    assert abs(var - 0.01) < 4 * 0.01 * math.sqrt(2 / 4000)


@pytest.mark.parametrize("t_span", [(0.0, math.inf), (math.nan, 1.0)])
def test_non_finite_t_span_is_refused(t_span: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="t_span must hold finite times"):
        SDEBlock(LinearDrift(2), _noise, t_span=t_span)


def test_wrong_state_size_names_the_state_and_first_layer() -> None:
    block = SDEBlock(LinearDrift(3), _noise)
    with pytest.raises(
        ValueError, match=r"drift\(t, y\) failed.*shape \(2, 4\).*in_features=3.*dim=4"
    ):
        block(torch.zeros(2, 4))


def test_wrong_state_size_with_an_odenet_field_names_its_argument() -> None:
    block = SDEBlock(MLPField(3), _noise)
    with pytest.raises(ValueError, match=r"MLPField\(dim=3\).*Build it with dim=4"):
        block(torch.zeros(2, 4))


def test_wrong_state_dtype_is_a_type_error() -> None:
    block = SDEBlock(LinearDrift(3), _noise)
    with pytest.raises(TypeError, match=r"drift has torch\.float32 parameters but y0 is"):
        block(torch.zeros(2, 3, dtype=torch.float64))
