"""Hairer's stiffness test in the explicit adaptive pairs: StiffnessDetected on ROBER and
Van der Pol, never on non-stiff problems, and the option that turns it off."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

import odenet
from odenet.errors import MaxStepsReached, SolverError, StiffnessDetected
from odenet.solvers import get_method
from odenet.solvers.stiffness import StiffnessMonitor, real_stability_boundary
from tests.stiff_problems import STIFF_PROBLEMS

F64 = torch.float64


def _stiff(name: str) -> tuple[object, torch.Tensor, torch.Tensor]:
    p = STIFF_PROBLEMS[name]
    f = p.torch_field(torch.tensor(p.rates, dtype=F64))
    return f, torch.tensor(p.y0, dtype=F64), torch.tensor([p.t_out[0], p.t_out[-1]], dtype=F64)


@pytest.mark.parametrize("name", ["rober", "vdp"])
@pytest.mark.parametrize("method", ["dopri5", "tsit5"])
def test_stiff_problems_raise_early(name: str, method: str) -> None:
    f, y0, t = _stiff(name)
    with pytest.raises(StiffnessDetected) as info:
        odenet.solve(f, y0, t, method=method, rtol=1e-6, atol=1e-10)
    err = info.value
    assert isinstance(err, SolverError)
    assert err.steps < 5000  # ROBER/dopri5: 115 steps, t = 0.15 (the solve used to grind on)
    assert 0.0 < err.t < float(t[-1]) and err.dt > 0
    assert err.h_rho > 0.9 * err.boundary
    msg = str(err)
    assert "stiff" in msg and "kvaerno5" in msg and "rodas5" in msg and "stiffness_check" in msg


def test_the_check_can_be_turned_off() -> None:
    f, y0, t = _stiff("rober")
    with pytest.raises(MaxStepsReached):
        odenet.solve(f, y0, t, method="dopri5", max_steps=3000,
                     options={"stiffness_check": False})  # fmt: skip
    with pytest.raises(TypeError, match="stiffness_check"):
        odenet.solve(f, y0, t, method="dopri5", options={"stiffness_check": "no"})


def test_non_stiff_long_solves_do_not_raise() -> None:
    """An undamped oscillator over 50 periods: thousands of accuracy-limited steps."""
    w = 2 * math.pi

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.stack([y[1], -(w**2) * y[0]])

    y0 = torch.tensor([1.0, 0.0], dtype=F64)
    for method in ("dopri5", "tsit5"):
        sol = odenet.solve(f, y0, torch.tensor([0.0, 50.0], dtype=F64), method=method,
                           rtol=1e-10, atol=1e-12)  # fmt: skip
        assert sol.stats.n_accepted > 1000
        assert float((sol.ys[-1] - y0).abs().max()) < 1e-4


def test_short_stability_limited_solves_finish() -> None:
    """Decay to equilibrium with lambda = -1000 over [0, 1]: stability-limited steps, but few
    remain, so the solve finishes instead of raising."""
    y0 = torch.tensor([1.0, 2.0], dtype=F64)
    sol = odenet.solve(lambda t, y: -1000.0 * y, y0, torch.tensor([0.0, 1.0], dtype=F64),
                       method="dopri5", rtol=1e-6, atol=1e-9)  # fmt: skip
    assert float(sol.ys[-1].abs().max()) < 1e-8


def test_real_stability_boundaries() -> None:
    """Known real stability intervals: dopri5 3.307, tsit5 3.507, RK4 2.785."""
    for name, value in (("dopri5", 3.3066), ("tsit5", 3.5068), ("rk4", 2.7853)):
        tab = get_method(name).tableau
        assert real_stability_boundary(tab.a, tab.b) == pytest.approx(value, abs=2e-3)


def test_monitor_applies_to_pairs_with_a_repeated_last_node() -> None:
    assert StiffnessMonitor.for_method(get_method("dopri5")) is not None
    assert StiffnessMonitor.for_method(get_method("tsit5")) is not None
    assert StiffnessMonitor.for_method(get_method("bosh3")) is None  # c = (0, 1/2, 3/4, 1)
    assert StiffnessMonitor.for_method(get_method("rk4")) is None  # fixed step
    assert StiffnessMonitor.for_method(get_method("rodas5")) is None  # implicit


def test_docs_stiff_problems_snippet_runs() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "choosing-a-solver.md").read_text()
    section = page.split("## Stiff problems", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "docs/choosing-a-solver.md: Stiff problems", "exec"), namespace)
    assert namespace["sol"].stats.n_jacobians > 0  # type: ignore[attr-defined]
