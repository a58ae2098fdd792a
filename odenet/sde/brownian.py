"""Seeded Brownian motion for SDE solves (a thin constructor over torchsde.BrownianInterval)."""

from __future__ import annotations

import torch
import torchsde


def draw_seed(generator: torch.Generator | None = None) -> int:
    """Draw a 62-bit integer seed from torch's (global or given) generator.

    Used when no explicit seed is given, so that ``torch.manual_seed`` makes SDE solves
    reproducible.
    """
    return int(torch.randint(0, 2**62, (1,), generator=generator).item())


def make_brownian(
    t0: float,
    t1: float,
    batch_size: int,
    noise_size: int,
    *,
    seed: int,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    levy_area: str = "none",
    dt: float | None = None,
) -> torchsde.BrownianInterval:
    """A ``BrownianInterval`` on [t0, t1] of shape (batch_size, noise_size), seeded.

    Each of the ``batch_size`` rows is an independent ``noise_size``-dimensional Brownian
    motion. The sample path is a deterministic function of ``seed`` and of the query times
    (Kidger et al. 2021, "Efficient and accurate gradients for neural SDEs", Sec. 4), so two
    solves with the same seed, solver and step size see the same noise.

    Args:
        t0, t1: time interval, t0 < t1.
        batch_size, noise_size: shape of each increment, both >= 1.
        seed: integer entropy.
        levy_area: "none", "space-time", "davie" or "foster" (SRK needs "space-time").
        dt: expected step size (a hint for the interval's cache layout).
    """
    if not t0 < t1:
        raise ValueError(f"need t0 < t1 for a Brownian interval; got t0={t0}, t1={t1}.")
    for name, value in (("batch_size", batch_size), ("noise_size", noise_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {name}={value!r}.")
    return torchsde.BrownianInterval(
        t0=float(t0),
        t1=float(t1),
        size=(batch_size, noise_size),
        dtype=dtype,
        device=device,
        entropy=int(seed),
        dt=dt,
        levy_area_approximation=levy_area,
    )
