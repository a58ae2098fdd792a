"""Regression tests for the solver-core bugs found while running torchdiffeq's suite (issue 13).

torchdiffeq serves as the oracle where it has the same behaviour.
"""

from __future__ import annotations

import pytest
import torch
import torchdiffeq

import odenet

ADAPTIVE = ["adaptive_heun", "fehlberg2", "bosh3", "dopri5", "tsit5", "dopri8"]


def test_tuple_state_with_zero_dim_tensor_matches_torchdiffeq() -> None:
    """A 0-d tensor inside a tuple state is unpacked to shape () (was: reshape() crash)."""

    def f(t, y):
        return (-y[0], y[1] * torch.cos(t))

    y0 = (torch.tensor(1.0, dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64))
    t = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)
    ours = odenet.odeint(f, y0, t, rtol=1e-9, atol=1e-11)
    ref = torchdiffeq.odeint(f, y0, t, rtol=1e-9, atol=1e-11)
    assert ours[0].shape == (5,) and ours[1].shape == (5, 2, 2)
    torch.testing.assert_close(ours[0], ref[0], rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(ours[1], ref[1], rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(ours[0][-1], torch.exp(torch.tensor(-1.0, dtype=torch.float64)))


class _JumpField:
    """``dx/dt = -x/2`` before t = 1/2, ``x**2`` after: a discontinuity in time."""

    def __init__(self) -> None:
        self.nfe = 0
        self.times: list[float] = []

    def __call__(self, t, x):
        self.nfe += 1
        self.times.append(float(t))
        return -0.5 * x if t < 0.5 else x**2


def _jump_exact(x0: torch.Tensor) -> torch.Tensor:
    xh = x0 * torch.exp(torch.tensor(-0.25, dtype=torch.float64))
    return xh / (1 - 0.5 * xh)  # x' = x^2 from t = 1/2 to 1


@pytest.mark.parametrize("method", ADAPTIVE)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_jump_t_effective_in_float32(method: str, dtype: torch.dtype) -> None:
    """jump_t must not cost more evaluations than no jump_t, and the jump is respected:
    no evaluation at or past 1/2 belongs to the step ending on it, the first stage after
    it is strictly past it in the dtype func sees, and the solution is accurate."""
    x0 = torch.tensor([1.0, 0.5], dtype=dtype)
    t = torch.tensor([0.0, 1.0])  # float32 times, as in torchdiffeq's suite
    plain, jumped = _JumpField(), _JumpField()
    odenet.odeint(plain, x0, t, method=method, rtol=1e-6, atol=1e-6)
    ys = odenet.odeint(
        jumped, x0, t, method=method, rtol=1e-6, atol=1e-6, options={"jump_t": torch.tensor([0.5])}
    )
    assert jumped.nfe <= plain.nfe
    assert 0.5 not in jumped.times  # neither side evaluates exactly on the jump
    tol = 1e-3 if method in ("adaptive_heun", "fehlberg2", "bosh3") else 1e-4
    torch.testing.assert_close(
        ys[-1].double(), _jump_exact(x0.double()), rtol=tol, atol=tol, check_dtype=False
    )


def test_adjoint_with_pure_forcing_field() -> None:
    """func(t, y) depending on neither y nor parameters: dL/dy0 is the identity."""

    class Forcing(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unused = torch.nn.Parameter(torch.tensor(2.0, dtype=torch.float64))

        def forward(self, t, y):
            return torch.ones_like(y) * torch.sin(t)

    y0 = torch.ones(3, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    f = Forcing()
    ys = odenet.odeint_adjoint(f, y0, t)
    ys.sum().backward()
    torch.testing.assert_close(y0.grad, torch.full((3,), 3.0, dtype=torch.float64))
    exact = 1 + (1 - torch.cos(t[-1])) * torch.ones(3, dtype=torch.float64)
    torch.testing.assert_close(ys[-1], exact)
    assert f.unused.grad is None


@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_func_receives_t_in_state_dtype(method: str) -> None:
    """A float32 state with float64 t: func sees float32 t, so torch.cat([y, t]) works,
    and the result equals torchdiffeq's (which casts t the same way)."""
    seen: list[torch.dtype] = []

    def f(t, y):
        seen.append(t.dtype)
        return torch.cat([-y[:1], t.expand(1)])

    y0 = torch.tensor([1.0, 0.0])
    t = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)
    kw = {"options": {"step_size": 0.125}} if method == "rk4" else {"rtol": 1e-6, "atol": 1e-7}
    ours = odenet.odeint(f, y0, t, method=method, **kw)
    assert set(seen) == {torch.float32}
    assert ours.dtype == torch.float32
    ref = torchdiffeq.odeint(f, y0, t, method=method, **kw)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours[:, 1], (0.5 * t**2).float(), rtol=1e-5, atol=1e-6)


def test_fixed_step_adjoint_without_step_size_names_the_fix() -> None:
    f = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="fixed-step and needs step_size") as info:
        odenet.odeint_adjoint(f, torch.ones(1, 2), torch.tensor([0.0, 1.0]), method="rk4")
    assert "adaptive" not in str(info.value).split(";")[0]


class _Field(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 2)

    def forward(self, t, y):
        return self.lin(y)


def test_adjoint_after_an_explicit_forward_grid_asks_for_a_backward_step() -> None:
    f = _Field()
    grid = {"grid": torch.linspace(0.0, 1.0, 5)}
    with pytest.raises(ValueError, match="explicit options\\['grid'\\]"):
        odenet.odeint_adjoint(f, torch.ones(1, 2), torch.tensor([0.0, 1.0]), method="rk4",
                              options=grid)  # fmt: skip
    ys = odenet.odeint_adjoint(f, torch.ones(1, 2), torch.tensor([0.0, 1.0]), method="rk4",
                               options=grid, adjoint_options={"step_size": 0.25})  # fmt: skip
    ys.sum().backward()
    assert f.lin.weight.grad is not None
