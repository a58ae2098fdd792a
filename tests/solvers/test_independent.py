"""batch_mode="independent": per-sample steps equal solving each sample alone.

Checks: agreement with one-sample joint solves (same steps, same outputs), exact solutions
with per-sample output times, per-sample statistics (evaluation counts of an FSAL method),
per-sample failure reporting, autograd gradients against float64 finite differences.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

import odenet
from odenet.errors import SamplesFailed
from tests.helpers import ADAPTIVE_METHODS

RTOL, ATOL = 1e-6, 1e-8


def vdp_batch(mu: Tensor):
    """Van der Pol with one ``mu`` per sample: ``y = (x, v)``, shape ``(batch, 2)``."""

    def f(t: Tensor, y: Tensor) -> Tensor:
        x, v = y[..., 0], y[..., 1]
        return torch.stack([v, mu * (1 - x**2) * v - x], dim=-1)

    return f


def hetero_batch() -> tuple[Tensor, Tensor]:
    mu = torch.tensor([0.1, 0.5, 2.0, 6.0], dtype=torch.float64)
    y0 = torch.tensor([[2.0, 0.0], [1.0, 1.0], [2.0, 0.0], [0.5, -1.0]], dtype=torch.float64)
    return mu, y0


# Methods without FSAL or their own interpolant end their independent steps on the output
# times (the joint loop interpolates them), so their step sequences differ by design; they
# are checked against a reference below instead.
FSAL_METHODS = [m for m, _ in ADAPTIVE_METHODS if odenet.solvers.get_method(m).fsal]
OTHER_METHODS = [m for m, _ in ADAPTIVE_METHODS if m not in FSAL_METHODS]


@pytest.mark.parametrize("method", OTHER_METHODS)
def test_non_fsal_methods_reach_the_reference(method: str) -> None:
    mu, y0 = hetero_batch()
    t = torch.linspace(0.0, 6.0, 7, dtype=torch.float64)
    ref = torch.stack([
        odenet.odeint(vdp_batch(mu[i : i + 1]), y0[i : i + 1], t, method="dopri8",
                      rtol=1e-11, atol=1e-11)[:, 0]
        for i in range(4)
    ], dim=1)  # fmt: skip
    sol = odenet.solve(vdp_batch(mu), y0, t, method=method, rtol=1e-4, atol=1e-6,
                       batch_mode="independent")  # fmt: skip
    assert sol.sample_status == ("success",) * 4
    # second-order pairs: global error within 1000 x tol (fehlberg2's estimate is weak)
    assert float((sol.ys - ref).abs().max()) <= 1000 * 1e-4


@pytest.mark.parametrize("method", FSAL_METHODS)
def test_batch_equals_each_sample_alone(method: str) -> None:
    """Each sample takes the steps and reaches the outputs it would reach alone."""
    mu, y0 = hetero_batch()
    t = torch.linspace(0.0, 6.0, 7, dtype=torch.float64)
    sol = odenet.solve(
        vdp_batch(mu), y0, t, method=method, rtol=RTOL, atol=ATOL, batch_mode="independent"
    )
    assert sol.status == "success"
    assert sol.sample_status == ("success",) * 4
    assert sol.ys.shape == (7, 4, 2)
    for i in range(4):
        alone = odenet.solve(vdp_batch(mu[i : i + 1]), y0[i : i + 1], t, method=method,
                             rtol=RTOL, atol=ATOL)  # fmt: skip
        scale = ATOL + RTOL * alone.ys.abs().max()
        assert float((sol.ys[:, i] - alone.ys[:, 0]).abs().max()) <= 0.1 * float(scale)
        # Same step sequence up to rounding: the stage sums are ordered differently, which
        # moves error estimates that sit at rounding level (dopri8's first steps) or, over
        # the thousands of steps of the second-order pairs, shifts a step or two.
        assert abs(int(sol.sample_stats.n_steps[i]) - alone.stats.n_steps) <= 2
        if method in ("bosh3", "dopri5", "tsit5"):
            assert int(sol.sample_stats.n_accepted[i]) == alone.stats.n_accepted
            assert int(sol.sample_stats.n_rejected[i]) == alone.stats.n_rejected
            assert int(sol.sample_stats.nfe[i]) == alone.stats.nfe
        assert float(sol.sample_stats.t_reached[i]) == 6.0


def test_fsal_evaluation_counts_and_masking() -> None:
    """dopri5: 1 (f(t0)) + 1 (initial step) + 6 per step per sample; the loop runs as long
    as the slowest sample, and finished samples are not charged."""
    mu, y0 = hetero_batch()
    t = torch.tensor([0.0, 5.0], dtype=torch.float64)
    sol = odenet.solve(vdp_batch(mu), y0, t, rtol=RTOL, atol=ATOL, batch_mode="independent")
    st = sol.sample_stats
    assert torch.equal(st.nfe, 2 + 6 * st.n_steps)
    assert sol.stats.nfe == 2 + 6 * int(st.n_steps.max())
    assert sol.stats.n_accepted == int(st.n_accepted.sum())
    assert len(set(st.n_steps.tolist())) > 1  # heterogeneous batch: different step counts
    joint = odenet.solve(vdp_batch(mu), y0, t, rtol=RTOL, atol=ATOL)
    assert int(st.nfe.sum()) < 4 * joint.stats.nfe


def test_per_sample_output_times_exact() -> None:
    """dy/dt = -k y with one rate and one row of output times per sample (one row runs
    backwards): outputs equal y0 exp(-k (t - t0)) within the tolerance."""
    k = torch.tensor([0.5, 3.0, 1.0], dtype=torch.float64)
    y0 = torch.tensor([[1.0, -2.0], [0.5, 4.0], [3.0, 1.0]], dtype=torch.float64)
    t = torch.tensor(
        [[0.0, 0.3, 1.1, 2.0], [1.0, 1.5, 2.5, 4.0], [2.0, 1.2, 0.4, -1.0]], dtype=torch.float64
    )
    sol = odenet.solve(lambda tt, y: -k[:, None] * y, y0, t, rtol=1e-9, atol=1e-12,
                       batch_mode="independent")  # fmt: skip
    exact = y0[None] * torch.exp(-k[None, :, None] * (t.T - t[:, :1].T)[..., None])
    assert sol.ts is t
    assert sol.ys.shape == (4, 3, 2)
    rel = ((sol.ys - exact).abs() / exact.abs()).max()
    assert float(rel) < 1e-7
    assert sol.sample_stats.t_reached.tolist() == [2.0, 4.0, -1.0]


def test_time_passed_per_sample() -> None:
    """A non-autonomous field sees each sample's own time: dy/dt = t gives y0 + t^2/2."""
    y0 = torch.zeros(3, 1, dtype=torch.float64)
    t = torch.tensor([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0]], dtype=torch.float64)
    sol = odenet.solve(lambda tt, y: tt[:, None].expand_as(y), y0, t,
                       batch_mode="independent")  # fmt: skip
    assert torch.allclose(sol.ys[-1, :, 0], t[:, 1] ** 2 / 2, rtol=1e-10, atol=1e-12)


def blowup_problem() -> tuple:
    """dy/dt = y^2: y = y0 / (1 - y0 t) blows up at t = 1/y0 (here 0.5 for y0 = 2)."""
    y0 = torch.tensor([[0.5], [2.0], [-1.0], [0.1]], dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    return (lambda tt, y: y * y), y0, t


def test_failed_sample_reported_others_succeed() -> None:
    """func returns NaN for sample 1 after t = 0.3: that sample stops there as
    "nonfinite"; the others follow y0 exp(-t) to the end."""

    def f(tt: Tensor, y: Tensor) -> Tensor:
        bad = (tt > 0.3) & (torch.arange(4) == 1)
        return torch.where(bad[:, None], torch.nan, -y)

    y0 = torch.tensor([[1.0], [2.0], [-3.0], [0.5]], dtype=torch.float64)
    t = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)
    sol = odenet.solve(f, y0, t, rtol=1e-8, atol=1e-10, batch_mode="independent",
                       on_failure="return")  # fmt: skip
    assert sol.status == "failed"
    assert sol.sample_status == ("success", "nonfinite", "success", "success")
    ok = [0, 2, 3]
    exact = y0[ok, 0][None] * torch.exp(-t[:, None])
    assert torch.allclose(sol.ys[:, ok, 0], exact, rtol=1e-7, atol=1e-10)
    t_fail = float(sol.sample_stats.t_reached[1])
    assert 0.25 < t_fail <= 0.3
    assert torch.allclose(sol.ys[:2, 1, 0], 2.0 * torch.exp(-t[:2]), rtol=1e-7)
    assert bool(torch.isnan(sol.ys[2:, 1]).all())  # outputs after t_fail were never reached


def test_failed_sample_raises_with_index_by_default() -> None:
    """A blow-up within the step budget: sample 1 (singular at t = 0.5) is named."""
    f, y0, t = blowup_problem()
    with pytest.raises(SamplesFailed) as info:
        odenet.solve(f, y0, t, rtol=1e-6, atol=1e-8, max_steps=300, batch_mode="independent")
    assert info.value.indices == (1,)
    assert info.value.statuses[0] in ("max_steps", "underflow", "nonfinite")
    assert 0.49 < info.value.t_reached[0] < 0.51
    assert "1 of 4 samples failed: 1 (" in str(info.value)
    assert info.value.solution.sample_status[0] == "success"
    with pytest.raises(SamplesFailed):
        odenet.odeint(f, y0, t, max_steps=300, batch_mode="independent")


def test_max_steps_is_per_sample() -> None:
    """A stiff sample exhausts its step budget; the mild ones finish within theirs."""
    mu = torch.tensor([0.2, 1000.0, 0.5], dtype=torch.float64)
    y0 = torch.tensor([[2.0, 0.0]] * 3, dtype=torch.float64)
    t = torch.tensor([0.0, 3.0], dtype=torch.float64)
    sol = odenet.solve(vdp_batch(mu), y0, t, rtol=RTOL, atol=ATOL, max_steps=150,
                       batch_mode="independent", on_failure="return")  # fmt: skip
    assert sol.sample_status == ("success", "max_steps", "success")
    assert int(sol.sample_stats.n_steps[1]) == 150
    assert int(sol.sample_stats.n_steps.max()) == 150


def test_odeint_independent_matches_solve() -> None:
    mu, y0 = hetero_batch()
    t = torch.linspace(0.0, 2.0, 3, dtype=torch.float64)
    ys = odenet.odeint(vdp_batch(mu), y0, t, method="tsit5", batch_mode="independent")
    sol = odenet.solve(vdp_batch(mu), y0, t, method="tsit5", batch_mode="independent")
    assert torch.equal(ys, sol.ys)


def _linear_solve(a: Tensor, y0: Tensor, t1: float, rtol: float, atol: float) -> Tensor:
    t = torch.tensor([0.0, t1], dtype=torch.float64)
    return odenet.odeint(lambda tt, y: y @ a.T, y0, t, rtol=rtol, atol=atol,
                         batch_mode="independent")[-1]  # fmt: skip


def test_autograd_matches_finite_differences() -> None:
    """d loss / d(A, y0) by autograd through independent steps vs central differences."""
    g = torch.Generator().manual_seed(0)
    a = (0.5 * torch.randn(3, 3, generator=g, dtype=torch.float64)).requires_grad_()
    y0 = torch.randn(4, 3, generator=g, dtype=torch.float64)
    y0 = (y0 * torch.tensor([[0.1], [1.0], [10.0], [3.0]], dtype=torch.float64)).requires_grad_()
    w = torch.randn(4, 3, generator=g, dtype=torch.float64)
    tol = dict(rtol=1e-10, atol=1e-12)

    def loss(a_: Tensor, y0_: Tensor) -> Tensor:
        return (w * _linear_solve(a_, y0_, 1.5, **tol)).sum()

    grad_a, grad_y0 = torch.autograd.grad(loss(a, y0), (a, y0))
    eps = 1e-6
    with torch.no_grad():
        for x, grad in ((a, grad_a), (y0, grad_y0)):
            fd = torch.zeros_like(x)
            for i in range(x.numel()):
                e = torch.zeros(x.numel(), dtype=x.dtype)
                e[i] = eps
                e = e.view_as(x)
                args_p = (a + e, y0) if x is a else (a, y0 + e)
                args_m = (a - e, y0) if x is a else (a, y0 - e)
                fd.view(-1)[i] = (loss(*args_p) - loss(*args_m)) / (2 * eps)
            assert torch.allclose(grad, fd, rtol=1e-6, atol=1e-7), (grad, fd)


def test_autograd_matches_closed_form_gradient() -> None:
    """dy/dt = -k y: d y(T) / d k = -T y0 exp(-k T) per sample."""
    k = torch.tensor([0.3, 2.0, 5.0], dtype=torch.float64, requires_grad=True)
    y0 = torch.tensor([[1.0], [2.0], [-1.0]], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    ys = odenet.odeint(lambda tt, y: -k[:, None] * y, y0, t, rtol=1e-10, atol=1e-12,
                       batch_mode="independent")  # fmt: skip
    (grad,) = torch.autograd.grad(ys[-1].sum(), k)
    exact = -1.0 * y0[:, 0] * torch.exp(-k.detach())
    assert torch.allclose(grad, exact, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"batch_mode": "each"}, ValueError, "batch_mode must be one of"),
        ({"batch_mode": "independent", "method": "rk4", "step_size": 0.1}, ValueError,
         "needs an adaptive method"),
        ({"on_failure": "return"}, ValueError, "applies to batch_mode='independent' only"),
        ({"batch_mode": "independent", "on_failure": "ignore"}, ValueError, "on_failure"),
        ({"batch_mode": "independent", "t": torch.zeros(3, 2)}, ValueError, "shape"),
        ({"batch_mode": "independent", "t": torch.tensor([[0.0, 1.0], [0.0, 0.0]])},
         ValueError, "strictly"),
        ({"batch_mode": "independent", "gradient": "adjoint"}, ValueError, "autograd"),
        ({"batch_mode": "independent", "compile_step": "max-autotune"}, TypeError, "compile_step"),
    ],
)  # fmt: skip
def test_bad_input_names_the_argument(kwargs: dict, err: type, match: str) -> None:
    y0 = torch.ones(2, 2)
    kwargs = {"t": torch.tensor([0.0, 1.0]), **kwargs}
    t = kwargs.pop("t")
    with pytest.raises(err, match=match):
        odenet.solve(lambda tt, y: -y, y0, t, **kwargs)


def test_evaluate_says_no_dense_output() -> None:
    sol = odenet.solve(lambda tt, y: -y, torch.ones(2, 1), torch.tensor([0.0, 1.0]),
                       batch_mode="independent")  # fmt: skip
    with pytest.raises(ValueError, match="no dense output; request the times"):
        sol.evaluate(0.5)


def test_tuple_state_rejected() -> None:
    with pytest.raises(TypeError, match="one tensor"):
        odenet.solve(lambda tt, y: (-y[0], -y[1]), (torch.ones(2, 1), torch.ones(2, 1)),
                     torch.tensor([0.0, 1.0]), batch_mode="independent")  # fmt: skip


def test_float32_state_float64_time() -> None:
    """float32 states: time kept in float64, so long spans end exactly on t1."""
    y0 = torch.ones(3, 2)
    t = torch.tensor([0.0, 1000.0])
    sol = odenet.solve(lambda tt, y: -1e-3 * y, y0, t, rtol=1e-5, atol=1e-7,
                       batch_mode="independent")  # fmt: skip
    assert sol.ys.dtype == torch.float32
    assert sol.sample_stats.t_reached.tolist() == [1000.0] * 3
    assert torch.allclose(sol.ys[-1], torch.full((3, 2), math.exp(-1.0)), rtol=1e-4)


@pytest.mark.slow  # torch.compile takes ~10-15 s on one CPU core
def test_compiled_step_equals_eager() -> None:
    """compile_step=True (torch.compile of the step attempt) gives the eager result: the
    same steps per sample and outputs equal up to the rounding of fused kernels."""
    mu, y0 = hetero_batch()
    t = torch.linspace(0.0, 3.0, 4, dtype=torch.float64)
    kw = dict(method="tsit5", rtol=RTOL, atol=ATOL, batch_mode="independent")
    eager = odenet.solve(vdp_batch(mu), y0, t, **kw)
    compiled = odenet.solve(vdp_batch(mu), y0, t, compile_step=True, **kw)
    assert torch.equal(compiled.sample_stats.n_accepted, eager.sample_stats.n_accepted)
    assert torch.equal(compiled.sample_stats.nfe, eager.sample_stats.nfe)
    assert torch.allclose(compiled.ys, eager.ys, rtol=1e-11, atol=1e-13)


def test_checkpoint_gradients_equal_autograd() -> None:
    """gradient='checkpoint' (per-step recomputation under torch.utils.checkpoint) gives
    autograd's parameter and initial-state gradients to rounding."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 32), torch.nn.Tanh(), torch.nn.Linear(32, 3)
    ).double()
    y0 = torch.randn(5, 3, dtype=torch.float64) * torch.linspace(0.2, 3.0, 5)[:, None]
    y0.requires_grad_()
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    grads = {}
    for gradient in ("autograd", "checkpoint"):
        ys = odenet.odeint(lambda tt, y: net(y), y0, t, rtol=1e-7, atol=1e-9,
                           batch_mode="independent", gradient=gradient)  # fmt: skip
        loss = (ys[1:] ** 2).sum()
        grads[gradient] = torch.autograd.grad(loss, [y0, *net.parameters()])
    for ga, gc in zip(grads["autograd"], grads["checkpoint"], strict=True):
        assert torch.allclose(ga, gc, rtol=1e-10, atol=1e-12)


def test_step_size_is_refused_in_independent_mode() -> None:
    y0 = torch.ones(3, 2, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"step_size=0\.1 applies to fixed-step methods only"):
        odenet.solve(lambda t, y: -y, y0, t, step_size=0.1, batch_mode="independent")
