"""No silent results from the solver core (issue 15, section 3): a field that changes its
output shape or dtype after the first call, or modifies its input in place, an infinite
step size, and float32 times too fine to represent all raise, naming the time and the fix.
"""

from __future__ import annotations

import math

import pytest
import torch

import odenet
from tests.helpers import ALL_METHODS, FIXED_METHODS

F64 = torch.float64
T = torch.tensor([0.0, 1.0], dtype=F64)


class ShapeAfter:
    """``-y`` for the first ``n`` calls, then ``-y[:1]`` (broadcastable: rk4 used to add it)."""

    def __init__(self, n: int = 1, dtype: torch.dtype | None = None) -> None:
        self.n, self.calls, self.dtype = n, 0, dtype

    def __call__(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls <= self.n:
            return -y
        return -y.to(self.dtype) if self.dtype is not None else -y[..., :1]


def _kwargs(method: str) -> dict:
    fixed = method in dict(FIXED_METHODS)
    return {"method": method, "step_size": 0.1} if fixed else {"method": method}


@pytest.mark.parametrize(("method", "order"), ALL_METHODS)
def test_output_shape_change_after_first_call_raises_with_the_time(method: str, order: int) -> None:
    y0 = torch.ones(4, 3, dtype=F64)
    with pytest.raises(
        ValueError, match=r"at t=[0-9.e-]+ \(evaluation 2\) returned shape \(4, 1\)"
    ):
        odenet.odeint(ShapeAfter(), y0, T, **_kwargs(method))


def test_output_dtype_change_after_first_call_raises() -> None:
    y0 = torch.ones(3, dtype=F64)
    with pytest.raises(TypeError, match=r"evaluation 3\) returned dtype torch.float32 but the"):
        odenet.odeint(ShapeAfter(2, torch.float32), y0, T, method="rk4", step_size=0.1)


def test_first_call_with_wrong_shape_still_named_as_first_call() -> None:
    with pytest.raises(ValueError, match=r"func\(t0, y0\) returned shape \(1,\)"):
        odenet.odeint(lambda t, y: -y[:1], torch.ones(3, dtype=F64), T)


@pytest.mark.parametrize("later", [False, True])
def test_in_place_modification_of_y_raises(later: bool) -> None:
    calls = [0]

    def mutating(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        if later and calls[0] < 3:
            return -y
        y.mul_(1.0)  # harmless value, but an in-place write all the same
        return -y

    with pytest.raises(ValueError, match=r"modified its input y in place.*Return a new tensor"):
        odenet.odeint(mutating, torch.ones(3, dtype=F64), T, method="rk4", step_size=0.25)


def test_in_place_on_a_view_of_a_tuple_state_is_seen() -> None:
    """Tuple states are views of one flat vector: writing into one is caught too."""

    def f(t: torch.Tensor, y: tuple[torch.Tensor, torch.Tensor]) -> tuple:
        a, b = y
        a.add_(0.0)
        return -a, -b

    y0 = (torch.ones(2, dtype=F64), torch.ones(3, dtype=F64))
    with pytest.raises(ValueError, match="modified its input y in place"):
        odenet.odeint(f, y0, T)


def test_independent_mode_checks_every_evaluation() -> None:
    y0 = torch.ones(4, 3, dtype=F64)
    with pytest.raises(ValueError, match=r"at t.*\(evaluation 3\) returned shape \(4, 1\)"):
        odenet.solve(ShapeAfter(2), y0, T, batch_mode="independent")

    def mutating(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y.add_(0.0)
        return -y

    with pytest.raises(ValueError, match="modified its input y in place"):
        odenet.solve(mutating, y0, T, batch_mode="independent")


def test_checked_field_still_solves_exactly_and_under_inference_mode() -> None:
    """The checks change nothing for a correct field (exp(-1) to tolerance), also on
    inference tensors, which keep no version counter."""
    y0 = torch.ones(3, dtype=F64)
    ys = odenet.odeint(lambda t, y: -y, y0, T, rtol=1e-10, atol=1e-12)
    assert torch.allclose(ys[-1], torch.full((3,), math.exp(-1.0), dtype=F64), atol=1e-9)
    with torch.inference_mode():
        ys = odenet.odeint(lambda t, y: -y, y0.clone(), T, rtol=1e-10, atol=1e-12)
    assert torch.allclose(ys[-1], torch.full((3,), math.exp(-1.0), dtype=F64), atol=1e-9)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, 0.0])
def test_non_finite_step_size_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="step_size must be a positive"):
        odenet.odeint(lambda t, y: -y, torch.ones(3), T.float(), method="rk4", step_size=bad)


def test_infinite_first_step_is_refused() -> None:
    with pytest.raises(ValueError, match="first_step must be a positive finite number"):
        odenet.odeint(lambda t, y: -y, torch.ones(3), T.float(), first_step=math.inf)


# --- float32 times that cannot be represented ----------------------------------------------


def test_float32_times_that_collapse_name_the_dtype() -> None:
    t = torch.tensor([0.0, 1e6, 1e6 + 0.01])  # float32: the last two are both 1e6
    with pytest.raises(ValueError, match=r"float32 cannot tell them apart.*float64"):
        odenet.odeint(lambda t, y: -y, torch.ones(2), t)


def test_float32_times_rounded_beyond_1_32_of_their_gap_are_refused() -> None:
    """Near 1e6 float32 numbers are 0.0625 apart: a gap of 0.5 may be off by 6%."""
    t = torch.tensor([0.0, 1e6, 1e6 + 0.5])
    assert float(t[2] - t[1]) == 0.5
    with pytest.raises(ValueError, match=r"0.0625 apart.*1/32.*Shift the time origin"):
        odenet.odeint(lambda t, y: -y, torch.ones(2), t)


def test_float64_times_with_a_float32_state_are_checked_in_the_state_dtype() -> None:
    """func receives times in the state's dtype, so float64 t does not help a float32
    state; a float64 state does."""
    t = torch.tensor([0.0, 1e6, 1e6 + 0.5], dtype=F64)
    with pytest.raises(ValueError, match=r"too fine for torch\.float32 times"):
        odenet.odeint(lambda t, y: -y, torch.ones(2), t)
    ys = odenet.odeint(lambda t, y: -1e-6 * y, torch.ones(2, dtype=F64), t, rtol=1e-10)
    assert torch.allclose(ys[-1], torch.full((2,), math.exp(-1.0000005), dtype=F64), rtol=1e-8)


def test_float32_times_at_the_limit_and_float64_times_are_accepted() -> None:
    """A gap of 16 ulps (1.0 at 1e6) passes; the same times in float64 solve the
    time-dependent ODE y' = cos(t) exactly enough: y(t) = sin(t) - sin(t0) + y0."""
    f = lambda t, y: torch.cos(t).expand_as(y)  # noqa: E731
    odenet.odeint(f, torch.zeros(1), torch.tensor([1e6, 1e6 + 1.0]), rtol=1e-5, atol=1e-6)
    t = torch.tensor([1e6, 1e6 + 0.5], dtype=F64)
    ys = odenet.odeint(f, torch.zeros(1, dtype=F64), t, rtol=1e-10, atol=1e-12)
    want = math.sin(1e6 + 0.5) - math.sin(1e6)
    assert abs(float(ys[-1, 0]) - want) < 1e-8


def test_fixed_step_too_fine_for_float32_times_is_refused() -> None:
    t = torch.tensor([1e6, 1e6 + 4.0])
    with pytest.raises(ValueError, match=r"the fixed step size is 0\.25, too fine"):
        odenet.odeint(lambda t, y: -y, torch.ones(2), t, method="rk4", step_size=0.25)
    # float64 t with a float32 state: func receives times in the state's dtype, so the
    # same rounding would happen and the step is refused too
    with pytest.raises(ValueError, match=r"the fixed step size is 0\.25, too fine"):
        odenet.odeint(lambda t, y: -y, torch.ones(2), t.double(), method="rk4", step_size=0.25)
    # the same step with float64 times and state is fine: 16 rk4 steps on y' = -y multiply
    # y by the stability polynomial R(-h) = 1 - h + h^2/2 - h^3/6 + h^4/24 each
    y0 = torch.ones(2, dtype=F64)
    ys = odenet.odeint(lambda t, y: -y, y0, t.double(), method="rk4", step_size=0.25)
    h = 0.25
    r = 1 - h + h**2 / 2 - h**3 / 6 + h**4 / 24
    assert torch.allclose(ys[-1], torch.full((2,), r**16, dtype=F64), rtol=1e-12)


def test_independent_mode_rows_of_float32_times_are_checked_too() -> None:
    t = torch.tensor([[1e6, 1e6 + 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"a row of t is 0\.5, too fine for torch\.float32"):
        odenet.solve(lambda t, y: -y, torch.ones(2, 1), t, batch_mode="independent")
