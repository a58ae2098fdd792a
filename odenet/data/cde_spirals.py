"""Clockwise vs anticlockwise spirals, irregularly sampled with missing points: a time-series
classification task for neural CDEs (after the spiral toy of Kidger et al. 2020's torchcde
example, made irregular and partly missing).

Each series follows ``r = r0 + 0.25 * |angle - start|`` from a random start angle and
radius, turning clockwise (label 0) or anticlockwise (label 1) at a random angular speed,
with Gaussian noise. All series share one irregular sorted time grid in ``[0, t_max]``;
in each series a fraction ``drop`` of the points (never the first) is missing: its values
are NaN (the time stays known), so every series is observed at its own irregular times.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import TensorDataset

from odenet.data._split import check_positive_int, generator
from odenet.data.splits import DataSplits

__all__ = ["load_cde_spirals", "make_cde_spirals"]


def make_cde_spirals(
    n: int,
    *,
    n_times: int = 50,
    t_max: float = 6.0,
    drop: float = 0.3,
    noise: float = 0.1,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x: (n, n_times, 3)`` with channels ``(time, x, y)`` (NaN where missing) and labels
    ``y: (n,)`` (0 clockwise, 1 anticlockwise); float32 / int64."""
    check_positive_int("n", n)
    check_positive_int("n_times", n_times)
    if n_times < 3:
        raise ValueError(f"n_times must be >= 3; got n_times={n_times}")
    if not 0.0 <= drop < 1.0:
        raise ValueError(f"drop must be in [0, 1) (the fraction of missing points); got {drop}")
    g = generator(seed)
    times = torch.sort(torch.rand(n_times, generator=g) * t_max).values
    times[0] = 0.0
    labels = (torch.rand(n, generator=g) < 0.5).long()
    turn = torch.where(labels == 1, 1.0, -1.0) * (0.6 + 0.8 * torch.rand(n, generator=g))
    start = torch.rand(n, generator=g) * 2 * math.pi
    angle = start[:, None] + turn[:, None] * times[None, :]
    radius = 0.3 + 0.4 * torch.rand(n, 1, generator=g) + 0.25 * (angle - start[:, None]).abs()
    values = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=-1)
    values = values + noise * torch.randn(values.shape, generator=g)
    n_drop = round(drop * (n_times - 1))
    order = torch.argsort(torch.rand(n, n_times - 1, generator=g), dim=1)[:, :n_drop] + 1
    missing = torch.zeros(n, n_times, dtype=torch.bool).scatter_(1, order, True)
    values[missing] = math.nan
    x = torch.cat([times.expand(n, n_times).unsqueeze(-1), values], dim=-1)
    return x, labels


def load_cde_spirals(
    n_train: int = 500,
    n_test: int = 200,
    *,
    n_times: int = 50,
    drop: float = 0.3,
    noise: float = 0.1,
    seed: int = 0,
) -> DataSplits:
    """Classification splits; items ``(x (n_times, 3), label)``, channel 0 the time."""
    x, y = make_cde_spirals(n_train + n_test, n_times=n_times, drop=drop, noise=noise, seed=seed)
    return DataSplits(
        train=TensorDataset(x[:n_train], y[:n_train]),
        test=TensorDataset(x[n_train:], y[n_train:]),
        input_shape=(n_times, 3),
        num_classes=2,
        task="classification",
    )
