"""odenet.torchdiffeq.odeint_adjoint against torchdiffeq.odeint_adjoint."""

from __future__ import annotations

import pytest
import torch
import torchdiffeq

import odenet.torchdiffeq as tdq
from tests.torchdiffeq_compat.cases import Linear, y0_batch


def _grads(lib, method: str, options: dict | None, t_grad: bool, **kw) -> list[torch.Tensor]:
    f = Linear()
    y0 = y0_batch().requires_grad_(True)
    t = torch.linspace(0.0, 1.5, 4, dtype=torch.float64).requires_grad_(t_grad)
    ys = lib.odeint_adjoint(f, y0, t, method=method, options=options, **kw)
    weights = torch.linspace(0.5, 1.5, ys.numel(), dtype=ys.dtype).reshape(ys.shape)
    (ys * weights).sum().backward()
    out = [ys.detach(), y0.grad, f.A.grad, f.b.grad, f.unused.weight.grad, f.unused.bias.grad]
    return out + ([t.grad] if t_grad else [])


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("dopri5", None),
        ("rk4", {"step_size": 0.05}),
        ("euler", None),
        ("midpoint", {"step_size": 0.1}),
    ],
)
@pytest.mark.parametrize("t_grad", [False, True])
def test_gradients_match(method: str, options: dict | None, t_grad: bool) -> None:
    """Outputs and every gradient (y0, parameters, unused parameters = zeros, t) agree."""
    kw = {"rtol": 1e-8, "atol": 1e-10}
    ours = _grads(tdq, method, options, t_grad, **kw)
    ref = _grads(torchdiffeq, method, options, t_grad, **kw)
    assert torch.equal(ours[4], torch.zeros_like(ours[4]))  # unused: zeros, not None
    tol = 1e-5 if method == "dopri5" else 1e-10
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def test_adjoint_matches_autograd_of_plain_odeint() -> None:
    """The continuous adjoint converges to backpropagation through the solver."""
    f = Linear()
    y0 = y0_batch().requires_grad_(True)
    t = torch.linspace(0.0, 1.0, 3, dtype=torch.float64, requires_grad=True)
    kw = {"rtol": 1e-10, "atol": 1e-12}
    tdq.odeint(f, y0, t, **kw).sum().backward()
    plain = [y0.grad.clone(), f.A.grad.clone(), t.grad.clone()]
    y0.grad, f.A.grad, t.grad = None, None, None
    tdq.odeint_adjoint(f, y0, t, **kw).sum().backward()
    for a, b in zip([y0.grad, f.A.grad, t.grad], plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_tuple_state_pure_forcing_and_no_params() -> None:
    def f(t, y):
        return (torch.ones_like(y[0]) * torch.cos(t), -y[1])

    y0 = (torch.tensor(0.0, dtype=torch.float64, requires_grad=True), torch.ones(2, 2))
    y0 = (y0[0], y0[1].double().requires_grad_(True))
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    ours = tdq.odeint_adjoint(f, y0, t, adjoint_params=())
    (ours[0][-1] + ours[1][-1].sum()).backward()
    g_ours = [y0[0].grad.clone(), y0[1].grad.clone()]
    y0[0].grad, y0[1].grad = None, None
    ref = torchdiffeq.odeint_adjoint(f, y0, t, adjoint_params=())
    (ref[0][-1] + ref[1][-1].sum()).backward()
    torch.testing.assert_close(ours[0], ref[0], rtol=1e-6, atol=1e-8)
    for a, b in zip(g_ours, [y0[0].grad, y0[1].grad], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(g_ours[0], torch.tensor(1.0, dtype=torch.float64))


@pytest.mark.parametrize("seminorm", [False, True])
def test_adjoint_norm_on_grad_fn(seminorm: bool) -> None:
    """grad_fn.adjoint_options['norm'] is read when the backward runs and sees the
    augmented tuple (t, y, adj_y, *params)."""
    seen: list[tuple] = []
    p = torch.tensor([0.3], requires_grad=True)

    def f(t, y):
        return -p * y

    kwargs = {"adjoint_options": {"norm": "seminorm"}} if seminorm else {}
    xs = tdq.odeint_adjoint(
        f, torch.ones(2), torch.tensor([0.0, 1.0]), adjoint_params=(p,), **kwargs
    )
    base = xs.grad_fn.adjoint_options["norm"]

    def spy(parts):
        seen.append(tuple(x.shape for x in parts))
        return base(parts)

    xs.grad_fn.adjoint_options["norm"] = spy
    xs.sum().backward()
    assert seen and seen[0] == (torch.Size([]), torch.Size([2]), torch.Size([2]), torch.Size([1]))
    torch.testing.assert_close(p.grad, torch.tensor([-2 * torch.exp(torch.tensor(-0.3)).item()]))


def test_adjoint_callbacks_and_grid_constructor_on_the_backward_pass() -> None:
    calls = {"forward": 0, "adjoint": 0}
    intervals: list[tuple[float, float]] = []

    class F(torch.nn.Module):
        def forward(self, t, y):
            return y

        def callback_step(self, t0, y0, dt):
            calls["forward"] += 1

        def callback_step_adjoint(self, t0, y0, dt):
            assert isinstance(y0, tuple) and len(y0) == 3  # (t-adjoint, y, adj_y)
            calls["adjoint"] += 1

    def grid(func, y0, t):
        intervals.append((float(t[0]), float(t[-1])))
        return torch.linspace(float(t[0]), float(t[-1]), 11)

    x0 = torch.tensor(1.0, requires_grad=True)
    xs = tdq.odeint_adjoint(
        F(), x0, torch.tensor([0.0, 1.0]), method="euler",
        options={"grid_constructor": grid}, adjoint_params=(),
    )  # fmt: skip
    xs[1].backward()
    assert intervals == [(0.0, 1.0), (1.0, 0.0)]
    assert calls == {"forward": 10, "adjoint": 10}
    torch.testing.assert_close(xs[1], torch.tensor(1.1**10))
    torch.testing.assert_close(x0.grad, torch.tensor(1.1**10))
