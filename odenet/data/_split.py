"""Helpers shared by the loaders: seeded generators, train/test splitting, standardising."""

from __future__ import annotations

import torch


def generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (data never depends on global RNG)."""
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def check_positive_int(name: str, value: int) -> int:
    """Return ``value`` if it is an int >= 1, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {name}={value!r}")
    return value


def check_fraction(name: str, value: float) -> float:
    """Return ``value`` if 0 < value < 1, else raise naming ``name``."""
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1; got {name}={value!r}")
    return float(value)


def permutation_split(n: int, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(train_idx, test_idx)`` of a seeded random split of ``range(n)``."""
    check_fraction("test_fraction", test_fraction)
    perm = torch.randperm(n, generator=generator(seed))
    n_test = max(1, round(n * test_fraction))
    return perm[n_test:], perm[:n_test]


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of images ``x: (n, c, h, w)``, shaped ``(1, c, 1, 1)``."""
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    return mean, std
