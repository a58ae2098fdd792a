"""The continuous adjoint converges to autograd's gradient as its tolerances tighten."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torchdiffeq

import odenet
from odenet.gradients import Adjoint
from tests.gradients.gradient_cases import TimeMLP, collect, initial_state, max_difference

T_OUT = torch.tensor([0.0, 0.25, 0.6, 1.0], dtype=torch.float64)

# (rtol, atol) of forward and backward dopri5 solves, and the largest entrywise error of
# all gradients (y0, t, parameters; their scale is ~13) against autograd through dopri8 at
# rtol=1e-13 observed when this test was written:
#   (1e-3, 1e-5): 1.5e-3   (1e-5, 1e-7): 5.0e-6   (1e-7, 1e-9): 3.2e-7   (1e-9, 1e-11): 6.4e-10
# The bounds below are those observations times 5.
PAIRS = [
    ((1e-3, 1e-5), 7.5e-3),
    ((1e-5, 1e-7), 2.5e-5),
    ((1e-7, 1e-9), 1.6e-6),
    ((1e-9, 1e-11), 3.2e-9),
]


@pytest.fixture(scope="module")
def reference() -> dict:
    return collect(TimeMLP(), initial_state(), T_OUT, method="dopri8", rtol=1e-13, atol=1e-14)


def test_adjoint_converges_to_autograd(reference: dict) -> None:
    errors = []
    for (rtol, atol), bound in PAIRS:
        got = collect(
            TimeMLP(),
            initial_state(),
            T_OUT,
            method="dopri5",
            rtol=rtol,
            atol=atol,
            gradient="adjoint",
        )
        err = max_difference(got, reference)
        assert err <= bound, (rtol, atol, err)
        errors.append(err)
    # tightening the tolerances 10^6-fold shrinks the error at least 10^5-fold
    assert errors[-1] <= 1e-5 * errors[0]
    assert all(b < a for a, b in itertools.pairwise(errors))


def test_seminorm_saves_backward_evaluations_at_equal_accuracy(reference: dict) -> None:
    # observed (the backward starting from the forward's last step size): backward nfe
    # 99 -> 69 at (1e-7, 1e-9) and 231 -> 159 at (1e-9, 1e-11), with the error at most 1.9x
    # that of the full norm. At (1e-5, 1e-7) the seminorm saves evaluations (51 -> 33) but
    # the uncontrolled parameter quadrature is 6x less accurate (4.7e-5 vs 7.6e-6), so it
    # is not "equal accuracy" there and is checked only for the saving.
    for (rtol, atol), bound in PAIRS[1:]:
        full, semi = Adjoint(), Adjoint(seminorm=True)
        kw = {"method": "dopri5", "rtol": rtol, "atol": atol}
        err_full = max_difference(
            collect(TimeMLP(), initial_state(), T_OUT, gradient=full, **kw), reference
        )
        err_semi = max_difference(
            collect(TimeMLP(), initial_state(), T_OUT, gradient=semi, **kw), reference
        )
        assert semi.nfe_backward < 0.85 * full.nfe_backward, (semi.nfe_backward, full.nfe_backward)
        assert err_full <= bound, (rtol, err_full)
        if rtol <= 1e-7:
            assert err_semi <= 3 * err_full, (err_semi, err_full)
        else:
            assert err_semi <= 10 * err_full, (err_semi, err_full)


def test_fixed_step_adjoint_is_fourth_order_with_rk4(reference: dict) -> None:
    # rk4 forward and backward: the gradient error falls as h^4 (observed 4.2e-5, 2.5e-6, 1.6e-7)
    errs = [
        max_difference(
            collect(TimeMLP(), initial_state(), T_OUT, method="rk4", n_steps=n, gradient="adjoint"),
            reference,
        )
        for n in (10, 20, 40)
    ]
    slopes = [math.log2(a / b) for a, b in itertools.pairwise(errs)]
    assert all(3.7 <= s <= 4.4 for s in slopes), slopes


def test_adjoint_params_for_a_plain_function() -> None:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y0 = initial_state().requires_grad_(True)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.sin(y @ w)

    def grads(solve, **kw: object) -> tuple[torch.Tensor, torch.Tensor]:
        ys = solve(f, y0, t, rtol=1e-10, atol=1e-12, **kw)
        return torch.autograd.grad(ys[-1].square().sum(), (y0, w))

    ref = grads(odenet.odeint)
    got = grads(odenet.odeint_adjoint, adjoint_params=(w,))
    for a, b in zip(got, ref, strict=True):
        assert torch.allclose(a, b, rtol=0, atol=1e-8)


def test_odeint_adjoint_agrees_with_torchdiffeq() -> None:
    f = TimeMLP(seed=4)
    y0 = initial_state(seed=5)
    kw = {"rtol": 1e-10, "atol": 1e-12, "method": "dopri5"}
    ours = collect(f, y0, T_OUT, solve=odenet.odeint_adjoint, **kw)
    theirs = collect(f, y0, T_OUT, solve=torchdiffeq.odeint_adjoint, **kw)
    theirs["unused"] = None if ours["unused"] is None else theirs["unused"]  # torchdiffeq: zeros
    assert max_difference(ours, theirs) <= 1e-8


def test_odeint_adjoint_seminorm_option() -> None:
    f = TimeMLP()
    y0 = initial_state()
    kw = {"rtol": 1e-8, "atol": 1e-10}
    a = collect(f, y0, T_OUT, solve=odenet.odeint_adjoint, **kw)
    b = collect(
        f, y0, T_OUT, solve=odenet.odeint_adjoint, adjoint_options={"norm": "seminorm"}, **kw
    )
    assert max_difference(a, b) <= 1e-6


def test_backward_starts_from_the_forward_step_size(reference: dict) -> None:
    # the backward solve starts from the step the forward controller proposed at t_N (and
    # each interval from the previous one's): observed 99 backward evaluations at (1e-7,
    # 1e-9) against 132 with Hairer's initial-step probe per interval, same error
    strategy = Adjoint()
    got = collect(
        TimeMLP(), initial_state(), T_OUT, method="dopri5", rtol=1e-7, atol=1e-9,
        gradient=strategy,
    )  # fmt: skip
    assert max_difference(got, reference) <= PAIRS[2][1]
    assert strategy.nfe_backward <= 110, strategy.nfe_backward
    # other backward tolerances: no forward step to reuse, the probe runs, still accurate
    other = Adjoint(rtol=1e-9, atol=1e-11)
    got = collect(
        TimeMLP(), initial_state(), T_OUT, method="dopri5", rtol=1e-7, atol=1e-9,
        gradient=other,
    )  # fmt: skip
    assert max_difference(got, reference) <= 1e-6
