"""Dense output between steps, terminal events, backwards time, tuples and dtypes."""

from __future__ import annotations

import math

import pytest
import torch

import odenet
from tests.helpers import ADAPTIVE_METHODS, FIXED_METHODS, linear_problem, logistic_problem


@pytest.mark.parametrize(("name", "order"), ADAPTIVE_METHODS)
def test_dense_output_between_steps(name: str, order: int) -> None:
    prob = linear_problem()
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    sol = odenet.solve(prob.f, prob.y0, t, method=name, rtol=1e-9, atol=1e-9)
    assert sol.stats.n_accepted >= 2
    grid = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
    err = float((sol.evaluate(grid) - prob.exact(grid)).abs().max())
    # fourth-order interpolants (third for bosh3's Hermite) at tolerance 1e-9
    assert err < (1e-5 if name == "dopri8" else 1e-6), err
    # a single time
    torch.testing.assert_close(sol.evaluate(0.5), sol.evaluate(torch.tensor([0.5]))[0])


@pytest.mark.parametrize("name", ["dopri5", "tsit5"])
def test_output_times_do_not_change_the_steps(name: str) -> None:
    prob = logistic_problem()
    few = odenet.solve(prob.f, prob.y0, torch.tensor([0.0, 2.0], dtype=torch.float64), method=name)
    many = odenet.solve(
        prob.f, prob.y0, torch.linspace(0, 2.0, 200, dtype=torch.float64), method=name
    )
    assert few.stats.nfe == many.stats.nfe
    torch.testing.assert_close(few.ys[-1], many.ys[-1], rtol=0, atol=0)
    err = float((many.ys - prob.exact(many.ts)).abs().max())
    assert err < 1e-6


@pytest.mark.parametrize(("name", "order"), FIXED_METHODS)
def test_fixed_step_outputs_between_grid_points_are_hermite(name: str, order: int) -> None:
    prob = logistic_problem()
    t = torch.tensor([0.0, 0.55, 1.0, 2.0], dtype=torch.float64)
    ys = odenet.odeint(prob.f, prob.y0, t, method=name, step_size=0.01)
    err = float((ys - prob.exact(t)).abs().max())
    assert err < 2.0 * 0.01 ** min(order, 3)


def test_event_located_to_tolerance() -> None:
    """A ball dropped from 10 m: y'' = -g; lands at t* = sqrt(2 h / g)."""
    g, h = 9.81, 10.0

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.stack([y[1], torch.full_like(y[1], -g)])

    y0 = torch.tensor([h, 0.0], dtype=torch.float64)
    t = torch.tensor([0.0, 5.0], dtype=torch.float64)
    sol = odenet.solve(f, y0, t, event_fn=lambda t, y: y[0], rtol=1e-10, atol=1e-10)
    assert sol.status == "event"
    assert float(sol.event_t) == pytest.approx(math.sqrt(2 * h / g), abs=1e-9)
    assert float(sol.event_y[0]) == pytest.approx(0.0, abs=1e-8)
    event_t, ys = odenet.odeint(f, y0, t, event_fn=lambda t, y: y[0], method="rk4", step_size=0.01)
    assert float(event_t) == pytest.approx(math.sqrt(2 * h / g), abs=1e-9)
    assert ys.shape == (2, 2)  # y0 and the state at the event


def test_no_event_returns_full_solution() -> None:
    y0 = torch.ones(2, dtype=torch.float64)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    event_t, ys = odenet.odeint(lambda t, y: -y, y0, t, event_fn=lambda t, y: y.sum() + 10)
    assert float(event_t) == 1.0 and ys.shape == (5, 2)


@pytest.mark.parametrize("name", ["rk4", "dopri5", "tsit5"])
def test_time_running_backwards(name: str) -> None:
    prob = linear_problem()
    t_fwd = torch.tensor([0.0, 1.0], dtype=torch.float64)
    y1 = prob.exact(t_fwd)[-1]
    t_back = torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)
    ys = odenet.odeint(prob.f, y1, t_back, method=name, step_size=0.01 if name == "rk4" else None)
    torch.testing.assert_close(ys[-1], prob.y0, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(
        ys[1], prob.exact(torch.tensor([0.5], dtype=torch.float64))[0], rtol=1e-6, atol=1e-6
    )


def test_tuple_state() -> None:
    """(x, v) of a harmonic oscillator with different shapes per component."""
    x0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    v0 = torch.tensor([[0.0], [1.0]], dtype=torch.float64).T  # shape (1, 2)

    def f(t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        x, v = state
        return v, -x

    t = torch.linspace(0, 2.0, 4, dtype=torch.float64)
    xs, vs = odenet.odeint(f, (x0, v0), t, rtol=1e-10, atol=1e-10)
    assert xs.shape == (4, 1, 2) and vs.shape == (4, 1, 2)
    exact_x = torch.stack([torch.cos(t), torch.sin(t)], dim=-1)[:, None, :]
    torch.testing.assert_close(xs, exact_x, rtol=1e-8, atol=1e-8)
    sol = odenet.solve(f, (x0, v0), t)
    mid = sol.evaluate(torch.tensor([1.0], dtype=torch.float64))
    assert isinstance(mid, tuple) and mid[0].shape == (1, 1, 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["rk4", "dopri5", "tsit5"])
def test_float32_and_float64(dtype: torch.dtype, name: str) -> None:
    prob = linear_problem(dtype)
    t = torch.linspace(0, 1, 3, dtype=dtype)
    ys = odenet.odeint(
        prob.f,
        prob.y0,
        t,
        method=name,
        rtol=1e-5,
        atol=1e-6,
        step_size=0.01 if name == "rk4" else None,
    )
    assert ys.dtype == dtype and ys.shape == (3, 3, 4)
    torch.testing.assert_close(ys, prob.exact(t), rtol=1e-4, atol=1e-4)


def test_float32_time_far_from_zero_does_not_stall() -> None:
    """t = 1e5 in float32 has a spacing of 0.0078; the float64 clock still lands on t1."""
    t = torch.tensor([1e5, 1e5 + 1.0], dtype=torch.float32)
    y0 = torch.ones(4, dtype=torch.float32)
    sol = odenet.solve(lambda t, y: -y, y0, t, rtol=1e-6, atol=1e-8)
    assert sol.status == "success"
    torch.testing.assert_close(sol.ys[-1], y0 * math.exp(-1.0), rtol=1e-5, atol=1e-6)


@pytest.mark.cuda
def test_cuda_matches_cpu() -> None:
    prob = linear_problem()
    t = torch.linspace(0, 1, 4, dtype=torch.float64)
    cpu = odenet.odeint(prob.f, prob.y0, t)
    a = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a_gpu = a.cuda()
    y0 = prob.y0.cuda()
    gpu = odenet.odeint(lambda t, y: y @ a_gpu.T, y0, t.cuda())
    ref = odenet.odeint(lambda t, y: y @ a.T, prob.y0, t)
    assert gpu.device.type == "cuda" and cpu.shape == gpu.shape
    torch.testing.assert_close(gpu.cpu(), ref)


@pytest.mark.parametrize(("method", "kw"), [("dopri5", {}), ("rk4", {"step_size": 0.01})])
def test_event_time_and_state_are_differentiable(method: str, kw: dict) -> None:
    """Ball dropped from h under gravity g: t* = sqrt(2h/g), v* = -sqrt(2gh)."""
    h = torch.tensor(10.0, dtype=torch.float64, requires_grad=True)
    g = torch.tensor(9.81, dtype=torch.float64, requires_grad=True)

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.stack([y[1], -g * torch.ones_like(y[1])])

    y0 = torch.stack([h, torch.zeros((), dtype=torch.float64)])
    t = torch.tensor([0.0, 5.0], dtype=torch.float64)
    event_t, ys = odenet.odeint(f, y0, t, event_fn=lambda t, y: y[0], method=method,
                                rtol=1e-10, atol=1e-10, **kw)  # fmt: skip
    hv, gv = 10.0, 9.81
    dt_dh, dt_dg = torch.autograd.grad(event_t, (h, g), retain_graph=True)
    assert float(dt_dh) == pytest.approx(1 / math.sqrt(2 * gv * hv), rel=1e-7)
    assert float(dt_dg) == pytest.approx(-math.sqrt(2 * hv) / (2 * gv**1.5), rel=1e-7)
    (dv_dh,) = torch.autograd.grad(ys[-1, 1], (h,))
    assert float(dv_dh) == pytest.approx(-gv / math.sqrt(2 * gv * hv), rel=1e-7)


def test_event_without_grad_keeps_no_graph() -> None:
    y0 = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        event_t, ys = odenet.odeint(lambda t, y: torch.stack([y[1], -y[0]]), y0,
                                    torch.tensor([0.0, 5.0], dtype=torch.float64),
                                    event_fn=lambda t, y: y[0])  # fmt: skip
    assert not event_t.requires_grad and not ys.requires_grad
    assert float(event_t) == pytest.approx(math.pi / 2, abs=1e-7)
