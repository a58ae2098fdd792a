"""MLP/conv fields with time conditioning, and augmentation (Dupont et al. 2019)."""

from __future__ import annotations

import pytest
import torch

from odenet.nn import Augment, Augmented, ConvField, MLPField, ODEBlock


def test_mlp_field_time_conditioning() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 3)
    f = MLPField(3, hidden=8)
    assert f(torch.tensor(0.0), x).shape == (4, 3)
    assert not torch.allclose(f(torch.tensor(0.0), x), f(torch.tensor(1.0), x))
    g = MLPField(3, hidden=8, time_conditioning=False)
    assert torch.equal(g(torch.tensor(0.0), x), g(torch.tensor(1.0), x))


@pytest.mark.parametrize("norm", ["group", "batch", "none"])
def test_conv_field_shapes_and_time(norm: str) -> None:
    torch.manual_seed(0)
    f = ConvField(4, hidden=6, norm=norm).double()
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    y0, y1 = f(torch.tensor(0.0), x), f(torch.tensor(1.0), x)
    assert y0.shape == x.shape and y0.dtype == torch.float64
    assert not torch.allclose(y0, y1)


def test_conv_field_gradcheck_float64() -> None:
    torch.manual_seed(0)
    f = ConvField(2, norm="group", activation="tanh").double()
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: f(torch.tensor(0.3, dtype=torch.float64), x), (x,))


def test_augment_and_drop() -> None:
    x = torch.randn(5, 2)
    assert torch.equal(Augment(3)(x), torch.cat([x, torch.zeros(5, 3)], 1))
    img = torch.randn(2, 3, 4, 4)
    assert Augment(2)(img).shape == (2, 5, 4, 4)
    block = ODEBlock(MLPField(5, hidden=8), method="rk4", step_size=0.5)
    assert Augmented(block, 3)(x).shape == (5, 2)
    full = Augmented(block, 3, drop=False)(x)
    assert full.shape == (5, 5) and torch.equal(Augmented(block, 3)(x), full[:, :2])


def test_augment_rejects_bad_dim() -> None:
    with pytest.raises(ValueError, match="augment_dim"):
        Augment(0)
