"""Bytes saved for backward, measured with saved_tensors_hooks, as the steps grow 10x.

The meter (odenet.gradients.SavedTensorMeter) counts each storage saved for backward once
and tracks the peak of what is alive over the forward and the backward pass, so the
recomputation graphs of checkpointing are included.
"""

from __future__ import annotations

import torch

import odenet
from odenet.gradients import SavedTensorMeter
from tests.gradients.gradient_cases import TimeMLP, initial_state


def saved_bytes(gradient: str, method: str, n_steps: int) -> tuple[int, int]:
    """(bytes alive right after the forward pass, peak over forward + backward)."""
    f = TimeMLP(dim=4, hidden=16)
    y0 = initial_state(batch=8, dim=4).requires_grad_(True)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with SavedTensorMeter() as meter:
        ys = odenet.odeint(f, y0, t, method=method, n_steps=n_steps, gradient=gradient)
        after_forward = meter.current
        ys[-1].square().sum().backward()
    assert meter.current == 0  # everything released after backward
    return after_forward, meter.peak


def test_autograd_memory_grows_linearly() -> None:
    small, large = saved_bytes("autograd", "rk4", 20)[1], saved_bytes("autograd", "rk4", 200)[1]
    assert 9.0 <= large / small <= 10.5


def test_reversible_memory_is_flat() -> None:
    fwd_s, small = saved_bytes("reversible", "reversible_heun", 20)
    fwd_l, large = saved_bytes("reversible", "reversible_heun", 200)
    assert fwd_s == fwd_l  # the final (y, z) pair only
    assert abs(large / small - 1.0) <= 0.10


def test_checkpoint_memory_is_sublinear() -> None:
    small = saved_bytes("checkpoint", "rk4", 20)[1]
    large = saved_bytes("checkpoint", "rk4", 200)[1]
    autograd_large = saved_bytes("autograd", "rk4", 200)[1]
    # sqrt(10) = 3.2: stored states and one segment's graph both grow as sqrt(n)
    assert large / small <= 4.5
    assert large <= autograd_large / 4


def test_adjoint_memory_is_flat() -> None:
    small = saved_bytes("adjoint", "rk4", 20)[1]
    large = saved_bytes("adjoint", "rk4", 200)[1]
    assert abs(large / small - 1.0) <= 0.10
