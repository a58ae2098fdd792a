"""Models name a wrong input (issue 15, section 4): expected and received shape or dtype,
and the constructor argument to change."""

from __future__ import annotations

import pytest
import torch

from odenet.models import CNF, ConvResNet, LatentODE, MLPResNet, ODENet


@pytest.mark.parametrize(
    ("model", "x", "exc", "pattern"),
    [
        (
            MLPResNet(10, 3),
            torch.randn(2, 12),
            ValueError,
            r"MLPResNet\(in_features=10\).*got shape \(2, 12\).*in_features=12",
        ),
        (
            MLPResNet(64, 3),
            torch.randn(2, 1, 4, 4),
            ValueError,
            r"in_features=64 after flattening; got shape \(2, 1, 4, 4\), i.e. 16",
        ),
        (
            ConvResNet(3, 10, channels=(4,), blocks_per_stage=(1,)),
            torch.randn(2, 1, 8, 8),
            ValueError,
            r"ConvResNet\(in_channels=3\).*Build it with in_channels=1",
        ),
        (
            ODENet(1, 10, channels=8, method="euler", step_size=0.5),
            torch.randn(2, 8, 8),
            ValueError,
            r"ODENet\(in_channels=1\).*\(4 dimensions\); got shape \(2, 8, 8\)",
        ),
        (
            MLPResNet(4, 2),
            torch.randn(2, 4, dtype=torch.float64),
            TypeError,
            r"MLPResNet\(in_features=4\) has torch.float32 parameters but x is torch.float64",
        ),
    ],
)
def test_model_input_errors(model: torch.nn.Module, x: torch.Tensor, exc: type, pattern: str):
    with pytest.raises(exc, match=pattern):
        model.eval()(x)


def test_flattened_images_still_work() -> None:
    """(batch, 1, 4, 4) images into in_features=16: accepted and equal to flattening first."""
    model = MLPResNet(16, 3).eval()
    x = torch.randn(2, 1, 4, 4)
    assert torch.equal(model(x), model(x.flatten(1)))


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: LatentODE(2, obs_std=float("inf")), "obs_std must be > 0 and finite"),
        (lambda: CNF(2, t1=float("nan")), "t_span must hold finite"),
    ],
)
def test_models_refuse_non_finite_float_arguments(build, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        build()
