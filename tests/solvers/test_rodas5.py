"""Rodas5: published coefficients, fifth-order convergence, stiff problems against scipy's
Radau, batched and per-sample solves, gradients against float64 finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import odenet
from odenet.solvers import Rodas5
from odenet.solvers.field import CountingField
from odenet.solvers.rodas5 import RODAS5_TABLEAU
from odenet.solvers.rosenbrock_tableau import RosenbrockTableau
from tests.stiff_problems import STIFF_PROBLEMS, reference, relative_error

F64 = torch.float64


def test_transformed_coefficients_match_the_published_ones() -> None:
    """a, C, d as printed for Rodas5 in the transformed form (Hairer & Wanner's (7.25))."""
    tab = RODAS5_TABLEAU
    assert tab.gamma == 0.19 and tab.stages == 8
    assert dict(tab.a[1])[0] == pytest.approx(2.0, rel=1e-12)
    assert dict(tab.a[2])[1] == pytest.approx(1.041747909077569, rel=1e-12)
    assert dict(tab.C[1])[0] == pytest.approx(-10.31323885133993, rel=1e-12)
    assert dict(tab.C[7])[6] == pytest.approx(-5.810979938412932, rel=1e-12)
    assert tab.d[1] == pytest.approx(-0.1823079225333714636, rel=1e-12)
    assert tab.d[5:] == (0.0, 0.0, 0.0)
    assert tab.c[5:] == pytest.approx((1.0, 1.0, 1.0), abs=1e-13)
    # stiffly accurate: y1 = y + sum_j a_6j u_j + u_6 + u_7 + u_8; the error is u_8
    m = dict(tab.m)
    assert [m[j] for j in range(5)] == pytest.approx([dict(tab.a[5])[j] for j in range(5)])
    assert [m[5], m[6], m[7]] == pytest.approx([1.0, 1.0, 1.0])
    assert tab.e == ((7, pytest.approx(1.0)),)


def test_tableau_rejects_broken_weights() -> None:
    alpha = [[], [0.5]]
    beta = [[0.3], [-0.3, 0.3]]
    with pytest.raises(ValueError, match="order condition"):
        RosenbrockTableau.from_alpha_beta(alpha, beta, b=[0.5, 0.6], b_hat=[1.0, 0.0])
    with pytest.raises(ValueError, match="constant diagonal"):
        RosenbrockTableau.from_alpha_beta(alpha, [[0.3], [0.0, 0.4]], [0.5, 0.5], [1.0, 0.0])


def _linear_nonautonomous(stiff: float = 30.0) -> tuple[torch.Tensor, object, torch.Tensor]:
    a = torch.tensor([[-2.0, 1.0], [1.0, -stiff]], dtype=F64)

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y @ a.T + torch.stack([torch.sin(t), t * t]).to(y.dtype)

    return a, f, torch.tensor([1.0, 0.5], dtype=F64)


def test_fifth_order_on_fixed_steps() -> None:
    """Fixed steps through ``Rodas5.step`` on a stiff-ish non-autonomous linear problem:
    the error slope under step halving tends to 5 (the ∂f/∂t term is needed for it). Mild
    stiffness (|h lambda| <= 0.6) so that the steps are in the asymptotic regime."""
    _, f, y0 = _linear_nonautonomous(stiff=3.0)
    t_end = 2.0
    ref = odenet.odeint(f, y0, torch.tensor([0.0, t_end], dtype=F64), method="dopri8",
                        rtol=1e-13, atol=1e-14)[-1]  # fmt: skip
    method = Rodas5()
    errors = []
    for n in (10, 20, 40, 80):
        fld = CountingField(f, F64, y0.device)
        t, y, h = 0.0, y0, t_end / n
        with torch.no_grad():
            for _ in range(n):
                y, _ = method.step(fld, t, y, h, fld(t, y))
                t += h
        errors.append(float((y - ref).abs().max()))
    slopes = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert slopes.min() > 4.5 and slopes[-1] > 4.8 and slopes.max() < 5.6, (errors, slopes)


def test_error_tracks_rtol() -> None:
    _, f, y0 = _linear_nonautonomous()
    t = torch.tensor([0.0, 1.0, 3.0], dtype=F64)
    ref = odenet.odeint(f, y0, t, method="dopri8", rtol=1e-13, atol=1e-14)
    errs = []
    for rtol in (1e-4, 1e-6, 1e-8):
        ys = odenet.odeint(f, y0, t, method="rodas5", rtol=rtol, atol=rtol * 1e-2)
        errs.append(float((ys - ref).abs().max()))
    assert errs[0] < 1e-3 and errs[1] < 1e-5 and errs[2] < 1e-7, errs
    assert errs[2] < errs[1] < errs[0]


def _solve(name: str, method: object = "rodas5", rtol: float = 1e-6) -> tuple[object, float]:
    p = STIFF_PROBLEMS[name]
    f = p.torch_field(torch.tensor(p.rates, dtype=F64))
    y0 = torch.tensor(p.y0, dtype=F64)[None]
    with torch.no_grad():
        sol = odenet.solve(f, y0, torch.tensor(p.t_out, dtype=F64), method=method, rtol=rtol,
                           atol=p.atol)  # fmt: skip
    return sol, relative_error(sol.ys[:, 0].numpy(), reference(name))


@pytest.mark.parametrize(
    "name",
    ["rober", "hires", pytest.param("vdp", marks=pytest.mark.slow),
     pytest.param("orego", marks=pytest.mark.slow)],
)  # fmt: skip
def test_stiff_problems_match_scipy_radau(name: str) -> None:
    """Error relative to each component's scale <= 1e-3 at rtol=1e-6 (measured: 2e-8
    ROBER, 1e-7 HIRES, 4e-6 Van der Pol mu=1000, 9e-8 OREGO), with one Jacobian per step."""
    sol, err = _solve(name)
    assert err <= 1e-3, err
    st = sol.stats  # type: ignore[attr-defined]
    # one LU per attempt; one Jacobian per state (a retried attempt reuses it)
    assert st.n_lu == st.n_accepted + st.n_rejected
    assert st.n_accepted <= st.n_jacobians <= st.n_lu


def test_rober_error_tracks_rtol() -> None:
    _, loose = _solve("rober", rtol=1e-4)
    _, tight = _solve("rober", rtol=1e-8)
    assert tight < loose / 10 and tight < 1e-7, (loose, tight)


def _rober_rates(batch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    base = torch.tensor(STIFF_PROBLEMS["rober"].rates, dtype=F64)
    return base * (0.5 + torch.rand(batch, 3, generator=g, dtype=F64))


@pytest.mark.parametrize("batch_mode", ["joint", "independent"])
def test_batched_rober_with_per_sample_rates(batch_mode: str) -> None:
    p = STIFF_PROBLEMS["rober"]
    rates = _rober_rates(4)
    y0 = torch.tensor(p.y0, dtype=F64).expand(4, 3).clone()
    t = torch.tensor(p.t_out, dtype=F64)
    with torch.no_grad():
        sol = odenet.solve(p.torch_field(rates), y0, t, method="rodas5", rtol=1e-6,
                           atol=p.atol, batch_mode=batch_mode)  # fmt: skip
    for b in range(4):
        ref = reference("rober", tuple(rates[b].tolist()))
        assert relative_error(sol.ys[:, b].numpy(), ref) <= 1e-3


def test_full_jacobian_for_coupled_samples() -> None:
    """Samples coupled through their mean: ``jacobian="full"`` keeps fifth order where
    per-sample blocks would drop the coupling."""
    a = torch.tensor([[-50.0, 1.0], [0.5, -2.0]], dtype=F64)

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y @ a.T + 10.0 * (y.mean(0, keepdim=True) - y)

    y0 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, -0.5]], dtype=F64)
    t = torch.tensor([0.0, 1.0], dtype=F64)
    ref = odenet.odeint(f, y0, t, method="dopri8", rtol=1e-13, atol=1e-14)[-1]
    sol = odenet.solve(f, y0, t, method=Rodas5(jacobian="full"), rtol=1e-8, atol=1e-10)
    assert float((sol.ys[-1] - ref).abs().max()) < 1e-7
    assert Rodas5(jacobian="full") != Rodas5()
    with pytest.raises(ValueError, match="jacobian must be"):
        Rodas5(jacobian="dense")  # type: ignore[arg-type]


def _rober_loss(rates: torch.Tensor, y0: torch.Tensor, gradient: object = None) -> torch.Tensor:
    f = STIFF_PROBLEMS["rober"].torch_field(rates)
    t = torch.tensor([0.0, 0.5, 2.0], dtype=F64)
    ys = odenet.odeint(f, y0, t, method="rodas5", rtol=1e-9, atol=1e-13, gradient=gradient)
    w = torch.tensor([1.0, 1e4, 2.0], dtype=F64)
    return (ys[1:] @ w).sum()


def test_autograd_gradients_match_finite_differences() -> None:
    """Backpropagation through Jacobians, LU solves and ∂f/∂t equals central differences
    of the discrete solve (float64) for the rate constants and the initial state."""
    rates0 = torch.tensor([0.04, 1e4, 3e7], dtype=F64)
    y00 = torch.tensor([[0.98, 1e-5, 0.02]], dtype=F64)
    rates, y0 = rates0.clone().requires_grad_(), y00.clone().requires_grad_()
    g_rates, g_y0 = torch.autograd.grad(_rober_loss(rates, y0), (rates, y0))
    with torch.no_grad():
        for i in range(3):
            d = torch.zeros(3, dtype=F64)
            d[i] = 1e-6 * rates0[i]
            fd = (_rober_loss(rates0 + d, y00) - _rober_loss(rates0 - d, y00)) / (2 * d[i])
            assert float(g_rates[i]) == pytest.approx(float(fd), rel=1e-5)
        for i in (0, 2):
            d = torch.zeros(1, 3, dtype=F64)
            d[0, i] = 1e-7
            fd = (_rober_loss(rates0, y00 + d) - _rober_loss(rates0, y00 - d)) / 2e-7
            assert float(g_y0[0, i]) == pytest.approx(float(fd), rel=1e-5)


def test_adjoint_matches_autograd_on_a_mildly_stiff_problem() -> None:
    """The backward adjoint solve with rodas5 (Jacobian of the adjoint system by differences).
    Backsolving y is unstable on strongly stiff problems: use autograd/checkpoint there."""
    a0 = torch.tensor([[-20.0, 1.0], [2.0, -1.0]], dtype=F64)
    y00 = torch.tensor([[1.0, 0.5]], dtype=F64)
    t = torch.tensor([0.0, 0.2, 0.5], dtype=F64)

    def loss(a: torch.Tensor, y0: torch.Tensor, gradient: object) -> torch.Tensor:
        def f(tt: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
            return z @ a.T + torch.sin(3 * tt)

        ys = odenet.odeint(f, y0, t, method="rodas5", rtol=1e-10, atol=1e-12, gradient=gradient)
        return (ys[1:] ** 2).sum()

    grads = []
    for gradient in (None, "adjoint"):
        a, y0 = a0.clone().requires_grad_(), y00.clone().requires_grad_()
        g = odenet.Adjoint(params=(a,), rtol=1e-10, atol=1e-12) if gradient else None
        grads.append(torch.autograd.grad(loss(a, y0, g), (a, y0)))
    for x, y in zip(*grads, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-9)


def test_float32_state_and_dense_output() -> None:
    _, f, y0 = _linear_nonautonomous()
    f32 = lambda t, y: f(t.double(), y.double()).float()  # noqa: E731
    t = torch.tensor([0.0, 1.0], dtype=torch.float32)
    sol = odenet.solve(f32, y0.float(), t, method="rodas5", rtol=1e-5, atol=1e-7)
    assert sol.ys.dtype == torch.float32
    ref = odenet.odeint(f, y0, torch.tensor([0.0, 0.37, 1.0], dtype=F64), method="dopri8",
                        rtol=1e-12, atol=1e-13)  # fmt: skip
    assert float((sol.ys[-1].double() - ref[-1]).abs().max()) < 1e-4
    mid = sol.evaluate(torch.tensor(0.37))
    assert float((mid.double() - ref[1]).abs().max()) < 1e-3  # cubic Hermite
    assert math.isfinite(sol.stats.last_step)


def _coupled_field() -> object:
    """A non-autonomous field whose samples are independent: row ``b`` of ``y`` ``(B, 3)``
    depends on ``y[b]`` and ``t`` only (per-sample ``t`` ``(B,)`` broadcasts over rows)."""
    a = torch.tensor([[-2.0, 1.0, 0.3], [0.5, -40.0, 2.0], [0.1, 0.7, -3.0]], dtype=F64)

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        tt = t.reshape(-1, 1) if t.dim() == 1 else t
        return y @ a.T + torch.sin(y) * y[:, :1] + torch.cos(3.0 * tt) * y.square()

    return f


@pytest.mark.parametrize("case", ["one sample", "full", "per-sample t", "shared t"])
def test_reverse_linearisation_matches_jacobian_and_time_derivative(case: str) -> None:
    """One batched backward pass gives the Jacobian blocks of ``torch.func.jacfwd`` and
    ``∂f/∂t`` of forward-mode AD; ``∂f/∂t`` is ``None`` when several rows
    share one time (the sum over samples would mix them) or ``f`` ignores ``t``."""
    from odenet.solvers.implicit import batched_jacobian
    from odenet.solvers.rosenbrock import reverse_linearisation, time_derivative

    f = _coupled_field()
    g = torch.Generator().manual_seed(0)
    batch = 1 if case == "one sample" else 4
    y = torch.randn(batch, 3, generator=g, dtype=F64)
    mode = "full" if case == "full" else "batch"
    t = (
        torch.rand(batch, generator=g, dtype=F64)
        if case == "per-sample t"
        else torch.tensor(0.7, dtype=F64)
    )
    jac, ft = reverse_linearisation(f, t, y, mode)
    forward = batched_jacobian(f, t, y, mode=mode, ad="fwd")  # an independent reference
    torch.testing.assert_close(jac, forward, rtol=1e-13, atol=1e-13)
    if case == "shared t":
        assert ft is None
    else:
        torch.testing.assert_close(ft, time_derivative(f, t, y), rtol=1e-13, atol=1e-13)
    _, ft_autonomous = reverse_linearisation(lambda t, y: f(torch.zeros_like(t), y), t, y, mode)
    assert ft_autonomous is None


def test_inverse_and_lu_stage_solves_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small Newton blocks are solved with the explicit inverse, larger ones by LU: the same
    steps (one sample, per-sample blocks and the full matrix) to rounding."""
    import odenet.solvers.rosenbrock as rosenbrock

    f = _coupled_field()
    y0 = torch.tensor([[1.0, 0.5, -0.2], [0.3, -1.0, 0.8]], dtype=F64)
    t = torch.tensor([0.0, 0.5, 2.0], dtype=F64)
    results = {}
    for block in (rosenbrock.INVERSE_BLOCK, 0):
        monkeypatch.setattr(rosenbrock, "INVERSE_BLOCK", block)
        for jacobian in ("batch", "full"):
            with torch.no_grad():
                sol = odenet.solve(
                    f, y0, t, method=Rodas5(jacobian=jacobian), rtol=1e-8, atol=1e-10
                )
            results[block, jacobian] = (sol.ys, sol.stats.n_accepted)
    for jacobian in ("batch", "full"):
        ys_inv, n_inv = results[rosenbrock.INVERSE_BLOCK, jacobian]
        ys_lu, n_lu = results[0, jacobian]
        assert n_inv == n_lu
        torch.testing.assert_close(ys_inv, ys_lu, rtol=1e-11, atol=1e-12)


def test_batched_vjp_matches_the_public_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The direct engine pass of ``_batched_vjp`` returns what ``torch.autograd.grad``
    (``is_grads_batched``) returns, and the public fallback is used when it is switched off."""
    import odenet.solvers.implicit.jacobian as jacobian

    f = _coupled_field()
    y = torch.randn(2, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    t = torch.tensor([0.2, 0.9], dtype=F64)
    rows = torch.eye(3, dtype=F64).unsqueeze(1).expand(3, 2, 3)

    def grads() -> tuple:
        results = []
        for call in (jacobian._batched_vjp, None):
            with torch.enable_grad():  # a fresh graph per call (each frees its own)
                z, ts = y.clone().requires_grad_(True), t.clone().requires_grad_(True)
                out = f(ts, z)
                if call is not None:
                    results.append(call(out, (z, ts), rows))
                else:
                    results.append(
                        torch.autograd.grad(
                            out, (z, ts), rows, is_grads_batched=True, allow_unused=True
                        )
                    )
        return tuple(results)

    fast, public = grads()
    for a, b in zip(fast, public, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    monkeypatch.setattr(jacobian, "_FAST_VJP", False)
    slow, public = grads()
    for a, b in zip(slow, public, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
