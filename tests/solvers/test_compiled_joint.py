"""``compile_step`` in the joint batch mode: the compiled step gives the eager solve."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import odenet


class Field(nn.Module):
    """A small time-dependent MLP field on ``(batch, 3)``, float64."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w1 = nn.Parameter(0.6 * torch.randn(8, 3, generator=g, dtype=torch.float64))
        self.w2 = nn.Parameter(0.6 * torch.randn(3, 8, generator=g, dtype=torch.float64))
        self.c = nn.Parameter(0.5 * torch.randn(8, generator=g, dtype=torch.float64))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.tanh(y @ self.w1.T + t * self.c) @ self.w2.T


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "kw"),
    [("rk4", {"step_size": 0.05}), ("dopri5", {"rtol": 1e-8, "atol": 1e-10})],
)
def test_compiled_joint_solve_equals_eager_and_compiles_once(method: str, kw: dict) -> None:
    from torch._dynamo.utils import counters

    f = Field()
    g = torch.Generator().manual_seed(1)
    y0 = torch.randn(5, 3, generator=g, dtype=torch.float64)
    t = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    with torch.no_grad():
        eager = odenet.solve(f, y0, t, method=method, **kw)
        compiled = odenet.solve(f, y0, t, method=method, compile_step=True, **kw)
        graphs = counters["stats"]["unique_graphs"]
        # other values of the same shape: no new compilation
        again = odenet.solve(f, 2 * y0, 0.5 * t, method=method, compile_step=True, **kw)
        assert counters["stats"]["unique_graphs"] == graphs
        reference = odenet.solve(f, 2 * y0, 0.5 * t, method=method, **kw)
    assert compiled.stats.nfe == eager.stats.nfe
    assert compiled.stats.n_accepted == eager.stats.n_accepted
    assert torch.allclose(compiled.ys, eager.ys, rtol=0, atol=1e-12)
    assert torch.allclose(again.ys, reference.ys, rtol=0, atol=1e-12)
    # dense output is the method's own, on the compiled steps
    assert torch.allclose(compiled.evaluate(0.5), eager.evaluate(0.5), rtol=0, atol=1e-12)


def test_compile_step_with_another_gradient_strategy_is_refused() -> None:
    f = Field()
    y0 = torch.zeros(2, 3, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="compile_step"):
        odenet.odeint(f, y0, t, gradient="adjoint", compile_step=True)


def test_compile_step_mode_string_only_in_joint_mode() -> None:
    f = Field()
    y0 = torch.zeros(2, 3, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with pytest.raises(TypeError, match="compile_step"):
        odenet.solve(f, y0, t, batch_mode="independent", compile_step="reduce-overhead")
    with pytest.raises(TypeError, match="compile_step"):
        odenet.solve(f, y0, t, compile_step=1)


def _jumping(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """dy/dt = 1 before t = 0.5, 3 from it on: y(1) = y(0) + 2 exactly."""
    return torch.where(t < 0.5, torch.ones_like(y), 3 * torch.ones_like(y))


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("rk4", {"grid": torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), "perturb": True}),
        ("dopri5", {"jump_t": torch.tensor([0.5], dtype=torch.float64)}),
    ],
)
def test_compile_step_keeps_perturb_and_jump_t(monkeypatch, method: str, options: dict) -> None:
    """Steps whose evaluation times are moved (perturb, jump_t) must not bypass the move.

    ``torch.compile`` is replaced by the identity: what is tested is which steps go through
    the compiled function, not the compiler.
    """
    from odenet.solvers import compiled

    monkeypatch.setattr(compiled.torch, "compile", lambda fn, **kw: fn)
    monkeypatch.setattr(compiled, "_CACHE", type(compiled._CACHE)())
    y0 = torch.ones(4, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    eager = odenet.solve(_jumping, y0, t, method=method, options=options)
    comp = odenet.solve(_jumping, y0, t, method=method, options=options, compile_step=True)
    torch.testing.assert_close(comp.ys[-1], torch.full_like(y0, 3.0), rtol=0, atol=1e-12)
    assert comp.stats.nfe == eager.stats.nfe
