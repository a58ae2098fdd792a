"""ResNet <-> ODE converters.

- ``resnet_to_ode(model, interpolation=...)``: stages of residual blocks become ODE blocks
  over depth-varying fields built from the blocks' parameters.
- ``register_block(cls, residual_fn)``: teach the converters a new block type.
"""

from __future__ import annotations

from odenet.convert import builtin_blocks as _builtin_blocks  # noqa: F401  (registers rules)
from odenet.convert.depth_stack import DepthStack, StageShapeError
from odenet.convert.field import InterpolatedResidualField
from odenet.convert.interpolation import INTERPOLATIONS
from odenet.convert.registry import BlockRule, find_rule, register_block, unregister_block
from odenet.convert.resnet_to_ode import (
    UnrecognisedModelError,
    check_conversion,
    ode_blocks,
    resnet_to_ode,
)

__all__ = [
    "INTERPOLATIONS",
    "BlockRule",
    "DepthStack",
    "InterpolatedResidualField",
    "StageShapeError",
    "UnrecognisedModelError",
    "check_conversion",
    "find_rule",
    "ode_blocks",
    "register_block",
    "resnet_to_ode",
    "unregister_block",
]
