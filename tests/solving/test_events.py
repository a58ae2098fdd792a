"""Several events with directions, non-terminal events with resets (bouncing ball against
its closed form), differentiable event times through resets."""

from __future__ import annotations

import math

import pytest
import torch

import odenet
from odenet import Event

D = torch.float64
G = 9.81


def ball(t, y):
    """``y = (height, velocity)``: free fall."""
    return torch.stack([y[1], torch.full_like(y[1], -G)])


def bounce_times(h0: float, e: float, n: int) -> list[float]:
    """Impact times of a ball dropped from rest at ``h0`` with restitution ``e``."""
    t1 = math.sqrt(2 * h0 / G)
    v = G * t1
    times = [t1]
    for _ in range(n - 1):
        v *= e
        times.append(times[-1] + 2 * v / G)
    return times


def bounce_event(e: float = 0.8) -> Event:
    return Event(
        fn=lambda t, y: y[0],
        direction=-1,
        terminal=False,
        reset=lambda t, y: torch.stack([y[0], -e * y[1]]),
    )


def test_bouncing_ball_matches_the_closed_form_over_five_bounces():
    expect = bounce_times(1.0, 0.8, 6)
    t_end = 0.5 * (expect[4] + expect[5])  # after the 5th bounce, before the 6th
    y0 = torch.tensor([1.0, 0.0], dtype=D)
    t = torch.tensor([0.0, t_end], dtype=D)
    sol = odenet.solve(ball, y0, t, event_fn=[bounce_event()], rtol=1e-10, atol=1e-12)
    got = [float(r.t) for r in sol.events]
    assert len(got) == 5, got
    for a, b in zip(got, expect[:5], strict=True):
        assert abs(a - b) < 1e-6
    assert sol.status == "success"
    # state at t_end: rising/falling from the 5th bounce with speed e^5 v1
    v5 = 0.8**5 * G * expect[0]
    s = t_end - expect[4]
    torch.testing.assert_close(
        sol.ys[-1],
        torch.tensor([v5 * s - G * s * s / 2, v5 - G * s], dtype=D),
        rtol=1e-7,
        atol=1e-8,
    )
    for r in sol.events:  # pre-reset states: on the ground, falling
        assert abs(float(r.y[0])) < 1e-8 and float(r.y[1]) < 0
    mid = 0.5 * (expect[1] + expect[2])  # dense output across resets: between bounces 2, 3
    v2, s2 = 0.8**2 * G * expect[0], mid - expect[1]
    assert abs(float(sol.evaluate(mid)[0]) - (v2 * s2 - G * s2 * s2 / 2)) < 1e-7


def test_terminal_event_after_non_terminal_ones_and_outputs_across_resets():
    expect = bounce_times(1.0, 0.8, 4)
    stop = Event(fn=lambda t, y: t - (expect[2] + 0.1), direction=1, terminal=True)
    t = torch.linspace(0, 3.0, 31, dtype=D)
    sol = odenet.solve(ball, torch.tensor([1.0, 0.0], dtype=D), t, event_fn=[bounce_event(), stop])
    assert sol.status == "event" and [r.index for r in sol.events] == [0, 0, 0, 1]
    assert abs(float(sol.event_t) - (expect[2] + 0.1)) < 1e-9
    assert len(sol.ts) == int((expect[2] + 0.1) / 0.1) + 1
    # an output time between the 1st and 2nd bounce follows the closed form
    k = int(expect[0] / 0.1) + 2
    s = float(t[k]) - expect[0]
    v1 = 0.8 * G * expect[0]
    assert abs(float(sol.ys[k, 0]) - (v1 * s - G * s * s / 2)) < 1e-6


@pytest.mark.parametrize(
    ("direction", "t_stop"), [(1, 1.5 * math.pi), (-1, 0.5 * math.pi), (0, 0.5 * math.pi)]
)
def test_direction_filters_crossings(direction, t_stop):
    """``y = (cos t, -sin t)``: y0 crosses zero downward at pi/2, upward at 3 pi/2."""
    rot = lambda t, y: torch.stack([y[1], -y[0]])  # noqa: E731
    y0 = torch.tensor([1.0, 0.0], dtype=D)
    t = torch.tensor([0.0, 6.0], dtype=D)
    ev = Event(lambda t, y: y[0], direction=direction, terminal=True)
    sol = odenet.solve(rot, y0, t, event_fn=ev, rtol=1e-10, atol=1e-12)
    assert abs(float(sol.event_t) - t_stop) < 1e-8
    event_t, ys = odenet.odeint(rot, y0, t, event_fn=[ev], rtol=1e-10, atol=1e-12)
    assert abs(float(event_t) - t_stop) < 1e-8 and ys.shape == (2, 2)


def test_non_terminal_events_without_reset_are_recorded():
    rot = lambda t, y: torch.stack([y[1], -y[0]])  # noqa: E731
    evs = [
        Event(lambda t, y: y[0], direction=0, terminal=False),
        Event(lambda t, y: y[1] - 0.5, direction=1, terminal=False),
    ]
    sol = odenet.solve(
        rot,
        torch.tensor([1.0, 0.0], dtype=D),
        torch.tensor([0.0, 10.0], dtype=D),
        event_fn=evs,
        rtol=1e-10,
        atol=1e-12,
    )
    # y0 = cos t is zero at pi/2 + k pi; y1 = -sin t rises through 0.5 at 7 pi/6 + 2 k pi
    # (and falls through it, which direction=+1 ignores, at 11 pi/6 + 2 k pi)
    ups = [(7 * math.pi / 6 + 2 * k * math.pi, 1) for k in range(2)]
    want = sorted([(math.pi / 2 + k * math.pi, 0) for k in range(3)] + ups)
    got = [(float(r.t), r.index) for r in sol.events]
    assert [i for _, i in got] == [i for _, i in want]
    for (a, _), (b, _) in zip(got, want, strict=True):
        assert abs(a - b) < 1e-8
    torch.testing.assert_close(sol.ys[-1], torch.tensor([math.cos(10), -math.sin(10)], dtype=D))


def test_event_time_gradient_through_resets():
    """The 3rd impact time scales as sqrt(h0): d t_3 / d h0 = t_3 / (2 h0)."""
    h0 = torch.tensor(1.0, dtype=D, requires_grad=True)
    expect = bounce_times(1.0, 0.8, 4)
    third = Event(lambda t, y: t - 0.0, terminal=False)  # never fires (starts at 0, rises)
    y0 = torch.stack([h0, torch.zeros((), dtype=D)])
    t = torch.tensor([0.0, 0.5 * (expect[2] + expect[3])], dtype=D)
    sol = odenet.solve(ball, y0, t, event_fn=[bounce_event(), third], rtol=1e-10, atol=1e-12)
    assert [r.index for r in sol.events] == [0, 0, 0]
    (g,) = torch.autograd.grad(sol.events[2].t, h0, retain_graph=True)
    assert abs(float(g) - expect[2] / 2) < 1e-6

    # and the final state against central finite differences of the closed form
    def final_height(h: float) -> float:
        ts = bounce_times(h, 0.8, 3)
        v = 0.8**3 * G * ts[0]
        s = float(t[-1]) - ts[2]
        return v * s - G * s * s / 2

    (gy,) = torch.autograd.grad(sol.ys[-1][0], h0)
    fd = (final_height(1 + 1e-6) - final_height(1 - 1e-6)) / 2e-6
    assert abs(float(gy) - fd) < 1e-5


def test_tuple_state_and_errors():
    y0 = (torch.tensor([1.0], dtype=D), torch.tensor([0.0], dtype=D))
    f = lambda t, y: (y[1], torch.full_like(y[1], -G))  # noqa: E731
    ev = Event(
        lambda t, y: y[0][0], direction=-1, terminal=False, reset=lambda t, y: (y[0], -0.8 * y[1])
    )
    sol = odenet.solve(
        f, y0, torch.tensor([0.0, 1.0], dtype=D), event_fn=[ev], rtol=1e-10, atol=1e-12
    )
    assert abs(float(sol.events[0].t) - math.sqrt(2 / G)) < 1e-8
    with pytest.raises(ValueError, match="direction"):
        Event(lambda t, y: y, direction=2)
    with pytest.raises(ValueError, match="non-terminal"):
        Event(lambda t, y: y, reset=lambda t, y: y)
    with pytest.raises(TypeError, match=r"odenet\.Event"):
        odenet.solve(
            ball,
            torch.ones(2, dtype=D),
            torch.tensor([0.0, 1.0], dtype=D),
            event_fn=[lambda t, y: y[0]],
        )
    with pytest.raises(ValueError, match="autograd"):
        odenet.solve(
            ball,
            torch.ones(2, dtype=D),
            torch.tensor([0.0, 1.0], dtype=D),
            event_fn=[bounce_event()],
            gradient="adjoint",
        )


def test_zeno_ball_raises_too_many_events(monkeypatch):
    import odenet.solving.event_loop as loop

    monkeypatch.setattr(loop, "MAX_EVENTS", 8)
    with pytest.raises(odenet.TooManyEvents) as info:
        odenet.solve(
            ball,
            torch.tensor([1.0, 0.0], dtype=D),
            torch.tensor([0.0, 10.0], dtype=D),
            event_fn=[bounce_event(0.5)],
        )
    assert info.value.max_events == 8 and 0 < info.value.t < 10


def test_independent_batch_mode_refuses_non_terminal_events():
    """Independent mode takes terminal per-sample events only (tests/solvers/
    test_independent_events.py); resets need batch_mode='joint'."""
    with pytest.raises(ValueError, match="terminal events only"):
        odenet.solve(
            ball,
            torch.ones(2, 2, dtype=D),
            torch.tensor([0.0, 1.0], dtype=D),
            event_fn=[bounce_event()],
            batch_mode="independent",
        )


def test_fixed_step_method_keeps_its_step_across_events():
    """RK4 is exact on the ball's quadratic flight; n_steps sets h over the whole span."""
    expect = bounce_times(1.0, 0.8, 3)
    t = torch.tensor([0.0, 0.5 * (expect[1] + expect[2])], dtype=D)
    sol = odenet.solve(
        ball,
        torch.tensor([1.0, 0.0], dtype=D),
        t,
        event_fn=[bounce_event()],
        method="rk4",
        n_steps=40,
    )
    assert [round(float(r.t), 9) for r in sol.events] == [round(x, 9) for x in expect[:2]]
    assert sol.stats.n_accepted <= 40 + 2  # one shortened step per event at most


def batch_ball(t, y):
    """``y: (batch, 2)`` = (height, velocity) per ball."""
    return torch.stack([y[:, 1], torch.full_like(y[:, 1], -G)], dim=1)


def test_per_sample_bounces_follow_each_balls_closed_form():
    heights = [1.0, 0.5, 2.0]
    y0 = torch.tensor([[h, 0.0] for h in heights], dtype=D)
    bounce = Event(
        fn=lambda t, y: y[:, 0],
        direction=-1,
        terminal=False,
        reset=lambda t, y: torch.stack([y[:, 0], -0.8 * y[:, 1]], dim=1),
        per_sample=True,
    )
    t = torch.tensor([0.0, 2.5], dtype=D)
    sol = odenet.solve(batch_ball, y0, t, event_fn=[bounce], rtol=1e-10, atol=1e-12)
    for b, h in enumerate(heights):
        got = [float(r.t) for r in sol.events if r.sample == b]
        want = [x for x in bounce_times(h, 0.8, 12) if x < 2.5]
        assert (
            len(got) == len(want) and max(abs(x - w) for x, w in zip(got, want, strict=True)) < 1e-6
        )
    times = [float(r.t) for r in sol.events]
    assert times == sorted(times)


def test_per_sample_terminal_events_freeze_each_sample_with_gradients():
    h0 = torch.tensor([1.0, 0.3, 2.0], dtype=D, requires_grad=True)
    y0 = torch.stack([h0, torch.zeros(3, dtype=D)], dim=1)
    ground = Event(lambda t, y: y[:, 0], direction=-1, terminal=True, per_sample=True)
    t = torch.tensor([0.0, 0.5, 5.0], dtype=D)
    sol = odenet.solve(batch_ball, y0, t, event_fn=[ground], rtol=1e-10, atol=1e-12)
    impact = {r.sample: r.t for r in sol.events}
    want = [math.sqrt(2 * h / G) for h in (1.0, 0.3, 2.0)]
    for b in range(3):
        assert abs(float(impact[b].detach()) - want[b]) < 1e-8
    assert sol.status == "event" and len(sol.ts) == 2  # all frozen before t = 5
    # the ball dropped from 0.3 hit the ground (t = 0.247) and stayed there at t = 0.5
    torch.testing.assert_close(
        sol.ys[1, 1], torch.tensor([0.0, -G * want[1]], dtype=D), rtol=0, atol=1e-8
    )
    (g,) = torch.autograd.grad(impact[2], h0)
    torch.testing.assert_close(
        g, torch.tensor([0.0, 0.0, 1 / (G * want[2])], dtype=D), rtol=1e-6, atol=1e-9
    )


def test_per_sample_event_must_return_one_value_per_sample():
    ev = Event(lambda t, y: y[:, 0].sum(), per_sample=True)
    with pytest.raises(ValueError, match="one value per sample"):
        odenet.solve(
            batch_ball, torch.ones(3, 2, dtype=D), torch.tensor([0.0, 1.0], dtype=D), event_fn=[ev]
        )


def _decay(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -y


def test_event_function_must_return_one_value_or_be_per_sample() -> None:
    """A vector-valued fn without per_sample (used to end in a raw IndexError) and a
    non-tensor fn (raw AttributeError) are refused with the fix."""
    y0 = torch.tensor([[1.0], [2.0], [4.0]], dtype=torch.float64)
    t = torch.tensor([0.0, 3.0], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"event_fn\[0\].*one value.*per_sample=True"):
        odenet.solve(_decay, y0, t, event_fn=[Event(lambda t, y: y[:, 0] - 0.5, terminal=False)])
    with pytest.raises(TypeError, match=r"event_fn\[0\].*must return a tensor; got float"):
        odenet.solve(_decay, y0, t, event_fn=[Event(lambda t, y: 0.5, terminal=False)])


def test_reset_must_keep_the_state_dtype() -> None:
    """A reset returning float32 for a float64 solve used to continue silently in float32."""
    y0 = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    t = torch.tensor([0.0, 3.0], dtype=torch.float64)
    ev = Event(lambda t, y: y[0, 0] - 0.5, terminal=False, reset=lambda t, y: y.float())
    with pytest.raises(TypeError, match=r"Event\.reset.*dtype"):
        odenet.solve(_decay, y0, t, event_fn=[ev])
    parts = (y0, y0[:, 0].clone())
    tup = Event(lambda t, y: y[0][0, 0] - 0.5, terminal=False, reset=lambda t, y: (y[1], y[0]))
    with pytest.raises(ValueError, match=r"Event.reset\(t, y\)\[0\] must return y's shape"):
        odenet.solve(lambda t, y: (-y[0], -y[1]), parts, t, event_fn=[tup])


def test_n_steps_with_an_open_ended_search_names_step_size() -> None:
    """n_steps over t = [0, inf] used to report 'step_size=inf ... pass n_steps=1'."""
    y0 = torch.tensor([1.0, 0.0], dtype=D)
    t = torch.tensor([0.0, math.inf], dtype=D)
    ev = [Event(lambda t, y: y[0], direction=-1)]
    with pytest.raises(ValueError, match=r"n_steps=100 divides.*give step_size"):
        odenet.solve(ball, y0, t, method="rk4", n_steps=100, event_fn=ev)
    sol = odenet.solve(ball, y0, t, method="rk4", step_size=0.01, event_fn=ev)
    assert abs(float(sol.event_t) - math.sqrt(2 / G)) < 1e-9


def test_event_list_solves_report_jacobian_and_lu_counts() -> None:
    """Stats of a solve with an Event list carry the implicit method's Jacobian/LU counts
    (they were dropped: 0 and 0) like the solve without events."""
    y0 = torch.tensor([1.0, 0.0], dtype=D)
    t = torch.tensor([0.0, 1.0], dtype=D)
    ev = [Event(lambda t, y: y[0] - 2.0, terminal=False)]  # never fires
    plain = odenet.solve(ball, y0, t, method="rodas5")
    with_events = odenet.solve(ball, y0, t, method="rodas5", event_fn=ev)
    assert plain.stats.n_lu > 0
    assert (with_events.stats.n_jacobians, with_events.stats.n_lu) == (
        plain.stats.n_jacobians,
        plain.stats.n_lu,
    )
