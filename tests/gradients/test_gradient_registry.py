"""The front finds gradient strategies through a registry that odenet.gradients fills."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import torch

import odenet
from odenet.gradients import GRADIENTS, Autograd
from odenet.solving import GradientStrategy, Problem, get_gradient, register_gradient
from odenet.solving.strategy import registered_gradients


def test_the_builtin_strategies_are_registered() -> None:
    assert set(GRADIENTS) == {"autograd", "adjoint", "checkpoint", "reversible"}
    assert GRADIENTS is registered_gradients()
    assert isinstance(get_gradient(None), Autograd)
    assert isinstance(get_gradient("ADJOINT"), odenet.Adjoint)


class _Counting(GradientStrategy):
    """Autograd under another name, counting its solves."""

    name: ClassVar[str] = "counting_autograd"
    capability: ClassVar[str | None] = "autograd"
    calls: ClassVar[int] = 0

    def solve(self, problem: Problem) -> Any:
        type(self).calls += 1
        return Autograd().solve(problem)


@pytest.fixture
def counting() -> Iterator[type[_Counting]]:
    register_gradient(_Counting)
    _Counting.calls = 0
    yield _Counting
    del registered_gradients()["counting_autograd"]


def test_a_registered_strategy_is_reached_by_name(counting: type[_Counting]) -> None:
    w = torch.tensor(-0.7, dtype=torch.float64, requires_grad=True)
    y0 = torch.tensor([1.0, 2.0], dtype=torch.float64)
    t = torch.tensor([0.0, 1.5], dtype=torch.float64)
    ys = odenet.odeint(lambda t, y: w * y, y0, t, gradient="counting_autograd", rtol=1e-10,
                       atol=1e-12)  # fmt: skip
    assert counting.calls == 1
    exact = y0 * torch.exp(w * 1.5)
    torch.testing.assert_close(ys[-1], exact, rtol=1e-8, atol=0)
    (g,) = torch.autograd.grad(ys[-1].sum(), w)
    torch.testing.assert_close(g, (1.5 * exact).sum().detach(), rtol=1e-7, atol=0)


def test_registry_refuses_clashes_and_non_strategies() -> None:
    class Other(GradientStrategy):
        name: ClassVar[str] = "adjoint"

        def solve(self, problem: Problem) -> Any:
            raise AssertionError("never called")

    with pytest.raises(ValueError, match="'adjoint' is already registered to Adjoint"):
        register_gradient(Other)
    with pytest.raises(TypeError, match="GradientStrategy subclass"):
        register_gradient(int)  # type: ignore[arg-type]
    register_gradient(odenet.Adjoint)  # the same class again is a no-op


def test_unknown_gradient_name_lists_the_registered_ones() -> None:
    with pytest.raises(ValueError, match=r"gradient='adjiont'.*\['adjoint', 'autograd'"):
        odenet.odeint(lambda t, y: -y, torch.ones(2), torch.tensor([0.0, 1.0]), gradient="adjiont")
