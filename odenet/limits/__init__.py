"""Infinite-depth limits of random ResNets: simulations, closed forms, the SDE limit, and
the Depth-muP parametrisation."""

from __future__ import annotations

from odenet.limits.closed_form import (
    Moments,
    depth_limit_law,
    finite_depth_moments,
    width_limit_value,
)
from odenet.limits.random_resnet import (
    SCALINGS,
    ResNetSample,
    branch_scale,
    sample_linear_log_ratio,
    simulate_random_resnet,
)
from odenet.limits.sde_limit import MatrixNoiseDiffusion, resnet_diffusion_limit
from odenet.limits.stats import MCMoments, mc_moments, two_sample_z

__all__ = [
    "SCALINGS",
    "MCMoments",
    "MatrixNoiseDiffusion",
    "Moments",
    "ResNetSample",
    "branch_scale",
    "depth_limit_law",
    "finite_depth_moments",
    "mc_moments",
    "resnet_diffusion_limit",
    "sample_linear_log_ratio",
    "simulate_random_resnet",
    "two_sample_z",
    "width_limit_value",
]
