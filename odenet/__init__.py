"""odenet: continuous-depth models for PyTorch.

A residual block ``x + h * f(x)`` is one Euler step of a learned vector field; odenet
provides the solvers, gradient strategies, layers, converters and experiments built on
that view.
"""

from __future__ import annotations

import sys as _sys
from importlib import import_module as _import_module

from . import convert, interpolate, limits, sde, solving
from .convert import coarsen, ode_to_resnet, refine, register_block, resnet_to_ode
from .errors import (
    CheckpointError,
    CheckpointWriteError,
    ConfigError,
    DataFileError,
    DataFilesMissing,
    MaxStepsReached,
    NewtonConvergenceError,
    NonFiniteLoss,
    NonFiniteState,
    OdenetError,
    RunDirLocked,
    SamplesFailed,
    SolverError,
    StepSizeUnderflow,
    StiffnessDetected,
    TooManyEvents,
    UsageError,
)
from .gradients import Adjoint, Autograd, Checkpoint, Reversible, SavedTensorMeter
from .gradients.odeint_adjoint import odeint_adjoint
from .models import CNF, ConvResNet, LatentODE, MLPResNet, ODENet, ResidualBlock
from .nn import (
    Augment,
    Augmented,
    ConvField,
    DepthVaryingConv2d,
    DepthVaryingConvField,
    DepthVaryingLinear,
    DepthVaryingMLPField,
    FourierBasis,
    LegendreBasis,
    MLPField,
    ODEBlock,
    PiecewiseConstantBasis,
    PiecewiseLinearBasis,
    RegularisedODEBlock,
)
from .sde import SDEBlock
from .solvers import (
    RK4,
    AdaptiveHeun,
    Bosh3,
    ButcherTableau,
    Dopri5,
    Dopri8,
    Euler,
    ExplicitAdams,
    Fehlberg2,
    Heun,
    Heun3,
    ImplicitAdams,
    ImplicitRungeKutta,
    Kvaerno3,
    Kvaerno5,
    Midpoint,
    PIController,
    Rodas5,
    RungeKutta,
    ScipySolver,
    Tsit5,
)
from .solvers.reversible_heun import ReversibleHeun
from .solving import (
    Event,
    EventRecord,
    SampleStats,
    Solution,
    Stats,
    cdeint,
    cdesolve,
    odeint,
    solve,
)

# Modules that lived at the package root before the solver front moved into
# ``odenet.solving``: the old paths (``from odenet.solution import Solution``) name the
# same module objects. Registered in sys.modules rather than as files so that the root
# stays the map of the package, and so ``import odenet.odeint`` cannot rebind the
# ``odenet.odeint`` function to a module.
_MOVED = {
    "args": "solving.args",
    "cdeint": "solving.cdeint",
    "event_grad": "solving.event_grad",
    "event_loop": "solving.event_loop",
    "events": "solving.events",
    "odeint": "solving.odeint",
    "odeint_adjoint": "gradients.odeint_adjoint",
    "progress": "solving.progress",
    "solution": "solving.solution",
    "gradients.base": "solving.strategy",
    "gradients.time_grad": "solving.time_grad",
}
for _old, _new in _MOVED.items():
    _module = _sys.modules.setdefault(f"{__name__}.{_old}", _import_module(f"{__name__}.{_new}"))
    _parent, _, _leaf = f"{__name__}.{_old}".rpartition(".")
    if not hasattr(_sys.modules[_parent], _leaf):  # odeint, cdeint, ...: the functions stay
        setattr(_sys.modules[_parent], _leaf, _module)

__version__ = "0.1.0"

__all__ = [
    "CNF",
    "RK4",
    "AdaptiveHeun",
    "Adjoint",
    "Augment",
    "Augmented",
    "Autograd",
    "Bosh3",
    "ButcherTableau",
    "Checkpoint",
    "CheckpointError",
    "CheckpointWriteError",
    "ConfigError",
    "ConvField",
    "ConvResNet",
    "DataFileError",
    "DataFilesMissing",
    "DepthVaryingConv2d",
    "DepthVaryingConvField",
    "DepthVaryingLinear",
    "DepthVaryingMLPField",
    "Dopri5",
    "Dopri8",
    "Euler",
    "Event",
    "EventRecord",
    "ExplicitAdams",
    "Fehlberg2",
    "FourierBasis",
    "Heun",
    "Heun3",
    "ImplicitAdams",
    "ImplicitRungeKutta",
    "Kvaerno3",
    "Kvaerno5",
    "LatentODE",
    "LegendreBasis",
    "MLPField",
    "MLPResNet",
    "MaxStepsReached",
    "Midpoint",
    "NewtonConvergenceError",
    "NonFiniteLoss",
    "NonFiniteState",
    "ODEBlock",
    "ODENet",
    "OdenetError",
    "PIController",
    "PiecewiseConstantBasis",
    "PiecewiseLinearBasis",
    "RegularisedODEBlock",
    "ResidualBlock",
    "Reversible",
    "ReversibleHeun",
    "Rodas5",
    "RunDirLocked",
    "RungeKutta",
    "SDEBlock",
    "SampleStats",
    "SamplesFailed",
    "SavedTensorMeter",
    "ScipySolver",
    "Solution",
    "SolverError",
    "Stats",
    "StepSizeUnderflow",
    "StiffnessDetected",
    "TooManyEvents",
    "Tsit5",
    "UsageError",
    "__version__",
    "cdeint",
    "cdesolve",
    "coarsen",
    "convert",
    "interpolate",
    "limits",
    "ode_to_resnet",
    "odeint",
    "odeint_adjoint",
    "refine",
    "register_block",
    "resnet_to_ode",
    "sde",
    "solve",
    "solving",
]
