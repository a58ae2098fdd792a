"""odenet.torchdiffeq.odeint against torchdiffeq.odeint: same inputs, same results."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torchdiffeq

import odenet.torchdiffeq as tdq
from tests.torchdiffeq_compat.cases import ADAPTIVE, FIXED, FIXED_RK, SHARED, Linear, y0_batch


@pytest.mark.parametrize("method", ADAPTIVE)
@pytest.mark.parametrize("reverse", [False, True])
def test_adaptive_matches(method: str, reverse: bool) -> None:
    f, y0 = Linear(), y0_batch()
    t = torch.linspace(0.0, 2.0, 7, dtype=torch.float64)
    if reverse:
        t = t.flip(0)
    low = method in ("adaptive_heun", "fehlberg2", "bosh3")
    kw = {"rtol": 1e-5 if low else 1e-7, "atol": 1e-7 if low else 1e-9, "method": method}
    ours, ref = tdq.odeint(f, y0, t, **kw), torchdiffeq.odeint(f, y0, t, **kw)
    truth = torchdiffeq.odeint(f, y0, t, rtol=1e-12, atol=1e-12, method="dopri8")
    # as accurate as torchdiffeq (dopri8: more, as outputs do not use a 4th-order interpolant)
    err_ours, err_ref = (ours - truth).abs().max(), (ref - truth).abs().max()
    assert err_ours <= 3 * err_ref + 10 * kw["atol"]
    tol = 1e-3 if low else 1e-4
    torch.testing.assert_close(ours, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("method", FIXED_RK)
@pytest.mark.parametrize("interp", [None, "cubic"])
def test_fixed_step_size_matches_exactly(method: str, interp: str | None) -> None:
    """step_size 0.3 does not divide the span: the same grid, the same (linear or cubic)
    outputs between grid points, to rounding."""
    f, y0 = Linear(), y0_batch()
    t = torch.linspace(0.0, 2.0, 6, dtype=torch.float64)
    options: dict[str, object] = {"step_size": 0.3}
    if interp is not None:
        options["interp"] = interp
    ours = tdq.odeint(f, y0, t, method=method, options=options)
    ref = torchdiffeq.odeint(f, y0, t, method=method, options=options)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", FIXED_RK)
def test_fixed_without_step_size_steps_on_output_times(method: str) -> None:
    f, y0 = Linear(), y0_batch()
    t = torch.tensor([0.0, 0.1, 0.3, 0.35, 1.0], dtype=torch.float64)
    ours, ref = tdq.odeint(f, y0, t, method=method), torchdiffeq.odeint(f, y0, t, method=method)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


def test_grid_constructor_matches() -> None:
    f, y0 = Linear(), y0_batch()
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)

    def grid(func, y, tt):
        return torch.cat([torch.linspace(0.0, 0.5, 4, dtype=tt.dtype), tt[-1:]])

    opts = {"grid_constructor": grid}
    ours = tdq.odeint(f, y0, t, method="rk4", options=opts)
    ref = torchdiffeq.odeint(f, y0, t, method="rk4", options=opts)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


class _JumpAtHalf:
    """``-x`` before t = 1/2, ``-2x`` after (a jump on a grid point); records times."""

    def __init__(self, times: list[float]) -> None:
        self.times = times

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        self.times.append(float(t))
        return -x if t < 0.5 else -2 * x


@pytest.mark.parametrize("method", FIXED_RK)
def test_perturb_evaluates_inside_each_step(method: str) -> None:
    """With perturb, no evaluation lands on a grid point; the results equal torchdiffeq's."""
    for perturb in (False, True):
        seen: dict[str, list[float]] = {"ours": [], "ref": []}
        y0 = torch.tensor([1.0, 2.0], dtype=torch.float64)
        t = torch.tensor([0.0, 1.0], dtype=torch.float64)
        opts = {"step_size": 0.25, "perturb": perturb}
        ours = tdq.odeint(_JumpAtHalf(seen["ours"]), y0, t, method=method, options=opts)
        ref = torchdiffeq.odeint(_JumpAtHalf(seen["ref"]), y0, t, method=method, options=opts)
        torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
        on_grid = {0.0, 0.25, 0.5, 0.75, 1.0} & set(seen["ours"])
        assert (not on_grid) if perturb else {0.0, 0.25, 0.5, 0.75} <= on_grid


@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_single_time_returns_y0(method: str) -> None:
    y0 = (torch.tensor(1.0), torch.ones(2, 2))
    t = torch.tensor([0.5])
    ours = tdq.odeint(lambda t, y: (-y[0], -y[1]), y0, t, method=method)
    assert ours[0].shape == (1,) and ours[1].shape == (1, 2, 2)
    assert torch.equal(ours[0][0], y0[0]) and torch.equal(ours[1][0], y0[1])
    z = torch.ones(3, requires_grad=True)
    out = tdq.odeint(lambda t, y: -y, z, t, method=method)
    out.sum().backward()
    assert torch.equal(z.grad, torch.ones(3))


def test_tuple_state_and_user_norm_receive_the_users_shapes() -> None:
    calls: list[tuple[torch.Size, ...]] = []

    def norm(state):
        calls.append(tuple(s.shape for s in state))
        return max(s.abs().max() for s in state)

    y0 = (torch.tensor(1.0, dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64))
    t = torch.linspace(0.0, 1.0, 3, dtype=torch.float64)

    def f(t, y):
        return (-y[0], y[1] * torch.cos(t))

    opts = {"norm": norm}
    ours = tdq.odeint(f, y0, t, options=opts, rtol=1e-8, atol=1e-10)
    ref = torchdiffeq.odeint(f, y0, t, options=opts, rtol=1e-8, atol=1e-10)
    assert calls and set(calls) == {(torch.Size([]), torch.Size([2, 2]))}
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)


def test_func_gets_t_in_state_dtype_and_min_max_step() -> None:
    dts: list[float] = []

    class F(torch.nn.Module):
        def forward(self, t, y):
            assert t.dtype == torch.float32
            return torch.cat([-y[:1], t.reshape(1)])

        def callback_accept_step(self, t0, y0, dt):
            dts.append(float(dt))

    y0 = torch.tensor([1.0, 0.0])
    t = torch.tensor([0.0, 2.0], dtype=torch.float64)
    ours = tdq.odeint(F(), y0, t, options={"max_step": 0.1}, rtol=1e-5, atol=1e-6)
    assert dts and max(dts) <= 0.1 * (1 + 1e-6) and len(dts) >= 20
    ref = torchdiffeq.odeint(F(), y0, t, options={"max_step": 0.1}, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours[-1, 1], torch.tensor(2.0), rtol=1e-5, atol=1e-5)
    assert math.isclose(float(ours[-1, 0]), math.exp(-2.0), rel_tol=1e-4)


@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_callbacks_counted_like_torchdiffeq(method: str) -> None:
    """callback_step runs before every step attempt, accept/reject after each; the fixed
    grid takes exactly torchdiffeq's steps."""

    class F(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.count = {"step": 0, "accept": 0, "reject": 0}

        def forward(self, t, y):
            return -y * (1 + 10 * torch.sin(5 * t) ** 2)

        def callback_step(self, t0, y0, dt):
            assert y0.shape == (3,) and t0.dim() == 0
            self.count["step"] += 1

        def callback_accept_step(self, t0, y0, dt):
            self.count["accept"] += 1

        def callback_reject_step(self, t0, y0, dt):
            self.count["reject"] += 1

    y0 = torch.ones(3, dtype=torch.float64)
    t = torch.tensor([0.0, 2.0], dtype=torch.float64)
    opts = {"step_size": 0.1} if method == "rk4" else {"first_step": 0.5}
    ours, ref = F(), F()
    with pytest.warns(UserWarning) if method == "rk4" else _nullcontext():
        tdq.odeint(ours, y0, t, method=method, options=opts)
    with pytest.warns(UserWarning) if method == "rk4" else _nullcontext():
        torchdiffeq.odeint(ref, y0, t, method=method, options=opts)
    assert ours.count["step"] == ours.count["accept"] + ours.count["reject"] or method == "rk4"
    if method == "rk4":
        assert ours.count == ref.count == {"step": 20, "accept": 0, "reject": 0}
    else:
        assert ours.count["reject"] >= 1  # the large first step is rejected
        assert abs(ours.count["accept"] - ref.count["accept"]) <= 0.2 * ref.count["accept"]


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_jump_t_fewer_evaluations(dtype: torch.dtype) -> None:
    counts = {}
    for name, opts in (("plain", {}), ("jump", {"jump_t": torch.tensor([0.5])})):
        n = [0]

        def f(t, x, n=n):
            n[0] += 1
            return -0.5 * x if t < 0.5 else x**2

        x0 = torch.tensor([1.0, 2.0], dtype=dtype)
        tdq.odeint(f, x0, torch.tensor([0.0, 1.0]), rtol=1e-6, atol=1e-6, options=opts)
        counts[name] = n[0]
    assert counts["jump"] < counts["plain"]


@pytest.mark.parametrize("method", [m for m in FIXED if m not in FIXED_RK])
@pytest.mark.parametrize("options", [{}, {"step_size": 0.05}])
def test_multistep_methods_match(method: str, options: dict) -> None:
    """Methods from odenet's registry beyond Runge--Kutta (Adams): same names, same results."""
    f, y0 = Linear(), y0_batch()
    t = torch.linspace(0.0, 2.0, 6, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn when the corrector iteration stalls
        ours = tdq.odeint(f, y0, t, method=method, options=options)
        ref = torchdiffeq.odeint(f, y0, t, method=method, options=options)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif("scipy_solver" not in SHARED, reason="scipy_solver is not registered")
@pytest.mark.parametrize("solver", ["RK45", "LSODA", "Radau"])
def test_scipy_solver_option_reaches_the_method(solver: str) -> None:
    f, y0 = Linear(), y0_batch().requires_grad_(True)
    t = torch.linspace(0.0, 1.0, 4, dtype=torch.float64)
    opts = {"solver": solver}
    ours = tdq.odeint(f, y0, t, method="scipy_solver", options=opts, rtol=1e-8, atol=1e-10)
    ref = torchdiffeq.odeint(f, y0, t, method="scipy_solver", options=opts, rtol=1e-8, atol=1e-10)
    assert not ours.requires_grad  # as torchdiffeq: scipy gives no gradients
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-8)


def test_odeint_dense_matches_torchdiffeq() -> None:
    f, y0 = Linear(), y0_batch()
    t0, t1 = torch.tensor(0.0, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64)
    ours = tdq.odeint_dense(f, y0, t0, t1, rtol=1e-9, atol=1e-11)
    ref = torchdiffeq.odeint_dense(f, y0, t0, t1, rtol=1e-9, atol=1e-11)
    t_eval = torch.tensor([0.3, 1.1, 1.9], dtype=torch.float64)
    truth = torchdiffeq.odeint(f, y0, torch.cat([t0[None], t_eval]), rtol=1e-12, atol=1e-12)[1:]
    ref_values = torch.stack([ref(x) for x in t_eval])  # torchdiffeq's takes scalars only
    torch.testing.assert_close(ours(t_eval), ref_values, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ours(t_eval[1]), ref(t_eval[1]), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ours(t_eval), truth, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("method", [m for m in FIXED if m not in FIXED_RK])
@pytest.mark.parametrize("perturb", [False, True])
def test_multistep_perturb_matches(method: str, perturb: bool) -> None:
    """Adams with a field that jumps on a grid point: perturb changes the result exactly as
    in torchdiffeq (each step's f0 just after its start, corrector just before its end)."""
    y0 = torch.ones(2, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    opts = {"step_size": 0.05, "perturb": perturb}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = tdq.odeint(_JumpAtHalf([]), y0, t, method=method, options=opts)
        ref = torchdiffeq.odeint(_JumpAtHalf([]), y0, t, method=method, options=opts)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
