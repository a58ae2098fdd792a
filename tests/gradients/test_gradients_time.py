"""Gradients with respect to t0, t1 and intermediate output times, against closed forms.

``dy/dt = k cos(t) y`` has ``y(t) = y0 exp(k (sin t - sin t0))``, so for
``L = sum_i c_i sum(y(t_i))``: ``dL/dt_i = c_i k cos(t_i) sum(y(t_i))`` (i >= 1) and
``dL/dt0 = -k cos(t0) sum_{i>=1} c_i sum(y(t_i))``.
"""

from __future__ import annotations

import pytest
import torch

import odenet

K = 0.8
CASES = [
    ("autograd", {"method": "dopri5", "rtol": 1e-11, "atol": 1e-13}, 1e-9),
    ("autograd", {"method": "rk4", "n_steps": 200}, 1e-8),
    ("checkpoint", {"method": "tsit5", "rtol": 1e-11, "atol": 1e-13}, 1e-9),
    ("adjoint", {"method": "dopri5", "rtol": 1e-11, "atol": 1e-13}, 1e-9),
    ("reversible", {"method": "reversible_heun", "n_steps": 2000}, 1e-5),
]


class Field(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.k = torch.nn.Parameter(torch.tensor(K, dtype=torch.float64))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.k * torch.cos(t) * y


@pytest.mark.parametrize(
    ("gradient", "settings", "tol"), CASES, ids=[f"{c[0]}-{c[1]['method']}" for c in CASES]
)
@pytest.mark.parametrize("times", [[0.3, 1.7], [0.2, 0.9, 1.4, 2.0], [2.0, 1.1, 0.4]])
def test_time_gradients_closed_form(
    gradient: str, settings: dict, tol: float, times: list[float]
) -> None:
    y0 = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
    t = torch.tensor(times, dtype=torch.float64, requires_grad=True)
    c = torch.arange(1.0, len(times) + 1.0, dtype=torch.float64)
    ys = odenet.odeint(Field(), y0, t, gradient=gradient, **settings)
    (c[:, None] * ys).sum().backward()
    with torch.no_grad():
        tt = t.detach()
        exact = y0 * torch.exp(K * (torch.sin(tt) - torch.sin(tt[0])))[:, None]
        sums = exact.sum(-1)
        expected = c * K * torch.cos(tt) * sums
        expected[0] = -K * torch.cos(tt[0]) * (c[1:] * sums[1:]).sum()
    assert torch.allclose(ys.detach(), exact, rtol=0, atol=tol * 10)
    assert torch.allclose(t.grad, expected, rtol=0, atol=tol * 10), (t.grad, expected)


def test_no_time_gradient_when_t_does_not_require_grad() -> None:
    y0 = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    ys = odenet.odeint(Field(), y0, t, method="rk4", n_steps=10, gradient="checkpoint")
    ys.sum().backward()
    assert t.grad is None and y0.grad is not None
