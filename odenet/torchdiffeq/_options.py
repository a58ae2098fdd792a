"""torchdiffeq's ``method`` and ``options`` translated into an odenet method and options.

Names resolve through odenet's registry (:data:`odenet.solvers.METHODS`), so every method
registered there is available under its name. Each torchdiffeq option key goes, in order:

1. to the method's constructor when it takes a keyword of that name (method-specific
   settings such as ``max_order`` or ``solver``);
2. to odenet's option of the same meaning when the method honours it (``min_step`` ->
   ``dt_min``, ``max_step`` -> ``dt_max``, ``grid_constructor`` -> ``grid``, ...);
3. otherwise it is unused and a warning names it, as torchdiffeq does.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..solvers import ALIASES, METHODS, get_method
from ..solving._checks import ADAPTIVE_OPTIONS, FIXED_OPTIONS
from ._errors import TorchdiffeqInputError

__all__ = ["Translated", "resolve_method", "translate", "valid_core_options"]

#: torchdiffeq's names that odenet spells differently
RENAMED = {"min_step": "dt_min", "max_step": "dt_max"}
#: accepted by torchdiffeq and meaningless here: odenet keeps time in float64 itself
IGNORED = frozenset({"dtype"})
#: torchdiffeq's other method names
METHOD_ALIASES = {"fixed_adams": "implicit_adams", "rk4": "rk38"}
#: torchdiffeq's default (effectively unbounded); odenet's own default is 100000
UNBOUNDED_STEPS = 2**31 - 1
#: torchdiffeq's bound on the steps of a fixed-step event search
FIXED_EVENT_STEPS = 20000


@dataclass
class Translated:
    """An odenet method object and the options for :func:`odenet.solve`."""

    method: Any
    options: dict[str, object] = field(default_factory=dict)
    perturb: bool = False
    step_size: float | None = None
    grid_constructor: Callable[..., Tensor] | None = None
    interp: str = "linear"


def _constructor_keywords(cls: type) -> set[str]:
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return set()
    return {
        name
        for name, p in params.items()
        if name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def known_name(method: str) -> str | None:
    """The registry key ``method`` stands for (through both alias tables), or ``None``."""
    key = METHOD_ALIASES.get(method, method)
    key = ALIASES.get(key, key)
    return key if key in METHODS else None


def method_names() -> list[str]:
    """Every method name accepted: the registry's and the aliases of registered methods."""
    aliases = {**ALIASES, **METHOD_ALIASES}
    return sorted({*METHODS, *(a for a, k in aliases.items() if known_name(k) is not None)})


def resolve_method(method: object, extra: Mapping[str, object]) -> tuple[Any, dict[str, object]]:
    """The method object for ``method`` (name or object) and the options it did not take.

    Options whose names are keywords of the method class's constructor build the object.
    """
    if method is None:
        method = "dopri5"
    if not isinstance(method, str):
        return get_method(method), dict(extra)  # type: ignore[arg-type]
    key = known_name(method)
    if key is None:
        raise ValueError(f'Invalid method "{method}". Must be one of {method_names()}')
    cls = METHODS[key]
    accepted = _constructor_keywords(cls)
    kwargs = {k: v for k, v in extra.items() if k in accepted}
    rest = {k: v for k, v in extra.items() if k not in accepted}
    return (cls(**kwargs) if kwargs else get_method(key)), rest


def valid_core_options(method: Any) -> frozenset[str]:
    """The odenet option keys ``method`` honours (its own list, else the loop's)."""
    own = getattr(method, "valid_options", None)
    if own is not None:
        return frozenset(own)
    return ADAPTIVE_OPTIONS if method.adaptive else FIXED_OPTIONS


def translate(method: object, options: Mapping[str, object], event: bool) -> Translated:
    """Split torchdiffeq's ``options`` into the method object and odenet's options.

    The fixed-step grid keys (``step_size``, ``grid_constructor``) and ``perturb``/``interp``
    are kept apart: the caller builds the grid from ``t`` (torchdiffeq's rules).
    """
    obj, rest = resolve_method(method, options)
    out = Translated(obj)
    valid = valid_core_options(obj)
    unused: dict[str, object] = {}
    for key, value in rest.items():
        if key in IGNORED or (key == "norm" and not obj.adaptive):
            continue
        if not obj.adaptive and key in ("step_size", "grid_constructor", "perturb", "interp"):
            setattr(out, key, value if key != "perturb" else bool(value))
            continue
        name = RENAMED.get(key, key)
        if name in valid:
            out.options[name] = value
        else:
            unused[key] = value
    if unused:
        warnings.warn(f"{type(obj).__name__}: Unexpected arguments {unused}", stacklevel=3)
    if obj.adaptive and "max_num_steps" in valid:
        out.options.setdefault("max_num_steps", UNBOUNDED_STEPS)
    if obj.adaptive and "beta" in valid:
        out.options.setdefault("beta", 0.0)  # torchdiffeq's integral controller
    if out.step_size is not None and out.grid_constructor is not None:
        raise ValueError("step_size and grid_constructor are mutually exclusive arguments.")
    if out.interp not in ("linear", "cubic"):
        raise ValueError(f"Unknown interpolation method {out.interp}")
    if event and not obj.adaptive and "max_num_steps" in valid:
        out.options.setdefault("max_num_steps", FIXED_EVENT_STEPS)
    return out


def fixed_grid(tr: Translated, func: object, y0: Tensor, t: Tensor) -> Tensor:
    """torchdiffeq's step grid over ``t``: ``grid_constructor(func, y0, t)``, else
    ``t[0] + k * step_size`` ending on ``t[-1]`` (in ``t``'s dtype), else ``t`` itself."""
    if tr.grid_constructor is not None:
        grid = tr.grid_constructor(func, y0, t)
        if not (bool(grid[0] == t[0]) and bool(grid[-1] == t[-1])):
            raise TorchdiffeqInputError(
                f"grid_constructor must return a grid from t[0]={float(t[0])} to "
                f"t[-1]={float(t[-1])}; got {float(grid[0])} ... {float(grid[-1])}"
            )
        return grid
    if tr.step_size is None:
        return t
    start, end = t[0].detach(), t[-1].detach()
    step = float(tr.step_size)
    direction = 1.0 if bool(end > start) else -1.0
    n = math.ceil(float((end - start).abs()) / step + 1)
    grid = torch.arange(0, n, dtype=t.dtype, device=t.device) * (direction * step) + start
    grid[-1] = end
    if len(grid) > 2 and not bool((end - grid[-2]) * direction > 0):
        grid = torch.cat([grid[:-2], grid[-1:]])  # rounding put a point on or past the end
    return grid
