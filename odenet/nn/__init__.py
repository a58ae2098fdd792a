"""Continuous-depth layers: ODE blocks, vector fields, depth-varying weights, augmentation,
regularisers."""

from __future__ import annotations

from odenet.nn.augment import Augment, Augmented
from odenet.nn.bases import (
    Basis,
    FourierBasis,
    LegendreBasis,
    PiecewiseConstantBasis,
    PiecewiseLinearBasis,
    make_basis,
)
from odenet.nn.conv_field import ConvField
from odenet.nn.depth_varying import (
    DepthVaryingConv2d,
    DepthVaryingConvField,
    DepthVaryingLinear,
    DepthVaryingMLPField,
)
from odenet.nn.mlp_field import MLPField
from odenet.nn.ode_block import ODEBlock
from odenet.nn.regularisers import RegularisedField, RegularisedODEBlock
from odenet.nn.time_conditioning import ConcatConv2d, ConcatLinear
from odenet.nn.trace import exact_trace, hutchinson_trace

__all__ = [
    "Augment",
    "Augmented",
    "Basis",
    "ConcatConv2d",
    "ConcatLinear",
    "ConvField",
    "DepthVaryingConv2d",
    "DepthVaryingConvField",
    "DepthVaryingLinear",
    "DepthVaryingMLPField",
    "FourierBasis",
    "LegendreBasis",
    "MLPField",
    "ODEBlock",
    "PiecewiseConstantBasis",
    "PiecewiseLinearBasis",
    "RegularisedField",
    "RegularisedODEBlock",
    "exact_trace",
    "hutchinson_trace",
    "make_basis",
]
