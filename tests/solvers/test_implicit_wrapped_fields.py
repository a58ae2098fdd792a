"""Implicit methods keep their Newton state (Jacobian, LU, counts) across the per-step field
wrappers the loops make near jumps (``jump_t``) and with ``perturb``; related input checks."""

from __future__ import annotations

import pytest
import torch

import odenet
from odenet.solvers.implicit import NewtonOptions

F64 = torch.float64


def test_perturb_keeps_the_jacobian_of_a_fixed_grid_implicit_method() -> None:
    y0 = torch.ones(3, dtype=F64)
    t = torch.tensor([0.0, 0.1], dtype=F64)
    plain = odenet.solve(lambda t, y: -y, y0, t, method="radauIIA5", step_size=0.01)
    nudged = odenet.solve(
        lambda t, y: -y, y0, t, method="radauIIA5", step_size=0.01, options={"perturb": True}
    )
    # a linear field: one Jacobian serves every step with or without the one-sided wrapper
    assert nudged.stats.n_jacobians == plain.stats.n_jacobians == 1
    assert nudged.stats.n_lu == plain.stats.n_lu
    torch.testing.assert_close(nudged.ys[-1], torch.exp(-t[-1]) * y0, rtol=1e-9, atol=0)


def test_jump_t_steps_are_counted_in_the_solve_stats() -> None:
    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -y * torch.where(t < 0.05, 1.0, 2.0)

    y0 = torch.ones(3, dtype=F64)
    t = torch.tensor([0.0, 1.0], dtype=F64)
    sol = odenet.solve(f, y0, t, method="kvaerno5", options={"jump_t": [0.05]}, rtol=1e-8)
    # every accepted step factors I - h*gamma*J at least once unless h repeats; before the
    # fix the step landing on the jump replaced the solve's counters (n_lu was 1)
    assert sol.stats.n_lu >= sol.stats.n_accepted // 2 > 1
    exact = torch.exp(torch.tensor(-0.05 - 2 * 0.95, dtype=F64)) * y0
    torch.testing.assert_close(sol.ys[-1], exact, rtol=1e-6, atol=0)


def test_compile_step_with_a_list_of_events_is_refused() -> None:
    ev = odenet.Event(lambda t, y: y[0] - 0.5, terminal=True)
    with pytest.raises(ValueError, match="compile_step=True is not supported with a list"):
        odenet.solve(
            lambda t, y: -y, torch.ones(2), torch.tensor([0.0, 2.0]), event_fn=[ev],
            compile_step=True,
        )  # fmt: skip


@pytest.mark.parametrize("field", ["rtol", "atol"])
@pytest.mark.parametrize("value", [-1.0, 0.0, 2.0, "1e-6"])
def test_newton_tolerances_are_checked(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"{field} of the Newton iteration"):
        NewtonOptions(**{field: value})  # type: ignore[arg-type]


def test_linear_outputs_and_dense_output_agree() -> None:
    """``interp="linear"``: ``Solution.evaluate`` joins grid values by the same straight lines
    as the outputs (it used the method's Hermite interpolant: 0.951229 against 0.952419)."""
    y0 = torch.ones(1, dtype=F64)
    t = torch.tensor([0.0, 0.05, 0.1], dtype=F64)
    sol = odenet.solve(
        lambda t, y: -y, y0, t, method="rk4", step_size=0.1, options={"interp": "linear"}
    )
    torch.testing.assert_close(sol.evaluate(0.05), sol.ys[1], rtol=1e-15, atol=0)
    torch.testing.assert_close(sol.ys[1], (sol.ys[0] + sol.ys[2]) / 2, rtol=1e-15, atol=0)
