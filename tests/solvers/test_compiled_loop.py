"""``compile_loop=True``: the whole loop in one compiled ``torch.while_loop``.

It must take the eager loop's steps (same counts, results equal to rounding), fill every
requested output (also when a step passes more outputs than the loop's window), and refuse
what it cannot do. One module-level field and a few shapes keep the compilations to four.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import odenet
from odenet.errors import MaxStepsReached, NonFiniteState

#: each distinct shape compiles (tens of seconds on CPU)
slow = pytest.mark.slow


class Linear(nn.Module):
    """``dy/dt = y A^T`` on ``(4, 3)`` states: ``y(t) = y0 expm(t A)^T``."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(3)
        a = torch.randn(3, 3, generator=g, dtype=torch.float64)
        self.register_buffer("a", 0.5 * (a - a.T) - 0.3 * torch.eye(3, dtype=torch.float64))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y @ self.a.T


FIELD = Linear()
Y0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)


def exact(t: torch.Tensor) -> torch.Tensor:
    expm = torch.linalg.matrix_exp(t[:, None, None] * FIELD.a)  # (T, 3, 3)
    return torch.einsum("bj,tij->tbi", Y0, expm)


def both(t: torch.Tensor, **kw: object) -> tuple[odenet.Solution, odenet.Solution]:
    with torch.no_grad():
        eager = odenet.solve(FIELD, Y0, t, dense=False, **kw)
        loop = odenet.solve(FIELD, Y0, t, compile_loop=True, **kw)
    return eager, loop


@slow
@pytest.mark.parametrize("reverse", [False, True])
def test_adaptive_loop_takes_the_eager_steps(reverse: bool) -> None:
    t = torch.tensor([0.0, 0.4, 1.1, 2.0, 3.5, 5.0], dtype=torch.float64)
    if reverse:
        t = 5.0 - t
    eager, loop = both(t, method="dopri5", rtol=1e-7, atol=1e-9)
    assert (loop.stats.n_accepted, loop.stats.n_rejected) == (
        eager.stats.n_accepted,
        eager.stats.n_rejected,
    )
    assert loop.stats.nfe == eager.stats.nfe
    assert loop.dense is None
    torch.testing.assert_close(loop.ys, eager.ys, rtol=1e-12, atol=1e-13)
    ref = exact(t - t[0])
    assert (loop.ys - ref).abs().max() < 1e-6


@slow
def test_more_outputs_in_one_step_than_the_window_are_all_filled() -> None:
    t = torch.linspace(0.0, 5.0, 801, dtype=torch.float64)  # eager steps span ~16 outputs
    eager, loop = both(t, method="dopri5", rtol=1e-7, atol=1e-9)
    assert eager.stats.n_accepted < 800 // 8  # so the window must shorten some steps
    ref = exact(t)
    assert (eager.ys - ref).abs().max() < 1e-6
    assert (loop.ys - ref).abs().max() < 1e-6
    # steps shortened to end on the 8th pending output: at least 800 / 8 of them
    assert loop.stats.n_accepted >= 800 // 8


@slow
def test_fixed_grid_outputs_between_grid_points_equal_eager() -> None:
    t = torch.tensor([0.0, 0.33, 0.5, 1.27, 1.5, 2.0], dtype=torch.float64)
    eager, loop = both(t, method="rk4", step_size=0.1)
    assert loop.stats.n_accepted == eager.stats.n_accepted == 20
    # every step evaluates f(t1, y1) for the next one, the last included (eager skips it)
    assert loop.stats.nfe == eager.stats.nfe + 1 == 1 + 20 * 4
    torch.testing.assert_close(loop.ys, eager.ys, rtol=1e-12, atol=1e-13)
    assert (loop.ys - exact(t)).abs().max() < 3e-5  # h = 0.1: rk4 and Hermite are O(h^4)


@slow
def test_other_tolerances_times_and_states_do_not_recompile() -> None:
    from torch._dynamo.utils import counters

    t = torch.tensor([0.0, 0.4, 1.1, 2.0, 3.5, 5.0], dtype=torch.float64)
    with torch.no_grad():
        odenet.solve(FIELD, Y0, t, method="dopri5", rtol=1e-7, atol=1e-9, compile_loop=True)
        graphs = counters["stats"]["unique_graphs"]
        kw = {"method": "dopri5", "rtol": 1e-5, "atol": 1e-7}
        again = odenet.solve(FIELD, 2 * Y0, 0.5 * t, compile_loop=True, **kw)
        reference = odenet.solve(FIELD, 2 * Y0, 0.5 * t, dense=False, **kw)
    assert counters["stats"]["unique_graphs"] == graphs
    assert again.stats.n_accepted == reference.stats.n_accepted
    torch.testing.assert_close(again.ys, reference.ys, rtol=1e-12, atol=1e-13)


@slow
def test_step_budget_raises_max_steps_reached() -> None:
    t = torch.tensor([0.0, 0.4, 1.1, 2.0, 3.5, 5.0], dtype=torch.float64)
    with torch.no_grad(), pytest.raises(MaxStepsReached) as err:
        odenet.solve(FIELD, Y0, t, method="dopri5", rtol=1e-7, atol=1e-9, max_steps=3,
                     compile_loop=True)  # fmt: skip
    assert 0.0 < err.value.t < 5.0


class NaNAfterHalf(nn.Module):
    """``-y`` until t = 0.5, NaN after: no step can pass 0.5."""

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -y + torch.where(t > 0.5, torch.full_like(y, math.nan), torch.zeros_like(y))


@slow
def test_a_field_that_turns_nan_raises_non_finite_state_where_the_eager_loop_does() -> None:
    y0 = torch.ones(3, 2, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with torch.no_grad(), pytest.raises(NonFiniteState) as err:
        odenet.solve(NaNAfterHalf(), y0, t, compile_loop=True)
    assert err.value.t == pytest.approx(0.5, abs=1e-9)


def _refused(match: str, **kw: object) -> None:
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match=match):
        odenet.solve(FIELD, Y0, t, compile_loop=True, **kw)


@pytest.mark.parametrize(
    ("match", "kw"),
    [
        ("event_fn", {"event_fn": lambda t, y: y[0, 0]}),
        ("method='kvaerno5'", {"method": "kvaerno5"}),
        ("jump_t", {"options": {"jump_t": [0.5]}}),
        ("choose one", {"compile_step": True}),
        ("batch_mode='joint'", {"batch_mode": "independent"}),
        ("gradient='adjoint'", {"gradient": "adjoint"}),
        ("got args", {"args": torch.ones(1)}),
        ("stiffness_check", {"options": {"stiffness_check": True}}),
        ("progress bar", {"progress": True}),
    ],
)
def test_unsupported_combinations_are_refused_before_compiling(match: str, kw: dict) -> None:
    with torch.no_grad():
        _refused(match, **kw)


def test_grad_mode_is_refused_rather_than_dropping_gradients() -> None:
    _refused(r"grad mode is on: call it under torch.no_grad\(\)")


@pytest.mark.cuda
@slow
def test_compiled_loop_on_cuda_matches_the_cpu_solve() -> None:
    t = torch.tensor([0.0, 0.4, 1.1, 2.0, 3.5, 5.0], dtype=torch.float64)
    field = Linear().cuda()
    with torch.no_grad():
        gpu = odenet.solve(field, Y0.cuda(), t.cuda(), method="dopri5", compile_loop=True)
        cpu = odenet.solve(FIELD, Y0, t, method="dopri5", dense=False)
    assert gpu.ys.device.type == "cuda"
    assert gpu.stats.n_accepted == cpu.stats.n_accepted
    torch.testing.assert_close(gpu.ys.cpu(), cpu.ys, rtol=1e-10, atol=1e-12)


def test_the_default_strategy_under_any_spelling_is_accepted() -> None:
    from odenet.solving._compiled_loop import check_compile_loop

    kw = {"batch_mode": "joint", "compile_step": False, "event_fn": None, "args": None,
          "y0": Y0}  # fmt: skip
    with torch.no_grad():
        for gradient in (None, "autograd", "Autograd", odenet.Autograd()):
            assert check_compile_loop(True, gradient=gradient, **kw)
        assert not check_compile_loop(False, gradient="adjoint", **kw)


def test_step_retries_after_non_finite_errors_are_the_eager_loops() -> None:
    from odenet.solvers import compiled_loop, integrate

    assert compiled_loop.MAX_NONFINITE_RETRIES is integrate.MAX_NONFINITE_RETRIES


class Decay32(nn.Module):
    """``dy/dt = -k y`` in float32, ``k`` per column."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("k", torch.tensor([0.5, 1.0, 2.0]))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -self.k * y


@slow
def test_float32_state_and_a_non_fsal_method() -> None:
    """adaptive_heun (not FSAL: f(t1, y1) is evaluated for the next step) in float32."""
    y0 = torch.ones(4, 3)
    t = torch.tensor([0.0, 0.7, 1.5, 3.0])
    with torch.no_grad():
        loop = odenet.solve(Decay32(), y0, t, method="adaptive_heun", rtol=1e-4, atol=1e-6,
                            compile_loop=True)  # fmt: skip
        eager = odenet.solve(Decay32(), y0, t, method="adaptive_heun", rtol=1e-4, atol=1e-6,
                             dense=False)  # fmt: skip
    assert loop.ys.dtype == torch.float32
    exact = torch.exp(-t[:, None, None] * torch.tensor([0.5, 1.0, 2.0])) * y0
    assert (loop.ys - exact).abs().max() < 1e-3
    # float32 rounding may move a step: the counts agree to a step or two
    assert abs(loop.stats.n_accepted - eager.stats.n_accepted) <= 2
    torch.testing.assert_close(loop.ys, eager.ys, rtol=1e-4, atol=1e-5)
