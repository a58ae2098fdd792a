"""Fields and blocks name the problem with a wrong input (issue 15, section 4): the
expected and received shape or dtype and the constructor argument to change, at the first
call and at any later call that fails, instead of ``mat1 and mat2 shapes cannot be
multiplied``; and float arguments that are not finite are refused at construction."""

from __future__ import annotations

import math

import pytest
import torch

from odenet.nn import (
    Augment,
    ConvField,
    DepthVaryingConvField,
    DepthVaryingMLPField,
    MLPField,
    ODEBlock,
)

T0 = torch.tensor(0.0)


@pytest.mark.parametrize(
    ("field", "x", "pattern"),
    [
        (MLPField(3), torch.randn(4, 5), r"MLPField\(dim=3\).*got shape \(4, 5\).*with dim=5"),
        (
            DepthVaryingMLPField(3),
            torch.randn(2, 4),
            r"DepthVaryingMLPField\(dim=3\).*got shape \(2, 4\).*with dim=4",
        ),
        (
            ConvField(4),
            torch.randn(2, 3, 8, 8),
            r"ConvField\(channels=4\).*\(batch, channels, H, W\).*channels=3",
        ),
        (
            DepthVaryingConvField(3),
            torch.randn(2, 4, 5, 5),
            r"DepthVaryingConvField\(channels=3\).*channels=4",
        ),
        (ConvField(4), torch.randn(4, 8, 8), r"\(4 dimensions\); got shape \(4, 8, 8\)"),
    ],
)
def test_wrong_feature_size_or_rank_names_expected_received_and_argument(
    field: torch.nn.Module, x: torch.Tensor, pattern: str
) -> None:
    with pytest.raises(ValueError, match=pattern):
        field(T0, x)


def test_wrong_dtype_and_integer_input_are_type_errors() -> None:
    with pytest.raises(TypeError, match=r"float32 parameters but x is torch.float64.*\.to\("):
        MLPField(3)(T0, torch.randn(2, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"floating-point x; got dtype torch\.int64"):
        ConvField(2, norm="none")(T0, torch.zeros(1, 2, 4, 4, dtype=torch.long))


def test_a_later_call_with_a_wrong_input_is_named_too() -> None:
    """After a good first call the check is skipped (a flag), but a call that fails is
    re-checked, so the error still names the problem."""
    field = MLPField(3)
    x = torch.randn(2, 3)
    assert torch.equal(field(T0, x), field(T0, x))  # checked once, same function
    with pytest.raises(ValueError, match=r"MLPField\(dim=3\).*got shape \(2, 7\)"):
        field(T0, torch.randn(2, 7))


def test_ode_block_forward_names_the_field_argument() -> None:
    block = ODEBlock(MLPField(3), method="rk4", step_size=0.5)
    with pytest.raises(ValueError, match=r"MLPField\(dim=3\).*Build it with dim=4"):
        block(torch.randn(5, 4))
    with pytest.raises(TypeError, match=r"float32 parameters but x is torch\.float64"):
        block(torch.randn(5, 3, dtype=torch.float64))


def test_augment_along_a_missing_dimension() -> None:
    with pytest.raises(ValueError, match=r"Augment\(augment_dim=2, dim=2\).*shape \(2, 4\)"):
        Augment(2, dim=2)(torch.randn(2, 4))


def test_correct_inputs_still_compute_the_same_function() -> None:
    """The decorator changes nothing on valid input: MLPField equals its layers by hand."""
    field = MLPField(2, hidden=4, num_hidden_layers=1, time_conditioning=False)
    x = torch.randn(3, 2)
    by_hand = field.layers[1](torch.tanh(field.layers[0](x)))
    assert torch.equal(field(T0, x), by_hand)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"t_span": (0.0, math.nan)},
        {"t_span": (math.inf, 0.0)},
        {"method": "rk4", "step_size": math.inf},
        {"method": "rk4", "step_size": math.nan},
    ],
)
def test_ode_block_refuses_non_finite_floats(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=r"finite|positive number"):
        ODEBlock(MLPField(2), **kwargs)


def test_depth_varying_field_refuses_non_finite_t_span() -> None:
    with pytest.raises(ValueError, match="t1 must be finite; got t1=nan"):
        DepthVaryingMLPField(2, t_span=(0.0, math.nan))
