"""Adaptive methods: error tracks tolerance, agreement with torchdiffeq and scipy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import odenet
from tests.helpers import ADAPTIVE_METHODS, PROBLEMS, van_der_pol

#: fehlberg2's embedded estimate measures its first-order companion, so the propagated
#: second-order error runs 100-400 x tol (torchdiffeq's fehlberg2 behaves the same)
ERROR_FACTOR = {"fehlberg2": 1000.0}


@pytest.mark.parametrize(("name", "order"), ADAPTIVE_METHODS)
@pytest.mark.parametrize("problem_fn", PROBLEMS)
def test_error_tracks_tolerance(name: str, order: int, problem_fn) -> None:
    prob = problem_fn()
    t = torch.linspace(0.0, prob.t1, 7, dtype=torch.float64)
    exact = prob.exact(t)
    tols = (1e-3, 1e-4, 1e-5, 1e-6) if order <= 2 else (1e-4, 1e-6, 1e-8, 1e-10)
    factor = ERROR_FACTOR.get(name, 300.0)
    errs, nfes = [], []
    for tol in tols:
        sol = odenet.solve(prob.f, prob.y0, t, method=name, rtol=tol, atol=tol)
        err = float((sol.ys - exact).abs().max())
        errs.append(err)
        nfes.append(sol.stats.nfe)
        # global error stays within a fixed multiple of the tolerance
        assert err <= factor * tol, f"{name} tol={tol}: error {err}"
    # tighter tolerance, never less work; the error falls with the tolerance (within 100x)
    assert nfes == sorted(nfes)
    assert errs[-1] < 100 * errs[0] * tols[-1] / tols[0] or errs[-1] < 1e-11


def test_agrees_with_torchdiffeq_dopri5() -> None:
    torchdiffeq = pytest.importorskip("torchdiffeq", reason="torchdiffeq is a dev extra")
    f = van_der_pol(1.0)
    y0 = torch.tensor([[2.0, 0.0], [0.5, 1.0]], dtype=torch.float64)
    t = torch.linspace(0.0, 5.0, 11, dtype=torch.float64)
    ref = odenet.odeint(f, y0, t, method="dopri8", rtol=1e-12, atol=1e-12)
    for tol in (1e-5, 1e-7, 1e-9):
        ours = odenet.odeint(f, y0, t, rtol=tol, atol=tol)
        theirs = torchdiffeq.odeint(f, y0, t, method="dopri5", rtol=tol, atol=tol)
        err_ours = float((ours - ref).abs().max())
        err_theirs = float((theirs - ref).abs().max())
        assert float((ours - theirs).abs().max()) < 100 * tol
        assert err_ours <= 3 * err_theirs + 10 * tol, (tol, err_ours, err_theirs)


def test_agrees_with_scipy_dop853_on_van_der_pol() -> None:
    integrate = pytest.importorskip("scipy.integrate", reason="scipy is a dev extra")
    mu = 2.0

    def rhs(t: float, y: np.ndarray) -> list[float]:
        return [y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]]

    t_eval = np.linspace(0.0, 6.0, 13)
    ref = integrate.solve_ivp(
        rhs, (0.0, 6.0), [2.0, 0.0], method="DOP853", rtol=1e-13, atol=1e-13, t_eval=t_eval
    ).y.T
    y0 = torch.tensor([2.0, 0.0], dtype=torch.float64)
    t = torch.from_numpy(t_eval)
    for method in ("dopri5", "tsit5", "dopri8"):
        ys = odenet.odeint(van_der_pol(mu), y0, t, method=method, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(ys.numpy(), ref, atol=2e-8, err_msg=method)


def test_pi_controller_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="safety must be in"):
        odenet.PIController(safety=1.5)
    with pytest.raises(ValueError, match="factor_max"):
        odenet.odeint(
            lambda t, y: -y, torch.ones(2), torch.tensor([0.0, 1.0]), options={"ifactor": 0.5}
        )


def test_step_t_and_jump_t_land_steps_on_given_times() -> None:
    # dy/dt jumps from 0 to 1 at t = 0.37; the solution is max(t - 0.37, 0).
    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (t >= 0.37).to(y.dtype).expand_as(y)

    y0 = torch.zeros(1, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with_jump = odenet.solve(f, y0, t, rtol=1e-8, atol=1e-10, options={"jump_t": [0.37]})
    without = odenet.solve(f, y0, t, rtol=1e-8, atol=1e-10)
    assert float(with_jump.ys[-1, 0]) == pytest.approx(0.63, abs=1e-12)
    assert with_jump.stats.nfe < without.stats.nfe


@pytest.mark.parametrize("name", ["euler", "rk4", "bosh3", "dopri5", "tsit5", "dopri8"])
def test_func_returning_one_shared_tensor_is_not_modified(name: str) -> None:
    """The solver never writes into what func returns (it may be a parameter or a view)."""
    c = torch.tensor([1.0, -2.0], dtype=torch.float64)
    y0 = torch.zeros(3, 2, dtype=torch.float64)
    shared = c.expand(3, 2)
    kw = {"step_size": 0.1} if name in ("euler", "rk4") else {}
    ys = odenet.odeint(
        lambda t, y: shared, y0, torch.tensor([0.0, 2.0], dtype=torch.float64), method=name, **kw
    )
    torch.testing.assert_close(c, torch.tensor([1.0, -2.0], dtype=torch.float64))
    torch.testing.assert_close(ys[-1], 2.0 * c.expand(3, 2))
