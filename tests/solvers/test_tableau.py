"""Butcher tableaux validate themselves; every method's coefficients are consistent."""

from __future__ import annotations

import numpy as np
import pytest

from odenet.solvers import METHODS, ButcherTableau, RungeKutta, get_method

#: the methods defined by a Butcher tableau (multistep and scipy methods have none)
RK_METHODS = sorted(n for n, cls in METHODS.items() if issubclass(cls, RungeKutta))


def test_rejects_row_not_summing_to_node() -> None:
    with pytest.raises(ValueError, match=r"row a\[1\] sums to .* c\[1\]=0.5"):
        ButcherTableau(c=[0.0, 0.5], a=[[], [0.4]], b=[0.0, 1.0])


def test_rejects_weights_not_summing_to_one() -> None:
    with pytest.raises(ValueError, match="b must sum to 1"):
        ButcherTableau(c=[0.0, 0.5], a=[[], [0.5]], b=[0.5, 0.4])


def test_rejects_error_weights_not_summing_to_zero() -> None:
    with pytest.raises(ValueError, match="b_error must sum to 0"):
        ButcherTableau(c=[0.0, 0.5], a=[[], [0.5]], b=[0.0, 1.0], b_error=[0.1, 0.0])


def test_rejects_implicit_shape() -> None:
    with pytest.raises(ValueError, match="must have 1 entries"):
        ButcherTableau(c=[0.0, 0.5], a=[[], [0.25, 0.25]], b=[0.0, 1.0])


#: methods defined by an explicit Butcher tableau (implicit ones validate their own)
EXPLICIT = sorted(n for n in RK_METHODS if not getattr(METHODS[n], "implicit", False))


@pytest.mark.parametrize("name", EXPLICIT)
def test_method_attributes(name: str) -> None:
    m = get_method(name)
    assert m.name == name
    assert m.order >= 1 and m.reference
    assert m.adaptive == (m.tableau.b_error is not None)
    assert m.adaptive == (m.error_order is not None)


@pytest.mark.parametrize("name", ["bosh3", "dopri5", "tsit5", "dopri8"])
def test_adaptive_methods_are_fsal(name: str) -> None:
    assert get_method(name).fsal


@pytest.mark.parametrize("name", ["dopri5", "tsit5", "dopri8"])
def test_dense_weights_reproduce_step_at_theta_one(name: str) -> None:
    m = get_method(name)
    weights = np.array(m.dense_weights)
    np.testing.assert_allclose(weights.sum(axis=1), np.array(m.tableau.b), atol=1e-13)


@pytest.mark.parametrize("name", EXPLICIT)
def test_order_conditions_up_to_three(name: str) -> None:
    """sum b = 1, sum b c = 1/2, sum b c^2 = 1/3, b A c = 1/6 (for methods of that order)."""
    m = get_method(name)
    t = m.tableau
    b, c = np.array(t.b), np.array(t.c)
    a = np.zeros((t.stages, t.stages))
    for i, row in enumerate(t.a):
        a[i, : len(row)] = row
    conds = [(b.sum(), 1.0), (b @ c, 0.5), (b @ c**2, 1 / 3), (b @ a @ c, 1 / 6)]
    needed = {1: 1, 2: 2, 3: 4}.get(m.order, 4)
    for value, expected in conds[:needed]:
        assert value == pytest.approx(expected, abs=1e-12)


def test_unknown_method_lists_choices() -> None:
    with pytest.raises(ValueError, match=r"method='rk5' is not a known method; choose one of"):
        get_method("rk5")
    with pytest.raises(TypeError, match="method must be a string"):
        get_method(5)  # type: ignore[arg-type]


def test_runge_kutta_subclass_with_an_implicit_tableau_is_refused() -> None:
    """An implicit tableau on the explicit RungeKutta class used to run as an explicit
    method (implicit midpoint gave 0.9^10 = 0.3487 for exp(-1) = 0.3679 at h = 0.1)."""
    import torch

    import odenet
    from odenet.solvers import ImplicitRungeKutta

    tab = ButcherTableau(c=[0.5], a=[[0.5]], b=[1.0], implicit=True)

    class Explicitly(RungeKutta):
        tableau = tab
        order = 2
        name = "midpoint_as_explicit"

    class Implicitly(ImplicitRungeKutta):
        tableau = tab
        order = 2
        name = "midpoint_as_implicit"

    y0 = torch.ones(1, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with pytest.raises(TypeError, match="ImplicitRungeKutta"):
        odenet.odeint(lambda t, y: -y, y0, t, method=Explicitly(), step_size=0.1)
    y = odenet.odeint(lambda t, y: -y, y0, t, method=Implicitly(), step_size=0.1)
    assert abs(float(y[-1, 0]) - (0.95 / 1.05) ** 10) < 1e-12
