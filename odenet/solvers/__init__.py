"""The numerical core: Runge--Kutta methods, step-size control, dense output, the loops.

Nothing here imports from ``odenet.nn``, ``odenet.models`` or Hydra.
"""

from __future__ import annotations

from .adaptive_heun import AdaptiveHeun
from .bosh3 import Bosh3
from .controller import PIController, rms_norm
from .dopri5 import Dopri5
from .dopri8 import Dopri8
from .euler import Euler
from .explicit_adams import ExplicitAdams
from .fehlberg2 import Fehlberg2
from .heun import Heun
from .heun3 import Heun3
from .implicit_adams import ImplicitAdams
from .method import LoopMethod, Method
from .midpoint import Midpoint
from .rk4 import RK4
from .rk38 import RK38
from .runge_kutta import RungeKutta
from .scipy_solver import ScipySolver
from .tableau import ButcherTableau
from .tsit5 import Tsit5

__all__ = [
    "METHODS",
    "RK4",
    "RK38",
    "AdaptiveHeun",
    "Bosh3",
    "ButcherTableau",
    "Dopri5",
    "Dopri8",
    "Euler",
    "ExplicitAdams",
    "Fehlberg2",
    "Heun",
    "Heun3",
    "ImplicitAdams",
    "LoopMethod",
    "Method",
    "Midpoint",
    "PIController",
    "RungeKutta",
    "ScipySolver",
    "Tsit5",
    "get_method",
    "rms_norm",
]

#: The string shortcuts: ``method="dopri5"`` means ``method=Dopri5()``.
METHODS: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (
        Euler, Midpoint, Heun, Heun3, RK4,
        AdaptiveHeun, Fehlberg2, Bosh3, Dopri5, Tsit5, Dopri8,
        ExplicitAdams, ImplicitAdams, ScipySolver,
    )
}  # fmt: skip
METHODS[RK38.name] = RK38

#: torchdiffeq's other names for the same methods
ALIASES: dict[str, str] = {"heun2": "heun"}


# methods are stateless: one shared instance per name saves rebuilding the coefficient
# tables on every solve
_INSTANCES: dict[str, Method] = {}


def get_method(method: str | Method | type[Method] | None) -> Method:
    """The method object for a string shortcut or an instance (``None``: dopri5, as in
    torchdiffeq).

    Raises:
        ValueError: for an unknown name (the message lists the valid ones).
        TypeError: for anything that is neither a string nor a :class:`Method`
            (a Runge--Kutta method or a :class:`LoopMethod` such as ``ExplicitAdams()``).
    """
    if method is None:  # torchdiffeq's default
        method = "dopri5"
    if isinstance(method, Method):
        return method
    if isinstance(method, type) and issubclass(method, Method):
        return method()
    if isinstance(method, str):
        key = ALIASES.get(method.lower(), method.lower())
        if key in _INSTANCES:
            return _INSTANCES[key]
        if key not in METHODS:
            raise ValueError(
                f"method={method!r} is not a known method; choose one of "
                f"{sorted(METHODS)} or pass a RungeKutta instance such as odenet.solvers.Dopri5()"
            )
        return _INSTANCES.setdefault(key, METHODS[key]())
    raise TypeError(
        f"method must be a string such as 'dopri5' or a RungeKutta instance; got "
        f"{type(method).__name__}"
    )
