"""odenet: continuous-depth models for PyTorch.

A residual block ``x + h * f(x)`` is one Euler step of a learned vector field; odenet
provides the solvers, gradient strategies, layers, converters and experiments built on
that view.
"""

from __future__ import annotations

from . import convert, limits, sde
from .convert import coarsen, ode_to_resnet, refine, register_block, resnet_to_ode
from .errors import (
    MaxStepsReached,
    NewtonConvergenceError,
    NonFiniteState,
    OdenetError,
    SamplesFailed,
    SolverError,
    StepSizeUnderflow,
    StiffnessDetected,
)
from .gradients import Adjoint, Autograd, Checkpoint, Reversible, SavedTensorMeter
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
from .odeint import odeint, solve
from .odeint_adjoint import odeint_adjoint
from .sde import SDEBlock
from .solution import SampleStats, Solution, Stats
from .solvers import (
    RK4,
    AdaptiveHeun,
    Bosh3,
    ButcherTableau,
    Dopri5,
    Dopri8,
    Euler,
    Fehlberg2,
    Heun,
    Heun3,
    ImplicitRungeKutta,
    Kvaerno3,
    Kvaerno5,
    Midpoint,
    PIController,
    Rodas5,
    RungeKutta,
    Tsit5,
)
from .solvers.reversible_heun import ReversibleHeun

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
    "ConvField",
    "ConvResNet",
    "DepthVaryingConv2d",
    "DepthVaryingConvField",
    "DepthVaryingLinear",
    "DepthVaryingMLPField",
    "Dopri5",
    "Dopri8",
    "Euler",
    "Fehlberg2",
    "FourierBasis",
    "Heun",
    "Heun3",
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
    "RungeKutta",
    "SDEBlock",
    "SampleStats",
    "SamplesFailed",
    "SavedTensorMeter",
    "Solution",
    "SolverError",
    "Stats",
    "StepSizeUnderflow",
    "StiffnessDetected",
    "Tsit5",
    "__version__",
    "coarsen",
    "convert",
    "limits",
    "ode_to_resnet",
    "odeint",
    "odeint_adjoint",
    "refine",
    "register_block",
    "resnet_to_ode",
    "sde",
    "solve",
]
