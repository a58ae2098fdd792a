"""Small argument checks shared by the layers and models (errors name argument, value, fix)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1, else raise ``ValueError``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}. Pass e.g. {name}=2.")
    return value


def check_nonnegative_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 0, else raise ``ValueError``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an int >= 0; got {value!r}. Pass e.g. {name}=0.")
    return value


def check_probability(name: str, value: object, *, open_left: bool = False) -> float:
    """Return ``float(value)`` if it lies in [0, 1] (or (0, 1] with ``open_left``)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a float in [0, 1]; got {value!r} ({type(value)}).")
    v = float(value)
    low_ok = v > 0.0 if open_left else v >= 0.0
    if not (low_ok and v <= 1.0):
        interval = "(0, 1]" if open_left else "[0, 1]"
        raise ValueError(f"{name} must lie in {interval}; got {value!r}.")
    return v


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}.")
    return value  # type: ignore[return-value]


def check_finite_float(name: str, value: object) -> float:
    """Return ``float(value)`` if it is a finite real number, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, torch.Tensor)):
        raise TypeError(f"{name} must be a finite float; got {value!r} ({type(value).__name__}).")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite; got {name}={v}. Pass e.g. {name}=1.0.")
    return v


@dataclass(frozen=True)
class InputSpec:
    """What a module's input ``x`` must look like, for messages that name the fix.

    Attributes:
        owner: the module as its constructor call, e.g. ``"MLPField(dim=3)"``.
        layout: the expected shape in words, e.g. ``"(batch, dim)"``.
        size: the expected size of the feature axis, set by constructor argument ``arg``.
        axis: the feature axis (``None``: all dimensions after the first, flattened).
        rank: the exact number of dimensions, or ``None`` for at least ``min_rank``.
    """

    owner: str
    layout: str
    size: int
    arg: str
    axis: int | None = -1
    rank: int | None = None
    min_rank: int = 1


def _features(x: torch.Tensor, axis: int | None) -> int:
    if axis is not None:
        return x.shape[axis]
    return math.prod(x.shape[1:]) if x.dim() > 1 else x.shape[0]


def check_input(module: nn.Module, x: object, spec: InputSpec) -> None:
    """Raise ``TypeError``/``ValueError`` naming what is wrong with ``x`` for ``module``:
    not a floating tensor, wrong number of dimensions, wrong feature size (and the
    constructor argument to change) or a dtype other than the module's parameters'."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{spec.owner} expects x: a tensor of shape {spec.layout}; got {type(x).__name__}."
        )
    if not torch.is_floating_point(x):
        raise TypeError(
            f"{spec.owner} expects a floating-point x; got dtype {x.dtype}. Convert it, e.g. "
            "x.float()."
        )
    shape = tuple(x.shape)
    rank_ok = x.dim() == spec.rank if spec.rank is not None else x.dim() >= spec.min_rank
    if not rank_ok:
        dims = spec.rank if spec.rank is not None else f"at least {spec.min_rank}"
        raise ValueError(
            f"{spec.owner} expects x of shape {spec.layout} ({dims} dimensions); got shape "
            f"{shape} ({x.dim()} dimensions). Reshape x, e.g. add a batch dimension with "
            "x.unsqueeze(0)."
        )
    got = _features(x, spec.axis)
    if got != spec.size:
        where = "after flattening" if spec.axis is None else f"along dimension {spec.axis}"
        raise ValueError(
            f"{spec.owner} expects x of shape {spec.layout} with {spec.arg}={spec.size} "
            f"{where}; got shape {shape}, i.e. {got}. Build it with {spec.arg}={got}, or "
            "pass x of the expected shape."
        )
    param = next(module.parameters(), None)
    if param is not None and param.dtype != x.dtype and param.is_floating_point():
        raise TypeError(
            f"{spec.owner} has {param.dtype} parameters but x is {x.dtype}; convert one of "
            f"them, e.g. module.to({x.dtype}) or x.to({param.dtype})."
        )
    if param is not None and param.device != x.device:
        raise ValueError(
            f"{spec.owner} has its parameters on {param.device} but x is on {x.device}; move "
            f"one of them, e.g. module.to({str(x.device)!r})."
        )


F = TypeVar("F", bound=Callable[..., Any])


def checks_input(position: int) -> Callable[[F], F]:
    """Decorate ``forward`` so that its input (positional argument ``position`` after
    ``self``) is checked by ``check_input(self, x, self.input_spec())`` on the first call
    and again when the forward raises a ``RuntimeError`` (e.g. ``mat1 and mat2 shapes
    cannot be multiplied``): later calls pay one flag lookup; a wrong input at any call
    gets an error that names the expected shape and the constructor argument."""

    def decorate(forward: F) -> F:
        @functools.wraps(forward)
        def checked(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
            if not self.__dict__.get("_input_checked", False):
                x = args[position] if position < len(args) else kwargs.get("x")
                check_input(self, x, self.input_spec())  # type: ignore[operator]
                self.__dict__["_input_checked"] = True
            try:
                return forward(self, *args, **kwargs)
            except RuntimeError:
                x = args[position] if position < len(args) else kwargs.get("x")
                check_input(self, x, self.input_spec())  # type: ignore[operator]
                raise

        return checked  # type: ignore[return-value]

    return decorate
