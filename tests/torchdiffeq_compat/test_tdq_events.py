"""Events: odenet.torchdiffeq against torchdiffeq (open-ended search, gradients)."""

from __future__ import annotations

import pytest
import torch
import torchdiffeq

import odenet.torchdiffeq as tdq


def _fall(t, state):
    """A ball under gravity: state = (height, velocity)."""
    return torch.stack([state[1], -9.81 * torch.ones_like(state[0])])


@pytest.mark.parametrize(
    ("method", "options"),
    [("dopri5", {}), ("bosh3", {}), ("rk4", {"step_size": 0.01}), ("euler", {"step_size": 0.01})],
)
@pytest.mark.parametrize("reverse", [False, True])
def test_event_past_t1_matches(method: str, options: dict, reverse: bool) -> None:
    """The event lies past t[1]: the search is open-ended in t[1]'s direction."""
    state = torch.tensor([10.0, 0.0], dtype=torch.float64)
    t = torch.tensor([0.0, -0.1 if reverse else 0.1], dtype=torch.float64)

    def hit_ground(tt, s):
        return s[0]

    ours = tdq.odeint(_fall, state, t, event_fn=hit_ground, method=method, options=options)
    ref = torchdiffeq.odeint(_fall, state, t, event_fn=hit_ground, method=method, options=options)
    exact = (2 * 10.0 / 9.81) ** 0.5 * (-1 if reverse else 1)
    tol = {"dopri5": 1e-6, "bosh3": 1e-6, "rk4": 1e-4, "euler": 1e-2}[method]
    assert ours[1].shape == (2, 2)
    torch.testing.assert_close(
        ours[0], torch.tensor(exact, dtype=torch.float64), rtol=tol, atol=tol
    )
    # torchdiffeq locates bosh3's event on a cruder interpolant (about 2e-2 off here)
    ref_tol = 5e-2 if method == "bosh3" else tol
    torch.testing.assert_close(ours[0], ref[0], rtol=ref_tol, atol=ref_tol)
    torch.testing.assert_close(ours[1], ref[1], rtol=ref_tol, atol=10 * ref_tol)


def test_vector_event_fn_stops_at_the_first_crossing() -> None:
    state = torch.tensor([10.0, 0.0], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)

    def events(tt, s):
        return torch.stack([s[0], s[0] - 5.0])  # the second crosses first

    et, ys = tdq.odeint(_fall, state, t, event_fn=events)
    ref_t, _ = torchdiffeq.odeint(_fall, state, t, event_fn=events)
    torch.testing.assert_close(et, ref_t, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ys[-1, 0], torch.tensor(5.0, dtype=torch.float64))


@pytest.mark.parametrize("interface", ["odeint", "odeint_adjoint"])
def test_odeint_event_gradients_match_torchdiffeq(interface: str) -> None:
    """d(event time)/d(y0, t0, g) by the implicit function theorem, as torchdiffeq."""

    class Fall(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.g = torch.nn.Parameter(torch.tensor(9.81, dtype=torch.float64))

        def forward(self, t, s):
            return torch.stack([s[1], -self.g * torch.ones_like(s[0])])

    def run(lib):
        f = Fall()
        s0 = torch.tensor([10.0, 1.0], dtype=torch.float64, requires_grad=True)
        t0 = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
        et, ys = lib.odeint_event(
            f, s0, t0, event_fn=lambda t, s: s[0], odeint_interface=getattr(lib, interface),
            rtol=1e-10, atol=1e-12,
        )  # fmt: skip
        (et + ys[-1, 1]).backward()
        return [et.detach(), ys.detach(), s0.grad, t0.grad, f.g.grad]

    ours, ref = run(tdq), run(torchdiffeq)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)
    # closed form: h(T) = 0 with h = 10 + (T - t0) - g (T - t0)^2 / 2
    tau = (1 + (1 + 2 * 9.81 * 10) ** 0.5) / 9.81
    torch.testing.assert_close(ours[0], torch.tensor(0.5 + tau, dtype=torch.float64))
    torch.testing.assert_close(ours[3], torch.tensor(1.0, dtype=torch.float64))  # dT/dt0


def test_event_with_t_requiring_grad_and_adjoint_backward_runs() -> None:
    f = torch.nn.Linear(1, 1).double()
    y0 = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 0.1], dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        f.weight.fill_(1.0)
        f.bias.fill_(0.0)
    et, _ = tdq.odeint_adjoint(lambda tt, y: f(y), y0, t, event_fn=lambda tt, y: y[0] - 2.0,
                                adjoint_params=tuple(f.parameters()))  # fmt: skip
    torch.testing.assert_close(et, torch.log(torch.tensor(2.0, dtype=torch.float64)))
    et.backward(retain_graph=True)
    torch.testing.assert_close(y0.grad, torch.tensor([-1.0], dtype=torch.float64))  # dT/dy0
    torch.testing.assert_close(t.grad[0], torch.tensor(1.0, dtype=torch.float64))  # dT/dt0
    t.grad = None
    et2, _ = tdq.odeint(lambda tt, y: f(y), y0, t, event_fn=lambda tt, y: y[0] - 2.0)
    et2.backward()
    torch.testing.assert_close(t.grad, torch.tensor([1.0, 0.0], dtype=torch.float64))
