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
from .gl4 import GaussLegendre4
from .gl6 import GaussLegendre6
from .heun import Heun
from .heun3 import Heun3
from .implicit.implicit_rk import ImplicitRungeKutta
from .implicit_adams import ImplicitAdams
from .implicit_euler import ImplicitEuler
from .implicit_midpoint import ImplicitMidpoint
from .kvaerno3 import Kvaerno3
from .kvaerno5 import Kvaerno5
from .method import LoopMethod, Method
from .midpoint import Midpoint
from .radau_iia3 import RadauIIA3
from .radau_iia5 import RadauIIA5
from .rk4 import RK4
from .rk38 import RK38
from .rodas5 import Rodas5
from .rosenbrock import Rosenbrock
from .runge_kutta import RungeKutta
from .scipy_solver import ScipySolver
from .sdirk2 import SDIRK2
from .tableau import ButcherTableau
from .trapezoid import Trapezoid
from .trbdf2 import TRBDF2
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
    "Rodas5",
    "Rosenbrock",
    "RungeKutta",
    "ScipySolver",
    "Tsit5",
    "get_method",
    "rms_norm",
]
__all__ += [
    "SDIRK2",
    "TRBDF2",
    "GaussLegendre4",
    "GaussLegendre6",
    "ImplicitEuler",
    "ImplicitMidpoint",
    "ImplicitRungeKutta",
    "Kvaerno3",
    "Kvaerno5",
    "RadauIIA3",
    "RadauIIA5",
    "Trapezoid",
]

#: The string shortcuts: ``method="dopri5"`` means ``method=Dopri5()``.
METHODS: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (
        Euler, Midpoint, Heun, Heun3, RK4,
        AdaptiveHeun, Fehlberg2, Bosh3, Dopri5, Tsit5, Dopri8,
        Rodas5,
        ExplicitAdams, ImplicitAdams, ScipySolver,
    )
}  # fmt: skip
# implicit methods (odenet.solvers.implicit): torchdiffeq's fixed-grid ones, adaptive ESDIRK
METHODS.update({
    cls.name: cls
    for cls in (
        ImplicitEuler, ImplicitMidpoint, Trapezoid, RadauIIA3, RadauIIA5,
        GaussLegendre4, GaussLegendre6, SDIRK2, TRBDF2, Kvaerno3, Kvaerno5,
    )
})  # fmt: skip
METHODS[RK38.name] = RK38

#: torchdiffeq's other names for the same methods
ALIASES: dict[str, str] = {"heun2": "heun"}
ALIASES.update({"radauiia3": "radauIIA3", "radauiia5": "radauIIA5"})


# methods are stateless: one shared instance per name saves rebuilding the coefficient
# tables on every solve
_INSTANCES: dict[str, Method] = {}


def _stepped_as_written(method: Method) -> Method:
    """Refuse a :class:`RungeKutta` whose tableau is implicit but whose step is the
    explicit stage sum (it would silently run as another, explicit method)."""
    tab = getattr(method, "tableau", None)
    if (
        isinstance(method, RungeKutta)
        and not isinstance(method, ImplicitRungeKutta)
        and tab is not None
        and not tab.explicit
    ):
        raise TypeError(
            f"{type(method).__name__} has an implicit tableau but derives from RungeKutta, "
            "whose step is explicit (the result would be silently wrong); derive it from "
            "odenet.solvers.ImplicitRungeKutta instead"
        )
    return method


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
        return _stepped_as_written(method)
    if isinstance(method, type) and issubclass(method, Method):
        return _stepped_as_written(method())
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
