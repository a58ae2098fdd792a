"""Core features added for odenet.torchdiffeq (issue 13), tested on exact solutions."""

from __future__ import annotations

import math

import pytest
import torch

import odenet


def test_explicit_grid_is_stepped_exactly() -> None:
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    grid = torch.linspace(0.0, 1.0, 11, dtype=torch.float64)
    ys = odenet.odeint(lambda t, y: y, torch.tensor(1.0, dtype=torch.float64), t, method="euler",
                       options={"grid": grid})  # fmt: skip
    assert math.isclose(float(ys[-1]), 1.1**10, rel_tol=1e-14)
    with pytest.raises(ValueError, match="must run from t"):
        odenet.odeint(lambda t, y: y, torch.ones(1), t.float(), method="euler",
                      options={"grid": torch.linspace(0.0, 0.9, 5)})  # fmt: skip
    with pytest.raises(ValueError, match="strictly monotonic"):
        odenet.odeint(lambda t, y: y, torch.ones(1), t.float(), method="euler",
                      options={"grid": torch.tensor([0.0, 0.6, 0.4, 1.0])})  # fmt: skip


@pytest.mark.parametrize("perturb", [False, True])
def test_perturb_integrates_each_step_on_its_own_side_of_a_jump(perturb: bool) -> None:
    """Heun on x' = -a(t) x, a = 1 before 1/2 and 2 after: each step multiplies by
    1 - a h + (a h)^2 / 2 with the step's own a only when the end stage is one-sided."""
    times: list[float] = []

    def f(t, x):
        times.append(float(t))
        return -x if t < 0.5 else -2 * x

    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    x1 = odenet.odeint(f, torch.tensor(1.0, dtype=torch.float64), t, method="heun",
                       options={"step_size": 0.25, "perturb": perturb})[-1]  # fmt: skip
    h = 0.25
    one, two = 1 - h + h**2 / 2, 1 - 2 * h + (2 * h) ** 2 / 2
    mixed = 1 - 1.5 * h + h * h  # the step ending on the jump sees a = 2 at its end stage
    expected = one**2 * two**2 if perturb else one * mixed * two**2
    assert math.isclose(float(x1), expected, rel_tol=1e-12)
    grid_points = {0.0, 0.25, 0.5, 0.75, 1.0}
    assert not (grid_points & set(times)) if perturb else {0.0, 0.5} <= set(times)


def test_linear_interpolation_between_grid_points() -> None:
    t = torch.tensor([0.0, 0.05, 0.1], dtype=torch.float64)
    ys = odenet.odeint(lambda t, y: y, torch.tensor(1.0, dtype=torch.float64), t, method="euler",
                       options={"step_size": 0.1, "interp": "linear"})  # fmt: skip
    assert math.isclose(float(ys[1]), 1.05, rel_tol=1e-14)  # midway between 1 and 1.1
    with pytest.raises(ValueError, match="interp"):
        odenet.odeint(lambda t, y: y, torch.ones(1), t.float(), method="euler",
                      options={"step_size": 0.1, "interp": "quintic"})  # fmt: skip


def test_step_hooks_count_the_loop_steps() -> None:
    counts = {"on_step": 0, "on_accept": 0, "on_reject": 0}

    def hook(name):
        def call(t0, y0, dt):
            assert t0.dim() == 0 and y0.shape == (2,) and dt.dim() == 0
            counts[name] += 1

        return call

    sol = odenet.solve(lambda t, y: -y * (1 + 5 * torch.sin(3 * t) ** 2), torch.ones(2),
                       torch.tensor([0.0, 3.0]), rtol=1e-5, atol=1e-7,
                       options={k: hook(k) for k in counts} | {"first_step": 1.0})  # fmt: skip
    assert counts["on_accept"] == sol.stats.n_accepted
    assert counts["on_reject"] == sol.stats.n_rejected >= 1
    assert counts["on_step"] == sol.stats.n_steps


@pytest.mark.parametrize(("method", "kw"), [("dopri5", {}), ("rk4", {"step_size": 0.01})])
def test_open_ended_event_search(method: str, kw: dict) -> None:
    """A falling ball from 10 m: hits the ground at sqrt(20 / 9.81), found with t = [0, inf]."""

    def fall(t, s):
        return torch.stack([s[1], torch.full_like(s[0], -9.81)])

    s0 = torch.tensor([10.0, 0.0], dtype=torch.float64)
    t = torch.tensor([0.0, math.inf], dtype=torch.float64)
    et, ys = odenet.odeint(fall, s0, t, method=method, event_fn=lambda t, s: s[0], **kw)
    assert ys.shape == (2, 2)
    assert math.isclose(float(et), math.sqrt(20 / 9.81), rel_tol=1e-9)
    with pytest.raises(odenet.MaxStepsReached):
        odenet.odeint(fall, s0, t, method=method, event_fn=lambda t, s: s[1] - 1.0,
                      max_steps=50, **kw)  # fmt: skip
    with pytest.raises(ValueError, match="finite"):
        odenet.odeint(fall, s0, t, method=method, **kw)  # inf needs event_fn


def test_event_time_gradient_with_respect_to_t0() -> None:
    """x' = t from x(t0) = 0: the event x = 1/2 is at T = sqrt(1 + t0^2), dT/dt0 = t0 / T."""
    t = torch.tensor([0.5, 3.0], dtype=torch.float64, requires_grad=True)
    et, _ = odenet.odeint(lambda tt, x: tt.expand(1), torch.zeros(1, dtype=torch.float64), t,
                          event_fn=lambda tt, x: x[0] - 0.5, rtol=1e-10, atol=1e-12)  # fmt: skip
    et.backward()
    big_t = math.sqrt(1 + 0.25)
    assert math.isclose(float(et.detach()), big_t, rel_tol=1e-9)
    assert math.isclose(float(t.grad[0]), 0.5 / big_t, rel_tol=1e-6)
    assert float(t.grad[1]) == 0.0
