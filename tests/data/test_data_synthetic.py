"""Synthetic data sets: geometry, balance, reproducibility, and the digits split."""

from __future__ import annotations

import math

import pytest
import torch

from odenet.data import (
    load_digits,
    load_eight_gaussians,
    load_irregular_spirals,
    make_annuli,
    make_eight_gaussians,
    make_irregular_spirals,
    make_two_moons,
    make_two_spirals,
)


def test_annuli_radii_lie_in_their_shells() -> None:
    x, y = make_annuli(2000, dim=3, inner_radius=0.5, outer_radii=(1.0, 1.5), seed=1)
    r = x.norm(dim=1)
    assert x.shape == (2000, 3)
    assert r[y == 0].max() <= 0.5 + 1e-6
    assert r[y == 1].min() >= 1.0 - 1e-6 and r[y == 1].max() <= 1.5 + 1e-6
    assert int((y == 0).sum()) == 1000


def test_annuli_rejects_unordered_radii() -> None:
    with pytest.raises(ValueError, match="inner_radius"):
        make_annuli(10, inner_radius=2.0, outer_radii=(1.0, 1.5))


def test_moons_without_noise_lie_on_unit_circles() -> None:
    x, y = make_two_moons(500, noise=0.0, seed=0)
    upper = x[y == 0]
    lower = x[y == 1] - torch.tensor([1.0, 0.5])
    torch.testing.assert_close(upper.norm(dim=1), torch.ones(len(upper)))
    torch.testing.assert_close(lower.norm(dim=1), torch.ones(len(lower)))
    assert (upper[:, 1] >= -1e-6).all() and (lower[:, 1] <= 1e-6).all()


def test_spirals_are_point_symmetric_classes() -> None:
    x, y = make_two_spirals(1000, noise=0.0, seed=0)
    assert x.norm(dim=1).max() <= 1.0 + 1e-6
    # class 1 is class 0 rotated by pi: both have the same radius distribution
    r0, r1 = x[y == 0].norm(dim=1), x[y == 1].norm(dim=1)
    assert abs(float(r0.mean() - r1.mean())) < 4 * float(r0.std()) / math.sqrt(len(r0))


def test_eight_gaussians_component_statistics() -> None:
    std, n = 0.2, 40000
    x = make_eight_gaussians(n, radius=2.0, std=std, seed=3)
    angle = torch.atan2(x[:, 1], x[:, 0])
    k = torch.round(angle / (math.pi / 4)) % 8
    counts = torch.bincount(k.long(), minlength=8).float()
    p = 1 / 8
    se = math.sqrt(n * p * (1 - p))
    assert ((counts - n * p).abs() < 5 * se).all()
    # distance to the assigned mean has the radial std of a 2-D Gaussian
    means = 2.0 * torch.stack([torch.cos(k * math.pi / 4), torch.sin(k * math.pi / 4)], 1)
    resid = x - means
    var = resid.pow(2).mean(0)
    assert torch.allclose(var, torch.full((2,), std**2), rtol=0.05)


def test_irregular_spirals_layout() -> None:
    times, values, mask = make_irregular_spirals(8, n_times=30, observe_prob=0.3, seed=2)
    assert times.shape == (30,) and values.shape == (8, 30, 2) and mask.shape == (8, 30)
    assert times[0] == 0 and (times.diff() >= 0).all()
    assert (mask.sum(1) >= 2).all() and set(mask.unique().tolist()) <= {0.0, 1.0}
    splits = load_irregular_spirals(6, 2, n_times=30)
    t, v, m = splits.train[0]
    assert t.shape == (30,) and v.shape == (30, 2) and m.shape == (30,)
    assert splits.task == "time_series"


def test_generators_are_reproducible_from_seed() -> None:
    a = make_eight_gaussians(50, seed=7)
    b = make_eight_gaussians(50, seed=7)
    c = make_eight_gaussians(50, seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert load_eight_gaussians(20, 10).task == "density"


def test_digits_split_is_disjoint_and_complete() -> None:
    splits = load_digits(test_fraction=0.25, seed=0)
    x_tr, y_tr = splits.train.tensors
    x_te, _ = splits.test.tensors
    assert len(x_tr) + len(x_te) == 1797
    assert x_tr.shape[1:] == (1, 8, 8) and float(x_tr.min()) >= 0 and float(x_tr.max()) <= 1
    assert set(y_tr.unique().tolist()) == set(range(10))
    flat_tr = {tuple(r.tolist()) for r in x_tr.flatten(1)}
    overlap = sum(tuple(r.tolist()) in flat_tr for r in x_te.flatten(1))
    assert overlap < 10  # the digits set has a few duplicated images, not a leaked split


def test_bad_sizes_name_the_argument() -> None:
    with pytest.raises(ValueError, match="n must be a positive integer; got n=0"):
        make_two_moons(0)
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=1.5)
