"""Bad input gets a clear error naming the argument, the value and the fix; nothing hangs."""

from __future__ import annotations

import math

import pytest
import torch

import odenet
from odenet import MaxStepsReached, NonFiniteState, StepSizeUnderflow

Y0 = torch.ones(3, dtype=torch.float64)
T = torch.tensor([0.0, 1.0], dtype=torch.float64)


def decay(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -y


@pytest.mark.parametrize(
    ("t", "exc", "pattern"),
    [
        (torch.zeros(2, 2, dtype=torch.float64), ValueError, r"t must be 1-D; got shape \(2, 2\)"),
        (torch.tensor([0.0], dtype=torch.float64), ValueError, "at least 2 times.*got 1"),
        (
            torch.tensor([0.0, 0.5, 0.5, 1.0], dtype=torch.float64),
            ValueError,
            r"strictly increasing or decreasing; got t\[2\]=0.5 after t\[1\]=0.5",
        ),
        (
            torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64),
            ValueError,
            r"t\[2\]=0.5 after t\[1\]=1.0",
        ),
        (torch.tensor([0, 1]), TypeError, "t must be floating point; got torch.int64"),
        (torch.tensor([0.0, float("nan")], dtype=torch.float64), ValueError, "t must be finite"),
        ([0.0, 1.0], TypeError, "t must be a 1-D torch.Tensor"),
    ],
)
def test_bad_t(t: object, exc: type, pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        odenet.odeint(decay, Y0, t)


def test_t_on_another_device_is_named() -> None:
    t_meta = torch.tensor([0.0, 1.0], device="meta")
    with pytest.raises(ValueError, match="t is on meta but y0 is on cpu"):
        odenet.odeint(decay, Y0, t_meta)


@pytest.mark.parametrize(
    ("y0", "exc", "pattern"),
    [
        (
            torch.ones(3, dtype=torch.int64),
            TypeError,
            "y0 must have a floating-point dtype; got torch.int64",
        ),
        (torch.tensor([1.0, float("nan")]), ValueError, "y0 contains NaN or inf"),
        (torch.tensor([1.0, float("inf")]), ValueError, "y0 contains NaN or inf"),
        ([1.0, 2.0], TypeError, r"y0\[0\] must be a torch.Tensor"),
        ("abc", TypeError, "y0 must be a tensor or a non-empty tuple"),
    ],
)
def test_bad_y0(y0: object, exc: type, pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        odenet.odeint(decay, y0, T)


def test_func_wrong_shape_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"returned shape \(2,\) but the state has shape \(3,\)"):
        odenet.odeint(lambda t, y: y[:2], Y0, T)


def test_func_wrong_dtype() -> None:
    with pytest.raises(
        TypeError, match=r"returned dtype torch\.float32 but the state is torch\.float64"
    ):
        odenet.odeint(lambda t, y: y.float(), Y0, T)


def test_func_not_callable() -> None:
    with pytest.raises(TypeError, match="func must be callable"):
        odenet.odeint(3, Y0, T)  # type: ignore[arg-type]


def test_unknown_method_lists_valid_ones() -> None:
    with pytest.raises(
        ValueError, match=r"method='dopri' is not a known method; choose one of \['adaptive_heun'"
    ):
        odenet.odeint(decay, Y0, T, method="dopri")


@pytest.mark.parametrize("name", ["rtol", "atol"])
@pytest.mark.parametrize("value", [0.0, -1e-3, float("nan")])
def test_tolerances_must_be_positive(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{name} must be positive and finite; got {name}="):
        odenet.odeint(decay, Y0, T, **{name: value})


def test_fixed_step_needs_step_size() -> None:
    with pytest.raises(ValueError, match="method='rk4' is fixed-step and needs step_size"):
        odenet.odeint(decay, Y0, T, method="rk4")
    with pytest.raises(
        ValueError, match=r"step_size must be a positive number; got step_size=-0\.1"
    ):
        odenet.odeint(decay, Y0, T, method="rk4", step_size=-0.1)
    with pytest.raises(ValueError, match="step_size must be a positive number; got step_size=0"):
        odenet.odeint(decay, Y0, T, method="euler", options={"step_size": 0})


def test_adaptive_only_options_rejected_for_fixed_step() -> None:
    with pytest.raises(
        ValueError, match=r"options\['first_step'\] applies to adaptive methods only"
    ):
        odenet.odeint(decay, Y0, T, method="rk4", step_size=0.1, options={"first_step": 0.1})
    with pytest.raises(ValueError, match=r"first_step=0\.1 applies to adaptive methods only"):
        odenet.odeint(decay, Y0, T, method="rk4", step_size=0.1, first_step=0.1)
    with pytest.raises(ValueError, match=r"step_size=0\.1 applies to fixed-step methods only"):
        odenet.odeint(decay, Y0, T, method="dopri5", step_size=0.1)


def test_unknown_option_raises_not_warns() -> None:
    with pytest.raises(ValueError, match=r"unknown option 'fist_step' .* valid keys: \["):
        odenet.odeint(decay, Y0, T, options={"fist_step": 0.1})


def test_too_many_fixed_steps_fail_before_solving() -> None:
    with pytest.raises(ValueError, match="makes 1000000000 steps, more than max_steps=100000"):
        odenet.odeint(decay, Y0, T, method="euler", step_size=1e-9)


def test_max_steps_reached_carries_time_and_step() -> None:
    with pytest.raises(
        MaxStepsReached, match="Raise max_steps, loosen rtol/atol, or suspect a stiff"
    ) as info:
        odenet.odeint(decay, Y0, torch.tensor([0.0, 100.0], dtype=torch.float64), max_steps=5)
    assert 0.0 < info.value.t < 100.0 and info.value.dt > 0
    assert info.value.max_steps == 5


def test_step_size_underflow_at_a_singularity() -> None:
    """y' = y^2 from y0 = 1 blows up at t = 1: the step must underflow there, not hang."""
    with pytest.raises((StepSizeUnderflow, NonFiniteState)) as info:
        odenet.odeint(
            lambda t, y: y * y,
            torch.ones(1, dtype=torch.float64),
            torch.tensor([0.0, 2.0], dtype=torch.float64),
            max_steps=100_000,
        )
    assert info.value.t == pytest.approx(1.0, abs=1e-3)
    assert "stiff" in str(info.value) or "NaN" in str(info.value)


def test_nan_mid_solve_is_rejected_then_reported_with_time() -> None:
    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.where(t > 0.5, torch.full_like(y, float("nan")), -y)

    with pytest.raises(NonFiniteState, match=r"NaN or inf near t=0\.5") as info:
        odenet.odeint(f, Y0, T)
    assert info.value.t == pytest.approx(0.5, abs=1e-6)


def test_transient_nan_is_survived_by_shrinking_the_step() -> None:
    """NaN only for y far from the trajectory: a too-large first step is rejected, not fatal."""

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.where(y < 0.0, torch.full_like(y, float("nan")), -5.0 * y)

    sol = odenet.solve(f, Y0, T, first_step=0.9)
    assert sol.stats.n_rejected >= 1
    torch.testing.assert_close(sol.ys[-1], Y0 * torch.exp(torch.tensor(-5.0, dtype=torch.float64)))


def test_fixed_step_nan_reports_first_bad_output() -> None:
    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y * torch.where(
            t > 0.3, torch.tensor(float("inf"), dtype=y.dtype), torch.tensor(1.0, dtype=y.dtype)
        )

    with pytest.raises(NonFiniteState, match=r"first non-finite output t\[2\]"):
        odenet.odeint(
            f,
            Y0,
            torch.tensor([0.0, 0.2, 0.6, 1.0], dtype=torch.float64),
            method="rk4",
            step_size=0.1,
        )


def test_event_fn_must_return_one_number() -> None:
    with pytest.raises(ValueError, match="event_fn must return a single number"):
        odenet.odeint(decay, Y0, T, event_fn=lambda t, y: y)


def test_evaluate_outside_span() -> None:
    sol = odenet.solve(decay, Y0, T)
    with pytest.raises(ValueError, match="outside the solved span"):
        sol.evaluate(2.0)
    sol2 = odenet.solve(decay, Y0, T, dense=False)
    with pytest.raises(ValueError, match="dense=True"):
        sol2.evaluate(0.5)


@pytest.mark.parametrize(
    ("event_fn", "pattern"),
    [
        (lambda t, y: y[0] > 0.5, "got torch.bool"),
        (lambda t, y: 0.5, "got float"),
    ],
)
def test_event_fn_must_return_a_floating_tensor(event_fn, pattern: str) -> None:
    with pytest.raises(TypeError, match=f"event_fn must return a floating-point tensor.*{pattern}"):
        odenet.odeint(decay, Y0, T, event_fn=event_fn)


def test_event_fn_on_a_state_requiring_grad_does_not_warn() -> None:
    import warnings

    y0 = Y0.clone().requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        event_t, _ = odenet.odeint(decay, y0, T, event_fn=lambda t, y: y[0] - 0.5)
    assert float(event_t.detach()) == pytest.approx(0.6931471805599453, abs=1e-7)


def test_half_precision_needs_a_reachable_tolerance() -> None:
    y0 = torch.ones(3, dtype=torch.float16)
    t = torch.tensor([0.0, 1.0])
    with pytest.raises(ValueError, match=r"rtol=1e-07 is far below what a torch.float16 state"):
        odenet.odeint(decay, y0, t)
    ys = odenet.odeint(decay, y0, t, rtol=1e-3, atol=1e-4)
    assert ys.dtype == torch.float16
    assert float(ys[-1, 0]) == pytest.approx(0.36788, abs=2e-3)


def test_initial_step_with_overflowing_derivative_raises_named_error() -> None:
    """Hairer's initial step divides by the norm of func(t0, y0): an infinite or overflowing
    derivative used to raise ZeroDivisionError; it is a NonFiniteState at t0 now."""
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    y0 = torch.full((2,), 1e3, dtype=torch.float64)
    with pytest.raises(odenet.NonFiniteState, match="func\\(t0, y0\\)") as info:
        odenet.odeint(lambda t, y: y * 1e305, y0, t)
    assert info.value.t == 0.0
    with pytest.raises(odenet.NonFiniteState):
        odenet.odeint(lambda t, y: y * math.inf, torch.ones(2), t.float())
