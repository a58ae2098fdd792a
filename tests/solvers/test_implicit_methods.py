"""Implicit Runge--Kutta methods: tableaux, convergence order, A-/L-stability, Newton
failure handling, stiff problems against scipy, per-sample batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

import odenet
from odenet.errors import NewtonConvergenceError
from odenet.solvers import METHODS, ButcherTableau, Kvaerno5, get_method
from odenet.solvers.field import CountingField
from odenet.solvers.integrate import integrate_fixed
from tests.helpers import (
    IMPLICIT_METHODS,
    Problem,
    decay_problem,
    linear_problem,
    log_slope,
    riccati_problem,
    van_der_pol,
)

FIXED_IMPLICIT = [(n, p) for n, p in IMPLICIT_METHODS if not n.startswith("kvaerno")]
L_STABLE = ["implicit_euler", "sdirk2", "trbdf2", "radauIIA3", "radauIIA5", "kvaerno3", "kvaerno5"]


def robertson(t: torch.Tensor, y: torch.Tensor, k1: float | torch.Tensor = 0.04) -> torch.Tensor:
    """ROBER kinetics, state ``(..., 3)``; ``k1`` may be per sample ``(B,)``."""
    y1, y2, y3 = y[..., 0], y[..., 1], y[..., 2]
    return torch.stack(
        [-k1 * y1 + 1e4 * y2 * y3, k1 * y1 - 1e4 * y2 * y3 - 3e7 * y2 * y2, 3e7 * y2 * y2],
        dim=-1,
    )


def _rober_np(k1: float):
    def f(t, y):
        return [
            -k1 * y[0] + 1e4 * y[1] * y[2],
            k1 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2,
            3e7 * y[1] ** 2,
        ]

    return f


def nonautonomous_problem() -> Problem:
    """``y' = y² cos t``: ``y = 1 / (1/y0 - sin t)`` (nonlinear, time-dependent: tests c)."""
    y0 = torch.tensor([0.5, 0.25], dtype=torch.float64)
    return Problem(
        "y2cos",
        lambda t, y: y * y * torch.cos(t),
        y0,
        lambda t: 1.0 / (1.0 / y0 - torch.sin(t)[:, None]),
        t1=3.0,
    )


# -- tableaux ------------------------------------------------------------------------------
def test_implicit_tableau_kinds() -> None:
    assert get_method("dopri5").tableau.explicit
    radau = get_method("radauIIA5").tableau
    assert radau.implicit and not radau.explicit and not radau.diagonally_implicit
    assert radau.stiffly_accurate and radau.fsal and not radau.explicit_first_stage
    kv = get_method("kvaerno5").tableau
    assert kv.diagonally_implicit and kv.explicit_first_stage and kv.stiffly_accurate
    assert not get_method("gl4").tableau.fsal


def test_implicit_tableau_validation() -> None:
    with pytest.raises(ValueError, match=r"a\[1\] must have 2 entries \(implicit method"):
        ButcherTableau(c=[0.5, 1.0], a=[[0.5, 0.0], [1.0]], b=[0.0, 1.0], implicit=True)
    with pytest.raises(ValueError, match=r"row a\[0\] sums to"):
        ButcherTableau(c=[0.4], a=[[0.5]], b=[1.0], implicit=True)
    with pytest.raises(TypeError, match="implicit must be a bool"):
        ButcherTableau(c=[0.0], a=[[]], b=[1.0], implicit="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "order"), IMPLICIT_METHODS)
def test_registered_with_names_and_orders(name: str, order: int) -> None:
    m = get_method(name)
    assert name in METHODS and m.order == order and m.tableau.implicit
    assert get_method(name.lower()).name == name  # torchdiffeq's radauIIA names, any case


# -- convergence order on fixed grids --------------------------------------------------------
LEVELS = {
    1: [16, 32, 64, 128],
    2: [32, 64, 128, 256],
    3: [16, 32, 64, 128],
    4: [8, 16, 32, 64],
    5: [8, 16, 32, 64],
    6: [4, 8, 16, 32],
}


def _error(name: str, n: int, prob: Problem) -> float:
    method = type(get_method(name))(newton_rtol=1e-14, newton_atol=1e-14)
    t = torch.tensor([0.0, prob.t1], dtype=torch.float64)
    fld = CountingField(prob.f, t.dtype, prob.y0.device)
    grid = [prob.t1 * k / n for k in range(n + 1)]
    raw = integrate_fixed(fld, method, prob.y0, fld(0.0, prob.y0), [0.0, prob.t1], grid)
    return float((raw.ys[-1] - prob.exact(t)[-1]).abs().max())


@pytest.mark.parametrize(("name", "order"), IMPLICIT_METHODS)
@pytest.mark.parametrize("problem_fn", [linear_problem, nonautonomous_problem])
def test_order_of_convergence(name: str, order: int, problem_fn) -> None:
    prob = problem_fn()
    levels = LEVELS[order]
    if order == 6 and prob.name == "y2cos":  # pre-asymptotic at 4 steps, rounding at 32
        levels = [8, 12, 16, 24]
    errs = [_error(name, n, prob) for n in levels]
    slope = log_slope([1.0 / n for n in levels], errs)
    assert abs(slope - order) <= 0.3, f"{name} on {prob.name}: slope {slope:.3f}, errors {errs}"


# -- stability -------------------------------------------------------------------------------
def _amplification(name: str, z: complex) -> float:
    """|R(z)| from one step of y' = λy (λ = z, h = 1) written as a real 2x2 system."""
    a = torch.tensor([[z.real, -z.imag], [z.imag, z.real]], dtype=torch.float64)
    y0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    fld = CountingField(lambda t, y: y @ a.T, torch.float64, y0.device)
    y1, _ = get_method(name).step(fld, 0.0, y0, 1.0, fld(0.0, y0))
    return float(torch.linalg.vector_norm(y1))


@pytest.mark.parametrize(("name", "order"), IMPLICIT_METHODS)
def test_a_stability(name: str, order: int) -> None:
    """|R(z)| <= 1 on the imaginary axis and deep in the left half-plane."""
    for z in [1j, 10j, 1e3j, -1.0, -1e3, -1e6, -5 + 50j, -1e4 + 1e4j]:
        r = _amplification(name, z)
        assert r <= 1.0 + 1e-9, f"{name}: |R({z})| = {r}"
    if name in L_STABLE:  # R(-inf) = 0
        assert _amplification(name, -1e8) < 1e-6


def test_stiff_linear_problem_explicit_blows_up_implicit_is_accurate() -> None:
    """Prothero--Robinson y' = λ(y - cos t) - sin t, λ = -1e5, exact y = cos t; h = 0.05."""
    lam = -1e5

    def f(t, y):
        return lam * (y - torch.cos(t)) - torch.sin(t)

    y0 = torch.ones(1, dtype=torch.float64)
    t = torch.tensor([0.0, 2.0], dtype=torch.float64)
    opts = {"step_size": 0.05}
    with pytest.raises(odenet.NonFiniteState):
        odenet.odeint(f, y0, t, method="rk4", options=opts)
    exact = math.cos(2.0)
    for name, _ in FIXED_IMPLICIT:
        ys = odenet.odeint(f, y0, t, method=name, options=opts)
        assert abs(float(ys[-1, 0]) - exact) < 5e-3, name
    for name in ("kvaerno3", "kvaerno5"):  # adaptive: steps far beyond 2/|λ|
        sol = odenet.solve(f, y0, t, method=name, rtol=1e-4, atol=1e-6)
        assert abs(float(sol.ys[-1, 0]) - exact) < 1e-3 and sol.stats.n_accepted < 200, name


# -- Newton failures -------------------------------------------------------------------------
def test_fixed_grid_newton_failure_is_a_named_error() -> None:
    """y' = y², y0 = 0.5: backward Euler's equation z = y + h z² has no real root for the
    second step of h = 0.4."""
    prob = riccati_problem(y0_value=0.5, t1=1.6)
    t = torch.tensor([0.0, 1.6], dtype=torch.float64)
    with pytest.raises(NewtonConvergenceError, match="did not converge") as info:
        odenet.odeint(prob.f, prob.y0, t, method="implicit_euler", options={"step_size": 0.4})
    assert info.value.t == pytest.approx(0.4)


def test_adaptive_loop_shrinks_the_step_after_a_newton_failure() -> None:
    prob = riccati_problem(y0_value=0.5, t1=1.6)
    t = torch.tensor([0.0, 1.6], dtype=torch.float64)
    method = Kvaerno5(max_iters=3)
    sol = odenet.solve(
        prob.f, prob.y0, t, method=method, rtol=1e-8, atol=1e-10, options={"first_step": 0.8}
    )
    assert method.last_stats.n_failures > 0 and sol.stats.n_rejected > 0
    torch.testing.assert_close(sol.ys[-1], prob.exact(t)[-1], rtol=1e-6, atol=0)


# -- stiff problems against scipy ------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "rtol", "bound"), [("kvaerno5", 1e-6, 2e-5), ("kvaerno3", 1e-5, 2e-4)]
)
def test_robertson_against_scipy_radau(name: str, rtol: float, bound: float) -> None:
    t = torch.tensor([0.0, 1e-2, 1.0, 1e2, 1e4, 1e5], dtype=torch.float64)
    ref = solve_ivp(
        _rober_np(0.04), (0, 1e5), [1, 0, 0], method="Radau", rtol=1e-11, atol=1e-15,
        t_eval=t.numpy(),
    )  # fmt: skip
    y0 = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    method = get_method(name)
    sol = odenet.solve(robertson, y0, t, method=method, rtol=rtol, atol=1e-10)
    rel = np.abs(sol.ys.numpy() - ref.y.T) / np.maximum(np.abs(ref.y.T), 1e-6)
    assert rel.max() < bound, rel.max(axis=0)
    assert sol.stats.n_accepted < 1000
    assert method.last_stats.n_jacobians < sol.stats.n_accepted  # Jacobians are reused


@pytest.mark.slow
def test_van_der_pol_mu_1000_against_scipy_radau() -> None:
    mu, t_end = 1000.0, 3000.0
    t = torch.linspace(0.0, t_end, 7, dtype=torch.float64)
    ref = solve_ivp(
        lambda s, y: [y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]], (0, t_end), [2.0, 0.0],
        method="Radau", rtol=1e-11, atol=1e-11, t_eval=t.numpy(),
    )  # fmt: skip
    y0 = torch.tensor([2.0, 0.0], dtype=torch.float64)
    sol = odenet.solve(van_der_pol(mu), y0, t, method="kvaerno5", rtol=1e-7, atol=1e-7)
    err = np.abs(sol.ys.numpy()[:, 0] - ref.y[0]).max()
    assert err < 1e-3, err


# -- batches ---------------------------------------------------------------------------------
def test_independent_batch_per_sample_rates_match_single_solves() -> None:
    """ROBER with per-sample k1; batch_mode="independent" against scipy per sample."""
    k1 = torch.tensor([0.04, 0.1, 0.01], dtype=torch.float64)
    y0 = torch.tensor([[1.0, 0.0, 0.0]] * 3, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0, 1e3], dtype=torch.float64)
    sol = odenet.solve(
        lambda s, y: robertson(s, y, k1), y0, t, method="kvaerno5", rtol=1e-6, atol=1e-10,
        batch_mode="independent",
    )  # fmt: skip
    for b in range(3):
        ref = solve_ivp(
            _rober_np(float(k1[b])), (0, 1e3), [1, 0, 0], method="Radau", rtol=1e-11,
            atol=1e-15, t_eval=t.numpy(),
        )  # fmt: skip
        got = sol.ys[:, b].numpy()
        rel = np.abs(got - ref.y.T) / np.maximum(np.abs(ref.y.T), 1e-6)
        assert rel.max() < 3e-5, (b, rel.max(axis=0))


def test_joint_batch_uses_per_sample_jacobian_blocks() -> None:
    """A batch of independent ROBER systems in joint mode: blocks (B, 3, 3), same answer as
    the single system."""
    y0 = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    t = torch.tensor([0.0, 10.0], dtype=torch.float64)
    method = Kvaerno5()
    batch = odenet.solve(robertson, y0, t, method=method, rtol=1e-7, atol=1e-10)
    assert method.last_stats.jacobian_mode == "batch"
    single = odenet.solve(robertson, y0[0], t, method=Kvaerno5(), rtol=1e-7, atol=1e-10)
    torch.testing.assert_close(batch.ys[-1, 0], single.ys[-1], rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(batch.ys[-1, 0], batch.ys[-1, 1])


# -- the loop's features: dense output, events, checkpointed gradients -----------------------
@pytest.mark.parametrize(
    ("name", "kwargs", "tol"),
    [
        ("kvaerno5", {"rtol": 1e-8, "atol": 1e-10}, 1e-7),
        ("radauIIA5", {"options": {"step_size": 0.25}}, 2e-4),  # cubic Hermite between steps
        ("gl4", {"options": {"step_size": 0.25}}, 2e-4),
    ],
)
def test_dense_output_between_steps(name: str, kwargs: dict, tol: float) -> None:
    prob = decay_problem()
    t = torch.linspace(0.0, 1.0, 11, dtype=torch.float64)
    ys = odenet.odeint(prob.f, prob.y0, t, method=name, **kwargs)
    assert float((ys - prob.exact(t)).abs().max()) < tol


@pytest.mark.parametrize(
    ("name", "kwargs", "tol"),
    [
        ("kvaerno5", {"rtol": 1e-8, "atol": 1e-10}, 1e-6),
        ("sdirk2", {"options": {"step_size": 0.05}}, 2e-4),  # second order at h = 0.05
    ],
)
def test_terminal_event(name: str, kwargs: dict, tol: float) -> None:
    y0 = torch.tensor([1.0], dtype=torch.float64)
    t = torch.tensor([0.0, 5.0], dtype=torch.float64)
    event = lambda s, y: y[0] - 0.5  # noqa: E731
    sol = odenet.solve(lambda s, y: -y, y0, t, method=name, event_fn=event, **kwargs)
    assert float(sol.event_t) == pytest.approx(math.log(2.0), abs=tol)


def test_checkpoint_gradient_matches_autograd() -> None:
    g = torch.Generator().manual_seed(3)
    w = (0.5 * torch.randn(3, 3, generator=g, dtype=torch.float64)).requires_grad_()
    y0 = torch.randn(2, 3, generator=g, dtype=torch.float64).requires_grad_()
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    grads = []
    for gradient in ("autograd", odenet.Checkpoint(params=(w,))):
        out = odenet.odeint(
            lambda s, y: torch.tanh(y @ w.T) - 20.0 * y, y0, t, method="kvaerno5",
            rtol=1e-8, atol=1e-10, gradient=gradient,
        )  # fmt: skip
        grads.append(torch.autograd.grad(out.pow(2).sum(), (w, y0)))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


# -- matrix-free Newton--Krylov --------------------------------------------------------------
def _heat(n: int):
    """Semi-discrete u_t = 0.5 u_xx - u³ on (0, 1), Dirichlet 0: stiff (|λ| ~ 2n²)."""

    def f(t: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        up = torch.nn.functional.pad(u, (1, 1))
        return 0.5 * (up[..., 2:] - 2 * up[..., 1:-1] + up[..., :-2]) * (n + 1) ** 2 - u**3

    x = torch.linspace(0, 1, n + 2, dtype=torch.float64)[1:-1]
    return f, torch.stack([torch.sin(torch.pi * x), torch.sin(2 * torch.pi * x)])


@pytest.mark.parametrize("name", ["kvaerno5", "radauIIA5"])
def test_krylov_matches_direct(name: str) -> None:
    f, u0 = _heat(16)
    t = torch.tensor([0.0, 0.05], dtype=torch.float64)
    kw = {"rtol": 1e-7, "atol": 1e-9} if name == "kvaerno5" else {"options": {"step_size": 0.01}}
    cls = type(get_method(name))
    direct = odenet.odeint(f, u0, t, method=cls(linear_solver="direct"), **kw)
    krylov_method = cls(linear_solver="krylov")
    krylov = odenet.odeint(f, u0, t, method=krylov_method, **kw)
    assert krylov_method.last_stats.n_matvecs > 0 and krylov_method.last_stats.n_lu == 0
    torch.testing.assert_close(krylov, direct, rtol=1e-6, atol=1e-8)


def test_krylov_chosen_automatically_above_the_threshold() -> None:
    f, u0 = _heat(24)
    t = torch.tensor([0.0, 0.01], dtype=torch.float64)
    method = Kvaerno5(krylov_above=16)
    odenet.odeint(f, u0, t, method=method, rtol=1e-6, atol=1e-8)
    assert method.last_stats.n_matvecs > 0 and method.last_stats.n_lu == 0


def test_gradcheck_through_krylov_stages() -> None:
    f, u0 = _heat(5)
    u0 = u0[:1].clone().requires_grad_()
    t = torch.tensor([0.0, 0.02], dtype=torch.float64)
    method = get_method("sdirk2")
    krylov = type(method)(linear_solver="krylov", newton_rtol=1e-12, newton_atol=1e-12)

    def run(u: torch.Tensor) -> torch.Tensor:
        return odenet.odeint(f, u, t, method=krylov, options={"step_size": 0.01})

    # GMRES stops at a relative residual: repeated backward passes agree to ~1e-12, not bitwise
    assert torch.autograd.gradcheck(run, (u0,), nondet_tol=1e-9)


@pytest.mark.parametrize(
    ("name", "bound"),
    [("implicit_euler", 2e-2), ("sdirk2", 5e-4), ("trbdf2", 5e-5), ("radauIIA3", 5e-5),
     ("radauIIA5", 1e-6)],
)  # fmt: skip
def test_fixed_grid_l_stable_methods_on_robertson(name: str, bound: float) -> None:
    """Steps of 1.0 through ROBER's initial transient (time scale 1e-4): simplified Newton
    fails on the first step and the full-Newton fallback of fixed grids takes over."""
    t = torch.tensor([0.0, 100.0], dtype=torch.float64)
    ref = solve_ivp(_rober_np(0.04), (0, 100), [1, 0, 0], method="Radau", rtol=1e-11, atol=1e-15).y[
        :, -1
    ]
    y0 = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    ys = odenet.odeint(robertson, y0, t, method=name, options={"step_size": 1.0})
    assert np.abs((ys[-1].numpy() - ref) / ref).max() < bound


def test_compile_step_is_refused_for_implicit_methods() -> None:
    y0 = torch.tensor([[1.0, 0.0, 0.0]] * 2, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="compile_step=True is not supported with the implicit"):
        odenet.solve(
            robertson, y0, t, method="kvaerno5", batch_mode="independent", compile_step=True
        )


def test_coupled_samples_are_detected_and_solved_as_one_system() -> None:
    """A field mixing the batch (through its mean): jacobian='auto' must not assume
    per-sample blocks; the answer matches dopri5 at a tight tolerance."""

    def coupled(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -50.0 * (y - y.mean(0, keepdim=True)) - y

    y0 = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    method = Kvaerno5()
    sol = odenet.solve(coupled, y0, t, method=method, rtol=1e-8, atol=1e-10)
    assert method.last_stats.jacobian_mode == "full"
    ref = odenet.solve(coupled, y0, t, method="dopri5", rtol=1e-11, atol=1e-13)
    torch.testing.assert_close(sol.ys[-1], ref.ys[-1], rtol=1e-6, atol=1e-8)
