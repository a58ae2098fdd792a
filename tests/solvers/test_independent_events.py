"""Per-sample terminal events in ``batch_mode="independent"`` (issue 17, §4).

Falling balls ``h'' = -g`` have closed-form event times; dopri5 integrates the quadratic
flight exactly, so the located times are limited by the root-finder only.
"""

from __future__ import annotations

import math

import pytest
import torch

import odenet
from odenet import Event

D = torch.float64
G = 9.81


def ball(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``y = (height, velocity)`` per sample, ``(batch, 2)``."""
    return torch.stack([y[:, 1], torch.full_like(y[:, 1], -G)], dim=1)


def drag_ball(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A falling ball with quadratic drag (no polynomial solution)."""
    v = y[..., 1]
    return torch.stack([v, -G + 0.05 * v * v], dim=-1)


def height(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return y[:, 0]


def falling(heights: list[float]) -> torch.Tensor:
    h = torch.tensor(heights, dtype=D)
    return torch.stack([h, torch.zeros_like(h)], dim=1)


def solve(y0, t, event_fn, method="dopri5", **kw):
    kw.setdefault("rtol", 1e-10)
    kw.setdefault("atol", 1e-10)
    return odenet.solve(
        ball if "func" not in kw else kw.pop("func"),
        y0,
        t,
        method=method,
        batch_mode="independent",
        event_fn=event_fn,
        **kw,
    )


def test_falling_balls_hit_the_ground_at_the_closed_form_time():
    heights = [0.5, 1.0, 2.0, 4.5, 8.0]
    t = torch.linspace(0.0, 2.0, 9, dtype=D)
    sol = solve(falling(heights), t, Event(height, direction=-1))
    expect = torch.tensor([math.sqrt(2 * h / G) for h in heights], dtype=D)
    assert sol.sample_status == ("event",) * 5 and sol.status == "event"
    assert torch.allclose(sol.event_t, expect, rtol=0, atol=1e-8)
    assert torch.allclose(sol.event_y[:, 0], torch.zeros(5, dtype=D), atol=1e-8)
    assert torch.allclose(sol.event_y[:, 1], -G * expect, rtol=0, atol=1e-7)
    assert torch.allclose(sol.sample_stats.t_reached, expect, rtol=0, atol=1e-8)
    # outputs up to the event follow the flight, later ones are NaN
    h = torch.tensor(heights, dtype=D)
    closed = h[None, :] - 0.5 * G * t[:, None] ** 2
    before = t[:, None] <= expect[None, :]
    assert torch.allclose(sol.ys[..., 0][before], closed[before], atol=1e-9)
    assert torch.isnan(sol.ys[..., 0][~before]).all()


def test_plain_callable_is_a_terminal_event_in_both_directions():
    sol = solve(falling([1.0, 3.0]), torch.tensor([0.0, 5.0], dtype=D), height)
    expect = torch.tensor([math.sqrt(2 / G), math.sqrt(6 / G)], dtype=D)
    assert torch.allclose(sol.event_t, expect, rtol=0, atol=1e-8)


def test_each_sample_matches_a_joint_solve_of_that_sample_alone():
    y0 = falling([1.0, 3.0, 10.0])
    t = torch.tensor([0.0, 0.5, 3.0], dtype=D)
    event = Event(lambda t, y: y[..., 0], direction=-1)
    sol = solve(y0, t, event, func=drag_ball, method="tsit5", rtol=1e-9, atol=1e-9)
    for b in range(3):
        alone = odenet.solve(
            lambda t, y: drag_ball(t, y), y0[b], t, method="tsit5", rtol=1e-9, atol=1e-9,
            event_fn=event,
        )  # fmt: skip
        assert alone.status == "event"
        assert abs(float(sol.event_t[b]) - float(alone.event_t)) < 1e-8
        assert torch.allclose(sol.event_y[b], alone.event_y, atol=1e-8)


def test_direction_selects_the_upward_or_downward_crossing():
    """Thrown up from 0 with speed v0, the height crosses c upward, then downward.

    dopri5 is exact on this flight and would take one step over both crossings (a step
    whose end values have the same sign shows no event, as in the joint loop), so the
    step size is capped."""
    v0, c = torch.tensor([5.0, 8.0], dtype=D), 1.0
    y0 = torch.stack([torch.zeros(2, dtype=D), v0], dim=1)
    t = torch.tensor([0.0, 3.0], dtype=D)
    root = torch.sqrt(v0**2 - 2 * G * c)
    cap = {"dt_max": 0.1}
    up = solve(y0, t, Event(lambda t, y: y[:, 0] - c, direction=1), options=cap)
    down = solve(y0, t, Event(lambda t, y: y[:, 0] - c, direction=-1), options=cap)
    both = solve(y0, t, Event(lambda t, y: y[:, 0] - c, direction=0), options=cap)
    assert torch.allclose(up.event_t, (v0 - root) / G, rtol=0, atol=1e-8)
    assert torch.allclose(down.event_t, (v0 + root) / G, rtol=0, atol=1e-8)
    assert torch.allclose(both.event_t, up.event_t, rtol=0, atol=0)
    assert torch.allclose(up.event_y[:, 1], root, atol=1e-7)
    assert torch.allclose(down.event_y[:, 1], -root, atol=1e-7)


def test_samples_without_an_event_finish_normally():
    heights = [1.0, 100.0]
    t = torch.linspace(0.0, 2.0, 5, dtype=D)
    sol = solve(falling(heights), t, Event(height, direction=-1))
    assert sol.sample_status == ("event", "success")
    assert torch.isnan(sol.event_t[1]) and torch.isnan(sol.event_y[1]).all()
    closed = 100.0 - 0.5 * G * t**2
    assert torch.allclose(sol.ys[:, 1, 0], closed, atol=1e-9)
    none = solve(falling(heights), t, Event(height, direction=1))  # never rises through 0
    assert none.status == "success" and none.sample_status == ("success", "success")
    assert torch.isnan(none.event_t).all()
    assert not torch.isnan(none.ys).any()


def test_failed_samples_still_raise_and_events_are_not_failures():
    def field(t, y):  # sample 1 blows up: dy/dt = y^2 from 1 has a pole at t = 1
        return torch.stack([y[:, 1], torch.stack([torch.full_like(y[0, 1], -G), y[1, 1] ** 2])], 1)

    y0 = torch.tensor([[1.0, 0.0], [5.0, 1.0]], dtype=D)
    t = torch.tensor([0.0, 2.0], dtype=D)
    with pytest.raises(odenet.SamplesFailed) as info:
        solve(y0, t, Event(height, direction=-1), func=field, max_steps=100)
    assert list(info.value.indices) == [1]
    sol = solve(y0, t, Event(height, -1), func=field, max_steps=100, on_failure="return")
    assert sol.sample_status[0] == "event" and sol.status == "failed"
    assert abs(float(sol.event_t[0]) - math.sqrt(2 / G)) < 1e-8


@pytest.mark.parametrize("gradient", ["autograd", "checkpoint"])
def test_event_time_and_state_gradients_match_finite_differences(gradient):
    """d t_e / d(h, v0) and d v_e / d(h, v0) through the drag ball, against central FD."""
    y0 = torch.tensor([[1.0, 0.5], [2.5, -1.0]], dtype=D)
    t = torch.tensor([0.0, 4.0], dtype=D)
    event = Event(lambda t, y: y[:, 0], direction=-1)
    w_t, w_v = torch.tensor([0.7, -1.3], dtype=D), torch.tensor([0.4, 0.9], dtype=D)

    def loss(y0: torch.Tensor) -> torch.Tensor:
        sol = solve(y0, t, event, func=drag_ball, rtol=1e-12, atol=1e-12, gradient=gradient)
        return (w_t * sol.event_t).sum() + (w_v * sol.event_y[:, 1]).sum()

    y = y0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(y), y)
    eps = 1e-6
    fd = torch.zeros_like(y0)
    with torch.no_grad():
        for i in range(2):
            for j in range(2):
                e = torch.zeros_like(y0)
                e[i, j] = eps
                fd[i, j] = (loss(y0 + e) - loss(y0 - e)) / (2 * eps)
    assert torch.allclose(grad, fd, rtol=1e-6, atol=1e-7), (grad, fd)


def test_event_time_gradient_of_a_parameter_in_the_event_function():
    """Ground at level c: t_e = sqrt(2 (h - c) / g), so dt_e/dc = -1 / (g t_e)."""
    c = torch.tensor(0.3, dtype=D, requires_grad=True)
    sol = solve(falling([1.0, 2.0]), torch.tensor([0.0, 2.0], dtype=D),
                Event(lambda t, y: y[:, 0] - c, direction=-1))  # fmt: skip
    (dc,) = torch.autograd.grad(sol.event_t.sum(), c)
    t_e = torch.sqrt(2 * (torch.tensor([1.0, 2.0], dtype=D) - 0.3) / G)
    assert abs(float(dc) - float((-1 / (G * t_e)).sum())) < 1e-7


def test_unsupported_event_setups_are_refused_clearly():
    y0, t = falling([1.0, 2.0]), torch.tensor([0.0, 1.0], dtype=D)
    with pytest.raises(ValueError, match="terminal events only"):
        solve(y0, t, Event(height, terminal=False))
    with pytest.raises(ValueError, match="one event function"):
        solve(y0, t, [Event(height), Event(height)])
    with pytest.raises(ValueError, match="compile_step"):
        solve(y0, t, Event(height), compile_step=True)
    with pytest.raises(ValueError, match="continuous extension"):
        solve(y0, t, Event(height), method="dopri8")
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        solve(y0, t, lambda t, y: y[:, 0].min())
    with pytest.raises(TypeError, match="floating-point"):
        solve(y0, t, lambda t, y: y[:, 0] > 0)


def test_vectorised_root_finder_matches_the_scalar_one():
    """``locate_events`` runs ``locate_event``'s iteration on every bracket at once."""
    import numpy as np

    from odenet.solvers.events import locate_event, locate_events

    shifts = np.array([0.1, 0.7, 1.3, 2.0, 0.0])
    powers = np.array([1.0, 3.0, 5.0, 2.0, 1.0])

    def g_vec(t: np.ndarray) -> np.ndarray:
        return np.sign(t - shifts) * np.abs(t - shifts) ** powers

    lo, hi = np.zeros(5), np.full(5, 2.5)
    tol = np.full(5, 1e-14)
    got = locate_events(g_vec, g_vec(lo), g_vec(hi), lo, hi, tol)
    for i in range(5):
        one = locate_event(
            lambda c, i=i: float(np.sign(c - shifts[i]) * abs(c - shifts[i]) ** powers[i]),
            float(g_vec(lo)[i]), float(g_vec(hi)[i]), 0.0, 2.5, 1e-14,
        )  # fmt: skip
        assert got[i] == one
    assert np.allclose(got, shifts, atol=1e-4)  # odd powers are flat at the root


def test_per_sample_parameters_and_rows_of_t_in_both_directions():
    """Ground levels ``c`` (batch,) closed over by the event function; one sample solved
    forward, one backward in time (``h(t) = h0 - g t^2 / 2`` both ways)."""
    c = torch.tensor([0.2, -0.5], dtype=D, requires_grad=True)
    t = torch.tensor([[0.0, 0.1, 3.0], [0.0, -0.1, -3.0]], dtype=D)
    sol = solve(falling([1.0, 2.0]), t, Event(lambda t, y: y[:, 0] - c, direction=-1))
    drop = 2 * (torch.tensor([1.0, 2.0], dtype=D) - c.detach()) / G
    expect = torch.sqrt(drop) * torch.tensor([1.0, -1.0], dtype=D)
    assert torch.allclose(sol.event_t, expect, rtol=0, atol=1e-8)
    assert torch.allclose(sol.event_y[:, 0], c.detach(), atol=1e-8)
    assert not torch.isnan(sol.ys[1]).any() and torch.isnan(sol.ys[2]).all()
    (dc,) = torch.autograd.grad(sol.event_t.sum(), c)
    assert torch.allclose(dc, -1 / (G * expect), rtol=1e-7, atol=0)
