"""NeuralCDE and the ODE-RNN baseline: shapes, missing values, per-sample times, gradients,
and that the neural CDE learns the spiral direction."""

from __future__ import annotations

import math

import pytest
import torch

from odenet.data import load_cde_spirals, make_cde_spirals
from odenet.models import NeuralCDE, ODERNNClassifier


def test_spiral_data_shapes_and_missing_fraction():
    x, y = make_cde_spirals(40, n_times=21, drop=0.3, seed=1)
    assert x.shape == (40, 21, 3) and y.shape == (40,) and set(y.tolist()) == {0, 1}
    assert not torch.isnan(x[..., 0]).any()  # times always known
    missing = torch.isnan(x[..., 1]).float().mean(1)
    torch.testing.assert_close(missing, torch.full((40,), 6 / 21))
    assert not torch.isnan(x[:, 0, 1:]).any()  # the first point is always observed
    splits = load_cde_spirals(10, 5, n_times=8)
    assert splits.task == "classification" and splits.num_classes == 2
    with pytest.raises(ValueError, match="drop"):
        make_cde_spirals(4, drop=1.0)


@pytest.mark.parametrize("interpolation", ["cubic", "hermite", "linear", "rectilinear"])
def test_forward_shapes_and_gradients(interpolation):
    x, _ = make_cde_spirals(6, n_times=10, seed=2)
    method = {"method": "dopri5", "rtol": 1e-3, "atol": 1e-4}
    model = NeuralCDE(3, 4, hidden=5, field_width=8, interpolation=interpolation, **method)
    out = model(x)
    assert out.shape == (6, 4) and torch.isfinite(out).all()
    out.square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_per_sample_times_equal_separate_solves():
    torch.manual_seed(0)
    x, _ = make_cde_spirals(3, n_times=9, seed=3)
    x = x.double()
    x[..., 0] = torch.sort(torch.rand(3, 9, dtype=torch.float64) * 5, dim=1).values
    tight = {"method": "dopri5", "rtol": 1e-9, "atol": 1e-11}
    model = NeuralCDE(3, 2, hidden=4, field_width=8, **tight).double()
    batch = model(x)
    for i in range(3):
        # alone, sample i is integrated over its own span; in the batch over the union,
        # where its path is constant outside its own knots (dX = 0)
        torch.testing.assert_close(batch[i], model(x[i : i + 1])[0], rtol=1e-6, atol=1e-7)


def test_adjoint_model_gradients_match_autograd():
    x, y = make_cde_spirals(4, n_times=8, seed=4)
    x = x.double()
    grads = []
    for gradient in ("autograd", "adjoint"):
        torch.manual_seed(0)
        model = NeuralCDE(
            3, 2, hidden=4, field_width=8, method="dopri5", rtol=1e-7, atol=1e-9, gradient=gradient
        ).double()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        grads.append(torch.autograd.grad(loss, list(model.parameters())))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_odernn_baseline_reads_missing_values():
    x, _ = make_cde_spirals(5, n_times=10, seed=5)
    model = ODERNNClassifier(3, 2, hidden=6, step_size=0.5)
    out = model(x)
    assert out.shape == (5, 2) and torch.isfinite(out).all()
    x2 = x.clone()
    x2[1:, :, 0] += 0.1
    with pytest.raises(ValueError, match="one time grid"):
        model(x2)


def test_neural_cde_learns_the_spiral_direction():
    torch.manual_seed(0)
    splits = load_cde_spirals(128, 64, n_times=30, seed=6)
    xtr, ytr = splits.train.tensors
    xte, yte = splits.test.tensors
    model = NeuralCDE(3, 2, hidden=8, field_width=16, method="rk4", step_size=0.5)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(model(xtr), ytr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    assert acc > 0.85, acc
    assert math.isfinite(loss.item())


def test_evaluations_are_counted():
    x, y = make_cde_spirals(3, n_times=8, seed=7)
    model = NeuralCDE(3, 2, hidden=4, field_width=8, method="rk4", step_size=0.5)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    span = float(x[0, -1, 0] - x[0, 0, 0])
    assert model.nfe_forward == 4 * math.ceil(span / 0.5)  # 4 stages per RK4 step
    assert model.nfe_backward == 0  # autograd replays nothing
