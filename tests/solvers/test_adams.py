"""explicit_adams / implicit_adams: coefficients, convergence order, agreement with
torchdiffeq 0.2.5 on the same grid, gradients, dense output and errors."""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import pytest
import torch
from torch.autograd import gradcheck

import odenet
from odenet.solvers import ExplicitAdams, ImplicitAdams, get_method
from odenet.solvers.adams import adams_bashforth_coefficients, adams_moulton_coefficients
from tests.helpers import linear_problem, log_slope

torchdiffeq = pytest.importorskip("torchdiffeq")
fixed_adams = pytest.importorskip("torchdiffeq._impl.fixed_adams")

METHODS = {"explicit_adams": ExplicitAdams, "implicit_adams": ImplicitAdams}


def _quiet(cls: type, **kwargs: object) -> object:
    """Construct without the max_order < 4 warning (tested separately)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return cls(**kwargs)


# -- coefficients -----------------------------------------------------------------------
def test_textbook_coefficients() -> None:
    assert adams_bashforth_coefficients(1) == (1,)
    assert adams_bashforth_coefficients(2) == (Fraction(3, 2), Fraction(-1, 2))
    assert adams_bashforth_coefficients(4) == tuple(Fraction(x, 24) for x in (55, -59, 37, -9))
    assert adams_moulton_coefficients(2) == (Fraction(1, 2), Fraction(1, 2))
    assert adams_moulton_coefficients(4) == tuple(Fraction(x, 24) for x in (9, 19, -5, 1))


@pytest.mark.parametrize("k", range(1, 13))
def test_coefficients_equal_torchdiffeq_tables_exactly(k: int) -> None:
    div = fixed_adams._DIVISOR[k]
    assert adams_bashforth_coefficients(k) == tuple(
        Fraction(b, div) for b in fixed_adams._BASHFORTH_COEFFICIENTS[k]
    )
    if k > 1:  # torchdiffeq's order-1 Moulton entry reads 1/11 (it is never used: the
        # corrector there is at least of order 4)
        assert adams_moulton_coefficients(k) == tuple(
            Fraction(m, div) for m in fixed_adams._MOULTON_COEFFICIENTS[k]
        )
    # consistency: each formula integrates f = 1 exactly
    assert sum(adams_bashforth_coefficients(k)) == 1
    assert sum(adams_moulton_coefficients(k)) == 1


# -- convergence order ------------------------------------------------------------------
# global order of a solve: the start-up (two 3/8-rule steps, then the formulas of growing
# order) bounds it; see odenet.solvers.adams
ORDERS = [
    ("explicit_adams", 3, 4),  # max_order 3: every step is the 3/8 Runge--Kutta rule
    ("explicit_adams", 4, 3),
    ("explicit_adams", 5, 4),
    ("explicit_adams", 7, 4),
    ("implicit_adams", 3, 4),
    ("implicit_adams", 4, 4),
    ("implicit_adams", 5, 5),
    ("implicit_adams", 7, 5),
]


@pytest.mark.parametrize(("name", "max_order", "order"), ORDERS)
def test_order_of_convergence(name: str, max_order: int, order: int) -> None:
    prob = linear_problem()
    method = _quiet(METHODS[name], max_order=max_order, max_iters=30)
    assert method.order == order
    t = torch.tensor([0.0, prob.t1], dtype=torch.float64)
    exact = prob.exact(t)[-1]
    levels = [16, 32, 64, 128]
    errs = []
    for n in levels:
        ys = odenet.odeint(prob.f, prob.y0, t, method=method, n_steps=n, rtol=1e-13, atol=1e-15)
        errs.append(float((ys[-1] - exact).abs().max()))
    slope = log_slope([1.0 / n for n in levels], errs)
    assert abs(slope - order) <= 0.3, f"{name}({max_order}): slope {slope:.3f}, errors {errs}"


# -- torchdiffeq as the oracle ----------------------------------------------------------
def _field(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A nonlinear, time-dependent field on (batch, 2)."""
    return torch.stack([y[:, 1], -torch.sin(y[:, 0]) - 0.1 * y[:, 1] + 0.3 * torch.cos(t)], -1)


Y0 = torch.tensor([[1.0, 0.0], [0.5, -0.4], [-2.0, 0.3]], dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("max_order", [2, 4, 5, 8, 12])
@pytest.mark.parametrize("max_iters", [1, 4])
def test_agrees_with_torchdiffeq_on_the_output_grid(
    name: str, max_order: int, max_iters: int
) -> None:
    """torchdiffeq steps on t when no step_size is given: n_steps=len(t)-1 is that grid.
    max_iters=1 makes the corrector stop unconverged (warning, shorter history) in both."""
    t = torch.linspace(0.0, 2.0, 81, dtype=torch.float64)
    opts = {"max_order": max_order, "max_iters": max_iters}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torchdiffeq.odeint(_field, Y0, t, method=name, options=opts)
        ours = odenet.odeint(_field, Y0, t, method=METHODS[name](**opts), n_steps=80)
    # the 11th-order Adams--Bashforth formula is unstable at this step on an oscillating
    # solution (|h lambda| = 0.025): it amplifies rounding differences (summation order)
    # from 1e-16 to about 1e-8 relative in both libraries alike
    tol = 1e-6 if (name, max_order) == ("explicit_adams", 12) else 1e-12
    torch.testing.assert_close(ours, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_agrees_with_torchdiffeq_step_size_and_backwards(name: str) -> None:
    t = torch.tensor([0.0, 0.5, 1.0, 2.0], dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torchdiffeq.odeint(_field, Y0, t, method=name, options={"step_size": 0.125})
        ref_back = torchdiffeq.odeint(
            _field, Y0, t.flip(0), method=name, options={"step_size": 0.125}
        )
        ours = odenet.odeint(_field, Y0, t, method=name, step_size=0.125)
        ours_back = odenet.odeint(_field, Y0, t.flip(0), method=name, step_size=0.125)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours_back, ref_back, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_same_number_of_evaluations_as_torchdiffeq(name: str) -> None:
    counts = {"ref": 0, "ours": 0}

    def counted(key: str):
        def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            counts[key] += 1
            return _field(t, y)

        return f

    t = torch.linspace(0.0, 2.0, 21, dtype=torch.float64)
    torchdiffeq.odeint(counted("ref"), Y0, t, method=name, options={"max_order": 6})
    sol = odenet.solve(
        counted("ours"), Y0, t, method=METHODS[name](max_order=6), n_steps=20, dense=False
    )
    assert counts["ours"] == counts["ref"] == sol.stats.nfe
    if name == "explicit_adams":  # two 3/8 steps (4 evaluations each), then one per step
        assert sol.stats.nfe == 20 + 6


def test_float32_state_follows_dtype() -> None:
    y0 = Y0.float()
    t = torch.linspace(0.0, 1.0, 11)
    ours = odenet.odeint(_field, y0, t, method="implicit_adams", n_steps=10)
    ref = torchdiffeq.odeint(_field, y0, t, method="implicit_adams")
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


# -- outputs between grid points, dense output, events ----------------------------------
@pytest.mark.parametrize("name", sorted(METHODS))
def test_outputs_between_grid_points_and_dense_output(name: str) -> None:
    prob = linear_problem()
    t = torch.tensor([0.0, 0.33, 0.5, 0.71, 1.0], dtype=torch.float64)
    method = METHODS[name](max_order=5)
    sol = odenet.solve(prob.f, prob.y0, t, method=method, step_size=1 / 64)
    exact = prob.exact(t)
    # global error of the grid values ~2e-7 at h = 1/64 (fourth order), plus cubic Hermite
    # between grid points (O(h^4) locally)
    assert float((sol.ys - exact).abs().max()) < 1e-6
    mid = torch.tensor([0.123, 0.877], dtype=torch.float64)
    assert float((sol.evaluate(mid) - prob.exact(mid)).abs().max()) < 1e-6


@pytest.mark.parametrize("name", sorted(METHODS))
def test_terminal_event(name: str) -> None:
    """y' = -y from 1 reaches 0.5 at t = ln 2."""
    y0 = torch.tensor([1.0], dtype=torch.float64)
    t = torch.tensor([0.0, 2.0], dtype=torch.float64)
    event_t, ys = odenet.odeint(
        lambda t, y: -y,
        y0,
        t,
        method=METHODS[name](max_order=5),
        step_size=0.01,
        event_fn=lambda t, y: y[0] - 0.5,
    )
    assert float(event_t) == pytest.approx(math.log(2.0), abs=1e-8)
    assert float(ys[-1, 0]) == pytest.approx(0.5, abs=1e-8)


# -- gradients --------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(METHODS))
def test_gradcheck_float64(name: str) -> None:
    t = torch.tensor([0.0, 0.4, 1.0], dtype=torch.float64)
    method = METHODS[name](max_order=5)
    w = 0.5 * torch.randn(2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y0 = Y0[:2].clone()

    def solve(y0: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return odenet.odeint(lambda t, y: torch.tanh(y @ w.T), y0, t, method=method, n_steps=12)

    assert gradcheck(solve, (y0.requires_grad_(), w.requires_grad_()))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_gradient_wrt_time_flows(name: str) -> None:
    """dy(t1)/dt1 = f(t1, y(t1)) through the output-time terms."""
    y0 = torch.tensor([1.0], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    ys = odenet.odeint(lambda t, y: -y, y0, t, method=METHODS[name](max_order=5), n_steps=50)
    (g,) = torch.autograd.grad(ys[-1].sum(), t)
    assert float(g[1]) == pytest.approx(-math.exp(-1.0), rel=1e-6)
    assert float(g[0]) == pytest.approx(math.exp(-1.0), rel=1e-6)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_adjoint_matches_autograd(name: str) -> None:
    torch.manual_seed(0)
    field = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    field = field.double()
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    y0 = Y0.clone().requires_grad_()
    params = [y0, *field.parameters()]
    method = METHODS[name](max_order=5)

    def loss(gradient: object) -> list[torch.Tensor]:
        ys = odenet.odeint(
            lambda t, y: field(y), y0, t, method=method, n_steps=100, gradient=gradient
        )
        return torch.autograd.grad((ys**2).sum(), params)

    auto = loss(None)
    adj = loss(odenet.Adjoint(params=tuple(field.parameters())))
    for a, b in zip(auto, adj, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)


# -- capabilities and errors ------------------------------------------------------------
def test_registered_names_and_capabilities() -> None:
    for name, cls in METHODS.items():
        m = get_method(name)
        assert isinstance(m, cls) and m.name == name
        assert not m.adaptive and m.differentiable and m.reference
        assert m == cls() and hash(m) == hash(cls())
    assert ExplicitAdams(max_order=5) != ExplicitAdams()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_order": 13}, ValueError, "max_order must be between 1 and 12; got max_order=13"),
        ({"max_order": 0}, ValueError, "max_order must be between 1 and 12"),
        ({"max_order": 4.0}, TypeError, "max_order must be an integer"),
        ({"max_order": True}, TypeError, "max_order must be an integer"),
        ({"max_iters": 0}, ValueError, "max_iters must be at least 1; got max_iters=0"),
    ],
)
def test_bad_method_arguments(kwargs: dict, error: type, match: str) -> None:
    for cls in METHODS.values():
        with pytest.raises(error, match=match):
            cls(**kwargs)


def test_low_max_order_warns() -> None:
    with pytest.warns(UserWarning, match="max_order=3 is below 4"):
        ImplicitAdams(max_order=3)


def test_unconverged_corrector_warns() -> None:
    t = torch.tensor([0.0, 4.0], dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="did not converge in max_iters=1"):
        odenet.odeint(_field, Y0, t, method=ImplicitAdams(max_iters=1), n_steps=40)


def test_bad_solve_settings_name_the_fix() -> None:
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="is fixed-step and needs step_size"):
        odenet.odeint(_field, Y0, t, method="explicit_adams")
    with pytest.raises(ValueError, match=r"odenet.solvers.ImplicitAdams\(...\)"):
        odenet.odeint(_field, Y0, t, method="implicit_adams", n_steps=4, options={"max_order": 5})
    with pytest.raises(ValueError, match=r"first_step=0\.1 is not supported by"):
        odenet.odeint(_field, Y0, t, method="implicit_adams", n_steps=4, first_step=0.1)
    with pytest.raises(ValueError, match="does not support gradient='checkpoint'"):
        odenet.odeint(_field, Y0, t, method="explicit_adams", n_steps=4, gradient="checkpoint")
    with pytest.raises(ValueError, match="explicit Runge--Kutta methods only"):
        odenet.odeint(_field, Y0, t, method="explicit_adams", batch_mode="independent")


def test_ode_to_resnet_refuses_a_multistep_method() -> None:
    from odenet.convert.unroll import unroll_block

    block = odenet.ODEBlock(odenet.MLPField(2, 8), method="rk4", step_size=0.25)
    with pytest.raises(ValueError, match="not a one-step Runge--Kutta method"):
        unroll_block(block, 4, method="explicit_adams")


@pytest.mark.parametrize("name", ["explicit_adams", "implicit_adams"])
def test_non_uniform_grid_keeps_fourth_order(name: str) -> None:
    """On the grid 2 u^2 (every step a different size) the equal-step Adams weights used
    to drop the solve to second order (error ratio 4 per halving); restarting where the
    step changes keeps the start-up's fourth order. y' = cos t, y(2) = sin 2."""
    errors = []
    for n in (40, 80):
        grid = 2 * torch.linspace(0, 1, n + 1, dtype=torch.float64) ** 2
        y = odenet.odeint(
            lambda t, y: torch.cos(t) * torch.ones_like(y),
            torch.zeros(1, dtype=torch.float64),
            torch.tensor([0.0, 2.0], dtype=torch.float64),
            method=name,
            options={"grid": grid},
        )
        errors.append(abs(float(y[-1, 0]) - math.sin(2.0)))
    assert errors[0] / errors[1] > 12.0  # fourth order: 16
