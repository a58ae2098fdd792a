"""ResNet <-> ODE converters.

- ``resnet_to_ode(model, interpolation=...)``: stages of residual blocks become ODE blocks
  over depth-varying fields built from the blocks' parameters.
- ``ode_to_resnet(model, steps, method)``: unroll ODE blocks into plain residual steps.
- ``refine(model, factor)``, ``coarsen(model, factor)``: resample the blocks along depth.
- ``report(model, data)``: smoothness along depth and accuracy under other solvers.
- ``register_block(cls, residual_fn)``: teach the converters a new block type.

The ``odenet-convert`` command (``odenet.convert.cli``, config ``conf/convert.yaml``) runs
``resnet_to_ode`` and ``report`` on a model trained by ``odenet-train``.
"""

from __future__ import annotations

from odenet.convert import builtin_blocks as _builtin_blocks  # noqa: F401  (registers rules)
from odenet.convert.block_check import UncheckedBlockWarning, UnexpectedBlockError
from odenet.convert.depth_stack import DepthStack, StageShapeError
from odenet.convert.field import InterpolatedResidualField
from odenet.convert.interpolation import INTERPOLATIONS
from odenet.convert.registry import BlockRule, find_rule, register_block, unregister_block
from odenet.convert.report import ConversionReport, report
from odenet.convert.resample import ResampleReport, ResampleWarning, coarsen, refine
from odenet.convert.resnet_to_ode import (
    UnrecognisedModelError,
    check_conversion,
    ode_blocks,
    resnet_to_ode,
)
from odenet.convert.schemes import DEFAULT_SCHEMES, Scheme, SchemeResult
from odenet.convert.sharing import SharedWeightsError
from odenet.convert.smoothness import StageSmoothness
from odenet.convert.unroll import ode_to_resnet

__all__ = [
    "DEFAULT_SCHEMES",
    "INTERPOLATIONS",
    "BlockRule",
    "ConversionReport",
    "DepthStack",
    "InterpolatedResidualField",
    "ResampleReport",
    "ResampleWarning",
    "Scheme",
    "SchemeResult",
    "SharedWeightsError",
    "StageShapeError",
    "StageSmoothness",
    "UncheckedBlockWarning",
    "UnexpectedBlockError",
    "UnrecognisedModelError",
    "check_conversion",
    "coarsen",
    "find_rule",
    "ode_blocks",
    "ode_to_resnet",
    "refine",
    "register_block",
    "report",
    "resnet_to_ode",
    "unregister_block",
]
