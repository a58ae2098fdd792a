"""The joint and independent modes share one step-size law and one Hermite interpolant.

``PIController.accept_factor`` / ``reject_factor`` run on Python floats (joint mode) and
elementwise on ``(batch,)`` tensors and NumPy arrays (independent mode) with the same
values; ``hermite`` with per-sample ``theta`` tensors equals the scalar version per row and
reproduces cubics exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from odenet.solvers.controller import PIController
from odenet.solvers.runge_kutta import hermite

RATIOS = [0.0, 1e-12, 0.003, 0.2, 0.7, 1.0]
PREV = [1.0, 1e-4, 0.5, 0.9, 2.0, 0.3]
REJECTED = [1.0, 1.5, 3.0, 80.0, 1e6, 1e30]


@pytest.mark.parametrize("q", [3, 5, 6])
def test_factors_agree_on_floats_tensors_and_arrays(q: int) -> None:
    ctrl = PIController(safety=0.85, beta=0.07, factor_min=0.3, factor_max=6.0)
    acc_f = [ctrl.accept_factor(r, p, q) for r, p in zip(RATIOS, PREV, strict=True)]
    rej_f = [ctrl.reject_factor(r, q) for r in REJECTED]
    r_t, p_t = torch.tensor(RATIOS, dtype=torch.float64), torch.tensor(PREV, dtype=torch.float64)
    acc_t = ctrl.accept_factor(r_t, p_t, q)
    acc_n = ctrl.accept_factor(np.array(RATIOS), np.array(PREV), q)
    rej_t = ctrl.reject_factor(torch.tensor(REJECTED, dtype=torch.float64), q)
    rej_n = ctrl.reject_factor(np.array(REJECTED), q)
    np.testing.assert_allclose(acc_t.numpy(), acc_f, rtol=1e-14)
    np.testing.assert_allclose(acc_n, acc_f, rtol=1e-14)
    np.testing.assert_allclose(rej_t.numpy(), rej_f, rtol=1e-14)
    np.testing.assert_allclose(rej_n, rej_f, rtol=1e-14)
    # the law itself, by hand, on an unclipped value; zero error -> factor_max
    r, p = 0.2, 0.9
    expect = 0.85 * r ** (-(1 / q - 0.75 * 0.07)) * p**0.07
    assert 0.3 < expect < 6.0
    assert ctrl.accept_factor(r, p, q) == pytest.approx(expect, rel=1e-15)
    assert acc_f[0] == 6.0 and acc_t[0].item() == 6.0
    assert all(0.3 <= f <= 1.0 for f in rej_f)


def test_hermite_per_sample_theta_matches_scalar_and_is_exact_for_cubics() -> None:
    gen = torch.Generator().manual_seed(0)
    batch, dim = 5, 3
    c = torch.randn(4, batch, dim, generator=gen, dtype=torch.float64)

    def p(t: torch.Tensor) -> torch.Tensor:  # a cubic per sample and component
        t = t.reshape(-1, 1)
        return c[0] + c[1] * t + c[2] * t**2 + c[3] * t**3

    def dp(t: torch.Tensor) -> torch.Tensor:
        t = t.reshape(-1, 1)
        return c[1] + 2 * c[2] * t + 3 * c[3] * t**2

    t0 = torch.rand(batch, generator=gen, dtype=torch.float64)
    dt = 0.1 + torch.rand(batch, generator=gen, dtype=torch.float64)
    theta = torch.rand(batch, generator=gen, dtype=torch.float64)
    y0, y1, f0, f1 = p(t0), p(t0 + dt), dp(t0), dp(t0 + dt)
    out = hermite(theta, y0, y1, f0, f1, dt)
    torch.testing.assert_close(out, p(t0 + theta * dt), rtol=1e-12, atol=1e-12)
    for i in range(batch):
        row = hermite(float(theta[i]), y0[i], y1[i], f0[i], f1[i], float(dt[i]))
        torch.testing.assert_close(out[i], row, rtol=1e-14, atol=1e-14)
    # float32 states keep their dtype with float64 per-sample theta
    out32 = hermite(theta, y0.float(), y1.float(), f0.float(), f1.float(), dt)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32, out.float(), rtol=1e-5, atol=1e-5)
