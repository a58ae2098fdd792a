"""checkpoint and reversible equal autograd on the same discretisation (float64, <= 1e-10)."""

from __future__ import annotations

import pytest
import torch

import odenet
from odenet.gradients import Checkpoint, Reversible
from odenet.gradients.reversible import integrate_reversible_heun, reversible_grid
from odenet.solvers.field import CountingField
from odenet.solving._checks import check_y0
from odenet.solving.strategy import Problem
from tests.gradients.gradient_cases import TimeMLP, collect, initial_state, max_difference

T_OUT = torch.tensor([0.0, 0.25, 0.6, 1.0], dtype=torch.float64)

SETTINGS = [
    {"method": "rk4", "n_steps": 40},  # outputs interpolated (cubic Hermite)
    {"method": "heun", "step_size": 0.07},  # short last step, non-FSAL Hermite with f1
    {"method": "dopri5", "rtol": 1e-7, "atol": 1e-9},  # FSAL, own dense output
    {"method": "tsit5", "rtol": 1e-6, "atol": 1e-8},
    {"method": "bosh3", "rtol": 1e-5, "atol": 1e-7},  # rejections happen at the start
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: s["method"])
@pytest.mark.parametrize("budget", [None, 1, 3])
def test_checkpoint_equals_autograd(settings: dict, budget: int | None) -> None:
    f = TimeMLP()
    y0 = initial_state()
    ref = collect(f, y0, T_OUT, **settings)
    strategy = Checkpoint(budget=budget)
    got = collect(f, y0, T_OUT, gradient=strategy, **settings)
    assert torch.equal(got["ys"], ref["ys"])  # the same steps, bit for bit
    assert max_difference(got, ref) <= 1e-10
    assert got["unused"] is None and ref["unused"] is None
    assert strategy.nfe_backward > 0


def test_checkpoint_equals_autograd_decreasing_time_and_jumps() -> None:
    f = TimeMLP(seed=3)
    y0 = initial_state(seed=4)
    t = torch.tensor([1.0, 0.7, 0.2], dtype=torch.float64)
    kw = {"method": "dopri5", "rtol": 1e-6, "atol": 1e-8, "options": {"jump_t": [0.5]}}
    ref = collect(f, y0, t, **kw)
    got = collect(f, y0, t, gradient="checkpoint", **kw)
    assert max_difference(got, ref) <= 1e-10


def test_checkpoint_stats_match_plain_solve() -> None:
    f = TimeMLP()
    y0 = initial_state().requires_grad_(True)
    plain = odenet.solve(f, y0, T_OUT, method="dopri5", rtol=1e-6)
    ck = odenet.solve(f, y0, T_OUT, method="dopri5", rtol=1e-6, gradient="checkpoint")
    assert (ck.stats.nfe, ck.stats.n_accepted, ck.stats.n_rejected) == (
        plain.stats.nfe,
        plain.stats.n_accepted,
        plain.stats.n_rejected,
    )


class TupleField(torch.nn.Module):
    """A coupled pair: ``dx/dt = tanh(x W) + v[:, None]``, ``dv/dt = -sum(x, -1) * a``."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(5)
        self.w = torch.nn.Parameter(torch.randn(3, 3, generator=g, dtype=torch.float64))
        self.a = torch.nn.Parameter(torch.tensor(0.7, dtype=torch.float64))

    def forward(self, t: torch.Tensor, state: tuple) -> tuple:
        x, v = state
        return torch.tanh(x @ self.w) + v[:, None], -x.sum(-1) * self.a


TUPLE_CASES = [
    ("checkpoint", {"method": "dopri5", "rtol": 1e-10, "atol": 1e-12}, 1e-10),
    ("adjoint", {"method": "dopri5", "rtol": 1e-10, "atol": 1e-12}, 1e-7),
    # second order, h = 1/2000: the gradient error is about 1e-7 here
    ("reversible", {"method": "reversible_heun", "n_steps": 2000}, 1e-5),
]


@pytest.mark.parametrize(
    ("gradient", "settings", "tol"), TUPLE_CASES, ids=[c[0] for c in TUPLE_CASES]
)
def test_tuple_state(gradient: str, settings: dict, tol: float) -> None:
    f = TupleField()
    g = torch.Generator().manual_seed(6)
    x0 = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    v0 = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64, requires_grad=True)

    def grads(**kw: object) -> list[torch.Tensor]:
        for x in (x0, v0, t, *f.parameters()):
            x.grad = None
        xs, vs = odenet.odeint(f, (x0, v0), t, **kw)
        assert xs.shape == (3, 2, 3) and vs.shape == (3, 2)
        ((xs**2).sum() + (vs * torch.arange(3.0, dtype=vs.dtype)[:, None]).sum()).backward()
        return [x.grad.clone() for x in (x0, v0, t, *f.parameters())]

    ref = grads(method="dopri5", rtol=1e-10, atol=1e-12)
    got = grads(gradient=gradient, **settings)
    for a, b in zip(got, ref, strict=True):
        assert torch.allclose(a, b, rtol=0, atol=tol), (a, b)


@pytest.mark.parametrize("n_steps", [7, 60])
def test_reversible_equals_autograd_through_the_same_steps(n_steps: int) -> None:
    f = TimeMLP(seed=2)
    y0 = initial_state(seed=7)
    strategy = Reversible()
    got = collect(f, y0, T_OUT, method="reversible_heun", gradient=strategy, n_steps=n_steps)
    # reference: autograd through the same reversible Heun steps, time terms added by hand
    problem = Problem.build(
        f, check_y0(y0), T_OUT, T_OUT.tolist(), "reversible_heun", 1e-7, 1e-9, {"n_steps": n_steps}
    )
    grid, out_idx = reversible_grid(problem)
    assert all(grid[i] == x for i, x in zip(out_idx, T_OUT.tolist(), strict=True))
    y = y0.clone().requires_grad_(True)
    f.zero_grad(set_to_none=True)
    outs, _ = integrate_reversible_heun(CountingField(f, torch.float64, y.device), y, grid, out_idx)
    ys = torch.stack(outs)
    assert torch.equal(ys.detach(), got["ys"])
    from tests.gradients.gradient_cases import weighted_loss

    weighted_loss(ys).backward()
    assert float((y.grad - got["y0"]).abs().max()) <= 1e-10
    for name, p in f.named_parameters():
        if p.grad is None:
            assert got[name] is None
        else:
            assert float((p.grad - got[name]).abs().max()) <= 1e-10, name
    assert strategy.nfe_backward == len(grid)  # one evaluation per step plus f(t_N, z_N)
