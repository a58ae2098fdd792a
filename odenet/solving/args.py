"""``odeint(func, y0, t, args=...)``: extra inputs passed through to ``func(t, y, args)``.

``args`` is any Python object -- a tensor, a tuple/list/dict/dataclass of tensors, an
:mod:`odenet.interpolate` path used as a forcing term, an ``nn.Module`` -- handed to
``func`` unchanged at every evaluation. Gradients reach the tensors inside it with every
strategy: autograd and checkpoint differentiate through them like any tensor ``func``
uses; the adjoint and reversible strategies add the tensors of ``args`` that require grad
to the parameters they integrate (:func:`grad_inputs`).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor, nn

__all__ = ["ArgsField", "bind_args", "grad_inputs"]

_PATH_TENSORS = ("knots", "a", "b", "c", "d")


def _tensors(obj: Any, depth: int = 0) -> list[Tensor]:
    """Every tensor reachable in ``obj`` (containers, dataclasses, ``SimpleNamespace``,
    modules, interpolation paths)."""
    if depth > 20:
        return []
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, nn.Module):
        return list(obj.parameters())
    if isinstance(obj, Mapping):
        return [x for v in obj.values() for x in _tensors(v, depth + 1)]
    if isinstance(obj, (tuple, list)):
        return [x for v in obj for x in _tensors(v, depth + 1)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = [getattr(obj, f.name, None) for f in dataclasses.fields(obj)]
        return [x for v in fields for x in _tensors(v, depth + 1)]
    if isinstance(obj, types.SimpleNamespace):
        return [x for v in vars(obj).values() for x in _tensors(v, depth + 1)]
    if all(hasattr(obj, k) for k in ("evaluate", "derivative", "a", "b")):
        return [x for k in _PATH_TENSORS for x in _tensors(getattr(obj, k, None), depth + 1)]
    return []


def grad_inputs(args: Any) -> tuple[Tensor, ...]:
    """The tensors in ``args`` that require grad, each once, in order of appearance."""
    seen: set[int] = set()
    out = []
    for x in _tensors(args):
        if x.requires_grad and id(x) not in seen:
            seen.add(id(x))
            out.append(x)
    return tuple(out)


class ArgsField(nn.Module):
    """``(t, y) -> func(t, y, args)``, with ``args`` visible to the gradient strategies.

    ``wrapped_func`` and ``grad_inputs`` follow the protocol of
    :func:`odenet.solving.strategy.find_params`: the adjoint/checkpoint/reversible strategies
    differentiate with respect to ``func``'s parameters (an ``nn.Module``) plus the tensors
    of ``args`` that require grad. A plain-function ``func`` needs no ``params`` then: its
    tensors are taken to come through ``args`` (tensors it captures otherwise get no
    gradient from those strategies -- put them in ``args``).
    """

    def __init__(self, func: Callable[..., Any], args: Any) -> None:
        super().__init__()
        self.wrapped_func = func
        self.args = args

    @property
    def grad_inputs(self) -> tuple[Tensor, ...]:
        return grad_inputs(self.args)

    def forward(self, t: Tensor, y: Any) -> Any:
        return self.wrapped_func(t, y, self.args)


def bind_args(func: Callable[..., Any], args: Any) -> Callable[..., Any]:
    """``func`` itself when ``args`` is ``None``, else :class:`ArgsField` ``(func, args)``."""
    if args is None:
        return func
    if not callable(func):
        raise TypeError(
            f"func must be callable as func(t, y, args) -> dy/dt; got {type(func).__name__}"
        )
    return ArgsField(func, args)
