"""Outputs requested inside the step where a terminal event occurs come from that whole
step's interpolant: the same values as without the event."""

from __future__ import annotations

import math

import pytest
import torch

import odenet

CASES = [
    ("rk4", {"step_size": 0.5}),
    ("heun", {"step_size": 0.5}),
    ("dopri5", {"rtol": 1e-3, "atol": 1e-6}),
    ("bosh3", {"rtol": 1e-3, "atol": 1e-6}),
    ("explicit_adams", {"step_size": 0.5}),
]


@pytest.mark.parametrize(("method", "settings"), CASES)
def test_output_before_the_event_in_the_same_step(method: str, settings: dict) -> None:
    """y' = -y from 1: the event y = 0.5 is at ln 2; t = 0.6 lies in the same step."""
    y0 = torch.tensor([1.0], dtype=torch.float64)
    t = torch.tensor([0.0, 0.6, 2.0], dtype=torch.float64)

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -y

    def g(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y[0] - 0.5

    event_t, ys = odenet.odeint(f, y0, t, method=method, event_fn=g, **settings)
    plain = odenet.odeint(f, y0, t, method=method, **settings)
    assert float(event_t) == pytest.approx(math.log(2.0), abs=5e-2)  # coarse steps
    assert ys.shape == (3, 1)  # y(0), y(0.6), then the state at the event
    torch.testing.assert_close(ys[1], plain[1], rtol=1e-12, atol=1e-12)
