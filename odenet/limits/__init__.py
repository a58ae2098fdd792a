"""Infinite-depth limits of random ResNets: simulations, closed forms, the SDE limit, and
the Depth-muP parametrisation."""

from __future__ import annotations

from odenet.limits.closed_form import (
    Moments,
    depth_limit_law,
    finite_depth_moments,
    width_limit_value,
)
from odenet.limits.depth_mup import (
    PARAMETRISATIONS,
    build_mlp_resnet,
    depth_mup_branch_multiplier,
    hidden_lr_multiplier,
    make_optimizer,
    param_groups,
)
from odenet.limits.lr_sweep import RunConfig, SweepResult, run_lr_sweep
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
    "PARAMETRISATIONS",
    "SCALINGS",
    "MCMoments",
    "MatrixNoiseDiffusion",
    "Moments",
    "ResNetSample",
    "RunConfig",
    "SweepResult",
    "branch_scale",
    "build_mlp_resnet",
    "depth_limit_law",
    "depth_mup_branch_multiplier",
    "finite_depth_moments",
    "hidden_lr_multiplier",
    "make_optimizer",
    "mc_moments",
    "param_groups",
    "resnet_diffusion_limit",
    "run_lr_sweep",
    "sample_linear_log_ratio",
    "simulate_random_resnet",
    "two_sample_z",
    "width_limit_value",
]
