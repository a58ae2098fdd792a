"""odenet.interpolate against closed forms: exactness on linear data, knots, continuity,
natural end conditions, convergence order, derivatives, per-sample times and NaNs."""

from __future__ import annotations

import math

import pytest
import torch

from odenet.interpolate import (
    HermiteCubic,
    LinearInterpolation,
    NaturalCubicSpline,
    RectilinearInterpolation,
)

D = torch.float64
SMOOTH = [LinearInterpolation, HermiteCubic, NaturalCubicSpline]


def irregular_times(n_batch: int, n_time: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    gaps = 0.2 + torch.rand(n_batch, n_time - 1, generator=g, dtype=D)
    return torch.cat([torch.zeros(n_batch, 1, dtype=D), gaps.cumsum(1)], 1)


@pytest.mark.parametrize("cls", SMOOTH)
@pytest.mark.parametrize("shared", [True, False])
def test_linear_data_is_reproduced_exactly(cls, shared):
    t = irregular_times(1 if shared else 3, 9)
    t = t[0] if shared else t
    slope = torch.tensor([[1.5, -2.0], [0.5, 0.0], [3.0, 1.0]], dtype=D)
    tt = t.expand(3, -1) if shared else t
    x = 0.7 + slope[:, None, :] * tt[..., None]
    path = cls(x, t)
    for q in torch.linspace(0.0, float(tt[:, -1].min()), 23, dtype=D):
        expect = 0.7 + slope * q
        torch.testing.assert_close(path.evaluate(q), expect, rtol=0, atol=1e-12)
        torch.testing.assert_close(path.derivative(q), slope, rtol=0, atol=1e-11)


@pytest.mark.parametrize("cls", [*SMOOTH, RectilinearInterpolation])
def test_interpolates_the_knots(cls):
    t = irregular_times(2, 8)
    x = torch.randn(2, 8, 3, dtype=D, generator=torch.Generator().manual_seed(1))
    path = cls(x, t)
    for i in range(8):
        if cls is RectilinearInterpolation:
            got = path.evaluate(2.0 * i)
            torch.testing.assert_close(got[:, 0], t[:, i])
            torch.testing.assert_close(got[:, 1:], x[:, i])
        else:
            torch.testing.assert_close(path.evaluate(t[:, i]), x[:, i], rtol=0, atol=1e-12)


def _spline_derivatives(path: NaturalCubicSpline, i: int, side: str) -> torch.Tensor:
    """Value, first and second derivative at knot ``i`` from interval i-1 (left) or i."""
    k = path.knots
    if side == "right":
        a, b, c = path.a[:, i], path.b[:, i], path.c[:, i]
        return torch.stack([a, b, 2 * c])
    h = (k[i] - k[i - 1]) if k.dim() == 1 else (k[:, i] - k[:, i - 1])[:, None]
    a, b, c, d = path.a[:, i - 1], path.b[:, i - 1], path.c[:, i - 1], path.d[:, i - 1]
    return torch.stack(
        [a + b * h + c * h**2 + d * h**3, b + 2 * c * h + 3 * d * h**2, 2 * c + 6 * d * h]
    )


def test_cubic_spline_is_c2_with_natural_ends():
    t = irregular_times(2, 10)
    x = torch.randn(2, 10, 2, dtype=D, generator=torch.Generator().manual_seed(2))
    path = NaturalCubicSpline(x, t)
    for i in range(1, 9):
        left = _spline_derivatives(path, i, "left")
        right = _spline_derivatives(path, i, "right")
        torch.testing.assert_close(left, right, rtol=0, atol=1e-10)
    torch.testing.assert_close(path.c[:, 0], torch.zeros(2, 2, dtype=D))  # X''(t_0) = 0
    end = _spline_derivatives(path, 9, "left")[2]
    torch.testing.assert_close(end, torch.zeros(2, 2, dtype=D), rtol=0, atol=1e-10)


def test_hermite_is_c1():
    t = irregular_times(1, 9)[0]
    x = torch.randn(2, 9, 2, dtype=D, generator=torch.Generator().manual_seed(3))
    path = HermiteCubic(x, t)
    for i in range(1, 8):
        h = t[i] - t[i - 1]
        a, b, c, d = (p[:, i - 1] for p in (path.a, path.b, path.c, path.d))
        torch.testing.assert_close(a + b * h + c * h**2 + d * h**3, path.a[:, i])
        torch.testing.assert_close(b + 2 * c * h + 3 * d * h**2, path.b[:, i])


def _max_error(cls, n: int) -> float:
    f = lambda s: torch.sin(2 * math.pi * s)  # noqa: E731  (f'' = 0 at both ends)
    t = torch.linspace(0, 1, n, dtype=D)
    path = cls(f(t)[None, :, None], t)
    q = torch.linspace(0, 1, 1001, dtype=D)
    return max(abs(float(path.evaluate(s)[0, 0] - f(s))) for s in q)


@pytest.mark.parametrize(("cls", "order"), [(NaturalCubicSpline, 4), (LinearInterpolation, 2)])
def test_convergence_order(cls, order):
    errors = [_max_error(cls, n) for n in (11, 21, 41, 81)]
    slopes = [math.log2(errors[i] / errors[i + 1]) for i in range(3)]
    assert abs(slopes[-1] - order) < 0.3, (errors, slopes)


@pytest.mark.parametrize("cls", SMOOTH)
def test_derivative_matches_finite_differences(cls):
    t = irregular_times(2, 7)
    x = torch.randn(2, 7, 3, dtype=D, generator=torch.Generator().manual_seed(4))
    path = cls(x, t)
    for q in (0.33, 0.71, 1.07):  # strictly inside intervals
        eps = 1e-6
        fd = (path.evaluate(q + eps) - path.evaluate(q - eps)) / (2 * eps)
        torch.testing.assert_close(path.derivative(q), fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cls", [*SMOOTH, RectilinearInterpolation])
def test_per_sample_times_match_separate_builds(cls):
    t = irregular_times(3, 6)
    x = torch.randn(3, 6, 2, dtype=D, generator=torch.Generator().manual_seed(5))
    path = cls(x, t)
    q = torch.tensor(0.9, dtype=D)
    for b in range(3):
        one = cls(x[b : b + 1], t[b])
        torch.testing.assert_close(path.evaluate(q)[b], one.evaluate(q)[0])
        torch.testing.assert_close(path.derivative(q)[b], one.derivative(q)[0])
    per_sample = torch.tensor([0.3, 0.6, 0.9], dtype=D)
    expect = torch.stack([path.evaluate(per_sample[b])[b] for b in range(3)])
    torch.testing.assert_close(path.evaluate(per_sample), expect)


def test_constant_outside_a_samples_knots():
    t = torch.tensor([[0.0, 1.0, 2.0], [1.0, 2.0, 4.0]], dtype=D)
    x = torch.tensor([[[1.0], [2.0], [5.0]], [[3.0], [1.0], [0.0]]], dtype=D)
    path = NaturalCubicSpline(x, t)
    torch.testing.assert_close(path.evaluate(0.0)[1], x[1, 0])
    torch.testing.assert_close(path.derivative(0.5)[1], torch.zeros(1, dtype=D))
    torch.testing.assert_close(path.evaluate(3.5)[0], x[0, -1])
    torch.testing.assert_close(path.derivative(3.0)[0], torch.zeros(1, dtype=D))
    torch.testing.assert_close(path.interval, torch.tensor([0.0, 4.0], dtype=D))
    torch.testing.assert_close(path.grid_points, torch.tensor([0.0, 1.0, 2.0, 4.0], dtype=D))


def _with_gaps() -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    t = irregular_times(1, 9)[0]
    x = torch.sin(2 * t)[None, :, None].repeat(1, 1, 2)
    keep = [1, 2, 4, 5, 7]  # leading, interior and trailing gaps in channel 0
    x[0, [0, 3, 6, 8], 0] = math.nan
    return t, x, keep


def test_nan_linear_interpolates_over_missing_points():
    t, x, keep = _with_gaps()
    path = LinearInterpolation(x, t)
    ref = LinearInterpolation(x[:, keep, :1], t[keep])
    for q in torch.linspace(float(t[1]), float(t[7]), 17, dtype=D):
        torch.testing.assert_close(path.evaluate(q)[:, :1], ref.evaluate(q))
    torch.testing.assert_close(path.evaluate(t[0])[0, 0], x[0, 1, 0])  # leading: first observed
    torch.testing.assert_close(path.evaluate(t[8])[0, 0], x[0, 7, 0])  # trailing: last observed
    full = LinearInterpolation(x[:, :, 1:], t)  # the complete channel is untouched
    torch.testing.assert_close(path.evaluate(1.3)[:, 1:], full.evaluate(1.3))


def test_nan_cubic_spline_interpolates_over_missing_points():
    t, x, keep = _with_gaps()
    path = NaturalCubicSpline(x, t)
    span = [0, *keep, 8]  # leading/trailing gaps take the first/last observed value
    xs = x[:, span, :1].clone()
    xs[0, 0], xs[0, -1] = x[0, 1, 0], x[0, 7, 0]
    ref = NaturalCubicSpline(xs, t[span])
    for q in torch.linspace(float(t[0]), float(t[8]), 29, dtype=D):
        torch.testing.assert_close(path.evaluate(q)[:, :1], ref.evaluate(q))
        torch.testing.assert_close(path.derivative(q)[:, :1], ref.derivative(q))
    assert not torch.isnan(path.a).any()


def test_nan_hermite_and_rectilinear():
    t, x, _ = _with_gaps()
    from odenet.interpolate._missing import fill_forward, fill_linear

    filled = fill_linear(x, t)
    torch.testing.assert_close(
        HermiteCubic(x, t).evaluate(1.1), HermiteCubic(filled, t).evaluate(1.1)
    )
    held = fill_forward(x)
    assert float(held[0, 3, 0]) == float(x[0, 2, 0]) and float(held[0, 0, 0]) == float(x[0, 1, 0])
    assert not torch.isnan(RectilinearInterpolation(x, t).a).any()


def test_channel_never_observed_is_zero():
    x = torch.full((1, 4, 1), math.nan, dtype=D)
    for cls in SMOOTH:
        assert float(cls(x).evaluate(1.5).abs().max()) == 0.0
    assert float(RectilinearInterpolation(x).evaluate(1.5)[0, 1]) == 0.0  # [0]: time


def test_gradcheck_through_spline_coefficients():
    t = irregular_times(1, 5)[0]
    x = torch.randn(1, 5, 1, dtype=D, requires_grad=True)
    torch.autograd.gradcheck(lambda v: NaturalCubicSpline(v, t).evaluate(0.8), (x,))


@pytest.mark.parametrize(
    ("x", "t", "match"),
    [
        (torch.zeros(4, 2), None, "batch, time, channels"),
        (torch.zeros(1, 1, 2), None, "at least 2 times"),
        (torch.zeros(1, 3, 1), torch.tensor([0.0, 2.0, 1.0]), "strictly increasing"),
        (torch.zeros(1, 3, 1), torch.zeros(2), r"shape \(3,\)"),
        (torch.tensor([[[math.inf], [0.0]]]), None, "inf"),
    ],
)
def test_bad_input_raises(x, t, match):
    with pytest.raises(ValueError, match=match):
        NaturalCubicSpline(x, t)
