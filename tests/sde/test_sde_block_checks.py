"""SDEBlock input checks: the adjoint's parameters (no silently missing gradients) and bad
y0 / dt / drift / diffusion / bm named before torchsde sees them."""

from __future__ import annotations

import pytest
import torch
import torchsde
from torch import Tensor, nn

from odenet.sde import SDEBlock

F64 = torch.float64


class _Sigma(nn.Module):
    """Constant diagonal diffusion with a trainable scale."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = nn.Parameter(torch.tensor(sigma, dtype=F64))

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        return self.sigma * torch.cos(y)


class _Decay(nn.Module):
    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a, dtype=F64))

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        return self.a * torch.sin(y)


def _const(sigma: float):
    return lambda t, y: torch.full_like(y, sigma)


def _rev_block(drift, diffusion, adjoint: bool, **kw) -> SDEBlock:
    """Reversible Heun on a dyadic grid: adjoint gradients equal backprop to round-off."""
    return SDEBlock(
        drift,
        diffusion,
        sde_type="stratonovich",
        method="reversible_heun",
        dt=0.0625,
        adjoint=adjoint,
        seed=7,
        **kw,
    )


def _loss(block: SDEBlock) -> Tensor:
    y0 = torch.linspace(-1, 1, 8, dtype=F64).unsqueeze(1)
    return (block(y0, torch.linspace(0, 1, 5, dtype=F64)) ** 2).sum()


# --- 1. adjoint=True must not silently drop tensors a plain function closes over ---------


@pytest.mark.parametrize("which", ["drift", "diffusion"])
def test_adjoint_with_plain_function_raises_naming_the_argument(which: str) -> None:
    w = torch.tensor(0.5, dtype=F64, requires_grad=True)
    fields = {"drift": _Decay(-0.7), "diffusion": _Sigma(0.3)}
    fields[which] = lambda t, y: w * y
    with pytest.raises(ValueError, match=rf"{which} is a function.*adjoint_params=\(w, b"):
        _rev_block(fields["drift"], fields["diffusion"], adjoint=True)


def test_adjoint_params_give_the_backprop_gradient_of_a_closure() -> None:
    """With adjoint_params, a closed-over tensor gets the gradient backprop gives (reversible
    Heun's adjoint is exact up to round-off), and module parameters are still included."""
    grads = {}
    for adjoint in (False, True):
        w = torch.tensor(-0.6, dtype=F64, requires_grad=True)
        sigma = _Sigma(0.4)
        kw = {"adjoint_params": (w,)} if adjoint else {}
        _loss(_rev_block(lambda t, y, w=w: w * torch.sin(y), sigma, adjoint, **kw)).backward()
        grads[adjoint] = (w.grad, sigma.sigma.grad)
    assert grads[True][0] is not None and grads[True][1] is not None
    assert float(grads[False][0].abs()) > 1e-3  # the gradient is not trivially zero
    for g_adj, g_bp in zip(grads[True], grads[False], strict=True):
        torch.testing.assert_close(g_adj, g_bp, rtol=1e-10, atol=1e-12)


def test_adjoint_params_empty_for_parameter_free_function() -> None:
    sigma = _Sigma(0.4)
    _loss(_rev_block(lambda t, y: -y, sigma, True, adjoint_params=())).backward()
    assert sigma.sigma.grad is not None and float(sigma.sigma.grad.abs()) > 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"adjoint_params": ()}, ValueError, "adjoint_params has no effect with adjoint=False"),
        ({"adjoint": True, "adjoint_params": [1.0]}, TypeError, r"adjoint_params\[0\] must be"),
        ({"adjoint": True, "adjoint_params": torch.ones(2)}, TypeError, "not a single tensor"),
    ],
)
def test_bad_adjoint_params(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        SDEBlock(_Decay(1.0), _Sigma(1.0), method="euler", **kwargs)


# --- 2. bad inputs named before torchsde -------------------------------------------------


def _euler(drift, diffusion, dt: object = 0.1) -> SDEBlock:
    return SDEBlock(drift, diffusion, method="euler", dt=dt, seed=0)  # type: ignore[arg-type]


def test_integer_y0_is_named() -> None:
    block = _euler(lambda t, y: -y, _const(1.0))
    with pytest.raises(
        TypeError, match=r"y0 must have a floating-point dtype .*; got torch.int64.*y0.to"
    ):
        block(torch.zeros(4, 2, dtype=torch.long))


def test_non_tensor_y0_is_named() -> None:
    with pytest.raises(TypeError, match=r"y0 must be a torch.Tensor of shape .* got list"):
        _euler(lambda t, y: -y, _const(1.0))([[0.0, 1.0]])


@pytest.mark.parametrize(
    ("drift", "diffusion", "error", "match"),
    [
        (lambda t, y: y[:, :1], _const(1.0), ValueError,
         r"drift\(t0, y0\) returned shape \(4, 1\) but y0 has shape \(4, 2\)"),
        (lambda t, y: -y.float(), _const(1.0), TypeError, "drift.*dtype torch.float32"),
        (lambda t, y: -y, lambda t, y: torch.ones_like(y, dtype=torch.float32), TypeError,
         "diffusion.*dtype torch.float32"),
        (lambda t, y: -y, lambda t, y: 1.0, TypeError, r"diffusion\(t0, y0\) must return a tensor"),
        (nn.Linear(2, 2).double(), _const(1.0), TypeError, r"called as drift\(t, y\)"),
        (lambda t, y: -y, nn.Linear(2, 2).double(), TypeError, r"called as diffusion\(t, y\)"),
    ],
)  # fmt: skip
def test_first_evaluations_are_checked(drift, diffusion, error: type, match: str) -> None:
    block = _euler(drift, diffusion)
    with pytest.raises(error, match=match):
        block(torch.zeros(4, 2, dtype=F64))


def test_type_error_keeps_original_cause() -> None:
    block = _euler(nn.Linear(2, 2).double(), _const(1.0))
    with pytest.raises(TypeError) as info:
        block(torch.zeros(4, 2, dtype=F64))
    assert isinstance(info.value.__cause__, TypeError)
    assert "nn.Module whose forward(t, y)" in str(info.value)


@pytest.mark.parametrize(
    ("dt", "error", "match"),
    [
        ("0.1", TypeError, r"dt must be a positive number .*got dt='0.1' \(str\)"),
        (True, TypeError, "dt must be a positive number"),
        (-0.1, ValueError, "dt must be > 0"),
        (float("inf"), ValueError, "dt must be > 0 and finite"),
    ],
)
def test_bad_dt_is_named(dt: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        _euler(lambda t, y: -y, _const(1.0), dt=dt)


def test_tensor_dt_is_accepted_as_a_number() -> None:
    block = SDEBlock(lambda t, y: -y, _const(1.0), method="euler", dt=torch.tensor(0.25))
    assert block.dt == 0.25 and isinstance(block.dt, float)


def test_bm_of_the_wrong_shape_is_named() -> None:
    block = _euler(lambda t, y: -y, _const(1.0))
    y0, ts = torch.zeros(4, 2, dtype=F64), torch.tensor([0.0, 1.0], dtype=F64)
    bm = torchsde.BrownianInterval(0.0, 1.0, size=(4, 3), dtype=F64, entropy=0)
    with pytest.raises(ValueError, match=r"bm must have shape \(batch, m\) = \(4, 2\)"):
        block(y0, ts, bm=bm)
    torch.testing.assert_close(block(y0, ts, bm=block.brownian(y0, ts)), block(y0, ts))


class _Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        self.calls += 1
        return -y


class _Raw(nn.Module):
    """The same SDE handed to torchsde directly."""

    noise_type, sde_type = "diagonal", "ito"

    def __init__(self, drift: nn.Module) -> None:
        super().__init__()
        self.drift = drift

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        return self.drift(t, y)

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        return torch.ones_like(y)


def test_checks_cost_one_drift_evaluation_per_forward() -> None:
    """The checks evaluate drift once per forward, not once per step: the block calls drift
    exactly once more than torchsde.sdeint on the same problem (here with 20 steps)."""
    y0, ts = torch.zeros(3, 1, dtype=F64), torch.tensor([0.0, 2.0], dtype=F64)
    block_drift, raw_drift = _Counting(), _Counting()
    block = SDEBlock(block_drift, lambda t, y: torch.ones_like(y), method="euler", dt=0.1)
    bm = block.brownian(y0, ts, seed=1)
    block_drift.calls = 0
    out = block(y0, ts, bm=bm)[-1]
    ref = torchsde.sdeint(_Raw(raw_drift), y0, ts, bm=bm, method="euler", dt=0.1)[-1]
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    assert raw_drift.calls >= 20
    assert block_drift.calls == raw_drift.calls + 1
