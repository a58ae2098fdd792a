"""Hydra-composed training: ``train(cfg) -> dict`` and the ``odenet-train`` entry point."""

from __future__ import annotations

from odenet.runs.load import load_run, read_run_config
from odenet.train.checkpoint import load_checkpoint, save_checkpoint
from odenet.train.loop import train
from odenet.train.metrics import read_metrics
from odenet.train.resolvers import register_resolvers
from odenet.train.validate import ConfigError, validate_config

register_resolvers()

__all__ = [
    "ConfigError",
    "load_checkpoint",
    "load_run",
    "read_metrics",
    "read_run_config",
    "register_resolvers",
    "save_checkpoint",
    "train",
    "validate_config",
]
