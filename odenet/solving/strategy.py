"""The interface between ``solve`` and the gradient strategies, and their registry.

``odenet.solve`` checks ``func``, ``y0``, ``t`` and the tolerances, then asks the strategy
whether it takes over (:meth:`GradientStrategy.takes_over`); if so the strategy solves the
:class:`Problem` and returns a :class:`~odenet.solving.solution.Solution`.

The strategies themselves live in :mod:`odenet.gradients`, which sits *above* this
package: it imports the loop runner from here and registers each strategy with
:func:`register_gradient` when it is imported (``import odenet`` imports it). The front
looks names up with :func:`get_gradient`, so solving never imports gradients.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ..solvers import get_method
from ._checks import FlatState, wrap_tuple_func

__all__ = [
    "GradientStrategy",
    "Problem",
    "find_params",
    "get_gradient",
    "method_name",
    "register_gradient",
    "registered_gradients",
]

Field = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Problem:
    """A checked initial value problem, as ``solve`` hands it to a strategy.

    Attributes:
        func: the user's ``func`` (an ``nn.Module`` lets strategies find its parameters).
        field: ``func`` on the flat state: ``field(t, y) -> dy/dt`` with ``y`` of shape
            ``flat.y0.shape`` (``(*batch, *state)``, or the concatenated vector of a tuple).
        flat: the initial state and how to unpack it.
        t: the user's output times ``(n,)`` (may require grad).
        times: ``t`` as Python floats.
        method: the ``method`` argument, not yet resolved.
        rtol, atol: checked tolerances.
        options: the ``options`` dict (unchecked).
        explicit: the keyword solver settings ``step_size, n_steps, first_step,
            max_num_steps`` (``None`` when not given).
        event_fn: the terminal event function or ``None``.
        dense: whether ``solve`` was asked to keep dense output.
    """

    func: Callable[..., Any]
    field: Field
    flat: FlatState
    t: Tensor
    times: list[float]
    method: object
    rtol: float
    atol: float
    options: Mapping[str, object] | None = None
    explicit: dict[str, object] = field(default_factory=dict)
    event_fn: Callable[..., Tensor] | None = None
    dense: bool = False

    @classmethod
    def build(
        cls,
        func: Callable[..., Any],
        flat: FlatState,
        t: Tensor,
        times: list[float],
        method: object,
        rtol: float,
        atol: float,
        explicit: dict[str, object],
    ) -> Problem:
        """The problem of a ``solve`` call whose inputs passed the checks."""
        fld = wrap_tuple_func(func, flat) if flat.is_tuple else func
        return cls(func, fld, flat, t, times, method, rtol, atol, explicit=dict(explicit))

    def configured(
        self,
        options: Mapping[str, object] | None,
        event_fn: Callable[..., Tensor] | None,
        dense: bool,
    ) -> Problem:
        """A copy with ``options``, ``event_fn`` and ``dense`` set."""
        return replace(self, options=options, event_fn=event_fn, dense=dense)


def method_name(method: object) -> str:
    """Lower-case name of a method given as a string, an instance or a class."""
    if isinstance(method, str):
        return method.lower()
    name = getattr(method, "name", None)
    return name.lower() if isinstance(name, str) else type(method).__name__.lower()


def find_params(
    func: object, params: Sequence[Tensor] | None, strategy: str, argument: str = "params"
) -> tuple[Tensor, ...]:
    """The tensors to differentiate ``func`` with respect to, besides the state.

    ``params`` when given (each must be a tensor), else the parameters of ``func`` that
    require grad when ``func`` is an ``nn.Module``.

    A wrapper of the user's function (``odeint(..., args=...)``, ``odenet.cdeint``) exposes
    ``wrapped_func`` and ``grad_inputs`` (tensors it feeds to the function that require
    grad): those are added; with ``args``, a plain-function ``wrapped_func`` needs no
    ``params`` (its tensors are taken to come through ``args``).

    Raises:
        TypeError: ``params`` holds something other than tensors.
        ValueError: ``func`` is not an ``nn.Module`` and no ``params`` were given.
    """
    if hasattr(func, "wrapped_func"):
        return _wrapper_params(func, params, strategy, argument)
    if params is not None:
        out = tuple(params)
        for i, p in enumerate(out):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{argument}[{i}] must be a torch.Tensor; got {type(p).__name__}. Pass "
                    f"the tensors func depends on, e.g. {argument}=tuple(model.parameters())"
                )
        return tuple(p for p in out if p.requires_grad)
    if isinstance(func, nn.Module):
        return tuple(p for p in func.parameters() if p.requires_grad)
    raise ValueError(
        f"gradient={strategy!r} needs the parameters of func, but func is a "
        f"{type(func).__name__}, not an nn.Module. Make func an nn.Module, or pass the "
        f"tensors it depends on explicitly: with odeint, gradient=odenet."
        f"{strategy.capitalize()}(params=(w, b, ...)); with odeint_adjoint, "
        f"adjoint_params=(w, b, ...) (an empty tuple when func has none)"
    )


def _wrapper_params(
    func: Any, params: Sequence[Tensor] | None, strategy: str, argument: str
) -> tuple[Tensor, ...]:
    """Parameters of the wrapped function plus the wrapper's ``grad_inputs`` (no repeats)."""
    inner = func.wrapped_func
    extra = tuple(func.grad_inputs)
    plain = not isinstance(inner, nn.Module) and not hasattr(inner, "wrapped_func")
    if params is None and plain and getattr(func, "args", None) is not None:
        base: tuple[Tensor, ...] = ()  # a plain function: its inputs come through args
    else:
        base = find_params(inner, params, strategy, argument)
    seen: set[int] = set()
    out = []
    for p in (*base, *extra):
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return tuple(out)


class GradientStrategy(ABC):
    """How ``odeint`` differentiates a solve. Subclasses set ``name`` and implement ``solve``.

    Capabilities are checked in :meth:`check` before any evaluation of ``func``.
    """

    name: ClassVar[str]
    #: whether ``event_fn`` (terminal events) can be combined with this strategy
    supports_events: ClassVar[bool] = False
    #: the name methods know this strategy by in their ``gradients`` capability set
    #: (``None``: ``name``); a new strategy that differentiates like a built-in one sets
    #: that one's name, e.g. ``"autograd"``
    capability: ClassVar[str | None] = None

    def check(self, method: object, event_fn: object) -> None:
        """Raise a ``ValueError`` naming the fix for an unsupported combination."""
        if method_name(method) == "reversible_heun":
            raise ValueError(
                f"method='reversible_heun' is algebraically reversible and runs only with "
                f"gradient='reversible'; got gradient={self.name!r}. Pass "
                "gradient='reversible', or choose a Runge--Kutta method such as 'heun'"
            )
        self._check_method_capability(method)
        if event_fn is not None and not self.supports_events:
            raise ValueError(
                f"event_fn is supported with gradient='autograd' only; got "
                f"gradient={self.name!r}. Drop event_fn or use gradient='autograd'"
            )

    def _check_method_capability(self, method: object) -> None:
        """A method that names the strategies it works with (e.g. Adams: autograd and
        adjoint; scipy_solver: none) refuses the others while grad mode is on (under
        ``torch.no_grad()`` every strategy runs a plain solve)."""
        if not torch.is_grad_enabled():
            return
        try:
            solver = get_method(method)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return  # an unknown method is reported where it is resolved
        key = self.capability or self.name
        if key == "autograd" and not solver.differentiable:
            return  # the plain solve; check_differentiable refuses inputs asking for grads
        if key not in solver.gradients:
            works = sorted(solver.gradients) or "no gradient strategy (it solves outside autograd)"
            raise ValueError(
                f"method={solver.name!r} does not support gradient={self.name!r}; it works "
                f"with {works}. Choose one of those, or a Runge--Kutta method such as 'dopri5'"
            )

    def takes_over(self, method: object, t: Tensor, event_fn: object) -> bool:
        """Check capabilities; True when this strategy (not the plain solve) must run."""
        self.check(method, event_fn)
        return True

    @abstractmethod
    def solve(self, problem: Problem) -> Any:
        """Run the forward solve and attach this strategy's backward pass."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


#: name -> strategy class, filled by :func:`register_gradient` (``odenet.gradients``)
_REGISTRY: dict[str, type[GradientStrategy]] = {}


def register_gradient(cls: type[GradientStrategy]) -> type[GradientStrategy]:
    """Make ``gradient=cls.name`` mean ``cls()``; returns ``cls`` (usable as a decorator).

    Raises:
        TypeError: ``cls`` is not a :class:`GradientStrategy` subclass with a string ``name``.
        ValueError: another class is registered under the same name.
    """
    if not (isinstance(cls, type) and issubclass(cls, GradientStrategy)):
        raise TypeError(f"register_gradient takes a GradientStrategy subclass; got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__}.name must be a non-empty string; got {name!r}")
    key = name.lower()
    old = _REGISTRY.get(key, cls)
    if old is not cls and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(
            f"gradient name {key!r} is already registered to {_REGISTRY[key].__name__}; "
            f"give {cls.__name__} another name"
        )
    _REGISTRY[key] = cls  # the same class again (or reloaded): the newest definition
    return cls


def registered_gradients() -> dict[str, type[GradientStrategy]]:
    """The registry itself (name -> class): read it, register through :func:`register_gradient`."""
    return _REGISTRY


def get_gradient(gradient: object) -> GradientStrategy:
    """The strategy for ``None`` (autograd), a name, a strategy class or an instance.

    Raises:
        ValueError: an unknown name (the message lists the registered ones).
        TypeError: anything else.
    """
    if isinstance(gradient, GradientStrategy):
        return gradient
    if isinstance(gradient, type) and issubclass(gradient, GradientStrategy):
        return gradient()
    if gradient is None:
        gradient = "autograd"
    if isinstance(gradient, str):
        key = gradient.lower()
        if key not in _REGISTRY:
            raise ValueError(
                f"gradient={gradient!r} is not a known strategy; choose one of "
                f"{sorted(_REGISTRY)} or pass an object such as "
                "odenet.gradients.Checkpoint(budget=8)"
            )
        return _REGISTRY[key]()
    raise TypeError(
        f"gradient must be None, a name such as 'adjoint', or a strategy object such as "
        f"odenet.gradients.Adjoint(); got {type(gradient).__name__}"
    )
