"""Synthetic data sets of the neural-ODE literature, generated from a seed.

Each ``make_*`` function returns raw tensors; each ``load_*`` function returns a
:class:`~odenet.data.splits.DataSplits` ready for :func:`odenet.train.train`.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import TensorDataset

from odenet.data._split import check_positive_int, generator
from odenet.data.splits import DataSplits


def make_two_spirals(
    n: int, *, turns: float = 1.5, noise: float = 0.05, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved Archimedean spirals (class 0 and class 1).

    Returns ``x: (n, 2)`` float32 scaled to roughly ``[-1, 1]^2`` and ``y: (n,)`` int64.
    """
    check_positive_int("n", n)
    g = generator(seed)
    y = torch.arange(n) % 2
    theta = torch.sqrt(torch.rand(n, generator=g)) * turns * 2 * math.pi
    r = theta / (turns * 2 * math.pi)
    sign = 1.0 - 2.0 * y.float()
    x = sign[:, None] * torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)
    x = x + noise * torch.randn(n, 2, generator=g)
    return x, y


def make_annuli(
    n: int,
    *,
    dim: int = 2,
    inner_radius: float = 0.5,
    outer_radii: tuple[float, float] = (1.0, 1.5),
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A ball inside a concentric annulus (Dupont, Doucet & Teh 2019, augmented neural ODEs).

    Class 0: ``|x| <= inner_radius``; class 1: ``outer_radii[0] <= |x| <= outer_radii[1]``.
    A neural ODE (a homeomorphism) cannot separate them linearly in ``dim`` dimensions;
    an augmented one can. Returns ``x: (n, dim)`` float32 and ``y: (n,)`` int64.
    """
    check_positive_int("n", n)
    check_positive_int("dim", dim)
    r1, (r2, r3) = float(inner_radius), (float(outer_radii[0]), float(outer_radii[1]))
    if not 0 < r1 < r2 < r3:
        raise ValueError(
            "radii must satisfy 0 < inner_radius < outer_radii[0] < outer_radii[1]; "
            f"got inner_radius={r1}, outer_radii={(r2, r3)}"
        )
    g = generator(seed)
    y = torch.arange(n) % 2
    direction = torch.randn(n, dim, generator=g)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
    u = torch.rand(n, generator=g)
    radius = torch.where(y == 0, r1 * u, r2 + (r3 - r2) * u)
    return direction * radius[:, None], y


def make_two_moons(
    n: int, *, noise: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half circles. Returns ``x: (n, 2)`` float32 and ``y: (n,)`` int64."""
    check_positive_int("n", n)
    g = generator(seed)
    y = torch.arange(n) % 2
    angle = torch.rand(n, generator=g) * math.pi
    upper = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    lower = torch.stack([1 - torch.cos(angle), 0.5 - torch.sin(angle)], dim=1)
    x = torch.where(y[:, None] == 0, upper, lower)
    return x + noise * torch.randn(n, 2, generator=g), y


def make_eight_gaussians(
    n: int, *, radius: float = 2.0, std: float = 0.2, seed: int = 0
) -> torch.Tensor:
    """Mixture of 8 isotropic Gaussians with means on a circle (the FFJORD 2-D benchmark).

    Component k has mean ``radius * (cos(k pi/4), sin(k pi/4))`` and standard deviation
    ``std``; components are equally likely. Returns ``x: (n, 2)`` float32.
    """
    check_positive_int("n", n)
    g = generator(seed)
    k = torch.randint(0, 8, (n,), generator=g).float()
    means = radius * torch.stack([torch.cos(k * math.pi / 4), torch.sin(k * math.pi / 4)], 1)
    return means + std * torch.randn(n, 2, generator=g)


def make_irregular_spirals(
    n: int,
    *,
    n_times: int = 50,
    t_max: float = 6.0,
    observe_prob: float = 0.5,
    noise: float = 0.05,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Irregularly sampled spiral trajectories (the latent-ODE toy of Chen et al. 2018).

    Each trajectory follows an Archimedean spiral ``r = 0.5 + 0.25 * angle`` turning
    clockwise or counter-clockwise from a random start angle. All trajectories share one
    irregular, sorted time grid ``times: (n_times,)`` in ``[0, t_max]``; trajectory ``i`` is
    observed where ``mask[i]`` is 1 (each point with probability ``observe_prob``, at least
    two points). Returns ``times: (n_times,)``, ``values: (n, n_times, 2)`` and
    ``mask: (n, n_times)``, all float32.
    """
    check_positive_int("n", n)
    check_positive_int("n_times", n_times)
    if n_times < 2:
        raise ValueError(f"n_times must be >= 2 for a trajectory; got n_times={n_times}")
    g = generator(seed)
    times = torch.sort(torch.rand(n_times, generator=g) * t_max).values
    times[0] = 0.0
    direction = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    start = torch.rand(n, generator=g) * 2 * math.pi
    angle = start[:, None] + direction[:, None] * times[None, :]
    radius = 0.5 + 0.25 * (angle - start[:, None]).abs()
    values = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=-1)
    values = values + noise * torch.randn(values.shape, generator=g)
    mask = (torch.rand(n, n_times, generator=g) < observe_prob).float()
    mask[:, :2] = 1.0
    return times, values, mask


def _labelled_splits(
    x: torch.Tensor, y: torch.Tensor, n_train: int, num_classes: int
) -> DataSplits:
    """First ``n_train`` samples for training, the rest for testing."""
    return DataSplits(
        train=TensorDataset(x[:n_train], y[:n_train]),
        test=TensorDataset(x[n_train:], y[n_train:]),
        input_shape=tuple(x.shape[1:]),
        num_classes=num_classes,
        task="classification",
    )


def load_two_spirals(
    n_train: int = 1000, n_test: int = 1000, *, noise: float = 0.05, seed: int = 0
) -> DataSplits:
    """Two-spirals classification splits (see :func:`make_two_spirals`)."""
    x, y = make_two_spirals(n_train + n_test, noise=noise, seed=seed)
    return _labelled_splits(x, y, n_train, 2)


def load_annuli(
    n_train: int = 1000, n_test: int = 1000, *, dim: int = 2, seed: int = 0
) -> DataSplits:
    """Ball-inside-annulus classification splits (see :func:`make_annuli`)."""
    x, y = make_annuli(n_train + n_test, dim=dim, seed=seed)
    return _labelled_splits(x, y, n_train, 2)


def load_two_moons(
    n_train: int = 1000, n_test: int = 1000, *, noise: float = 0.1, seed: int = 0
) -> DataSplits:
    """Two-moons classification splits (see :func:`make_two_moons`)."""
    x, y = make_two_moons(n_train + n_test, noise=noise, seed=seed)
    return _labelled_splits(x, y, n_train, 2)


def load_eight_gaussians(
    n_train: int = 10000, n_test: int = 2000, *, std: float = 0.2, seed: int = 0
) -> DataSplits:
    """Density-estimation splits of the eight-Gaussians mixture; items are ``(x,)``."""
    x = make_eight_gaussians(n_train + n_test, std=std, seed=seed)
    return DataSplits(
        train=TensorDataset(x[:n_train]),
        test=TensorDataset(x[n_train:]),
        input_shape=(2,),
        num_classes=None,
        task="density",
    )


def load_irregular_spirals(
    n_train: int = 500,
    n_test: int = 100,
    *,
    n_times: int = 50,
    observe_prob: float = 0.5,
    seed: int = 0,
) -> DataSplits:
    """Time-series splits of irregular spirals; items are ``(times, values, mask)``.

    Shapes per item: ``times (T,)``, ``values (T, 2)``, ``mask (T,)``.
    """
    times, values, mask = make_irregular_spirals(
        n_train + n_test, n_times=n_times, observe_prob=observe_prob, seed=seed
    )
    t = times.expand(n_train + n_test, -1).contiguous()
    return DataSplits(
        train=TensorDataset(t[:n_train], values[:n_train], mask[:n_train]),
        test=TensorDataset(t[n_train:], values[n_train:], mask[n_train:]),
        input_shape=(2,),
        num_classes=None,
        task="time_series",
    )
