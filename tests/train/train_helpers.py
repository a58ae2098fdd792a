"""Composing small, fast configurations for the training tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

import odenet.train  # noqa: F401  (registers the odenet.* resolvers)

# A tiny ODE-Net on digits: 4 channels, one RK4 step; about a second per epoch on one core.
TINY_ODENET = [
    "model.channels=4",
    "solver.steps=1",
    "data.batch_size=128",
    "trainer.num_threads=1",
    "trainer.tensorboard=false",
]
# A tiny ResNet on 256 annulus points: a few milliseconds per epoch.
TINY_MLP = [
    "data=annuli",
    "model=mlp_resnet",
    "model.width=8",
    "model.depth=2",
    "data.dataset.n_train=256",
    "data.dataset.n_test=64",
    "data.batch_size=32",
    "trainer.num_threads=1",
    "trainer.tensorboard=false",
]


def compose_cfg(overrides: list[str], run_dir: Path | None = None) -> DictConfig:
    """Compose ``odenet.conf/config.yaml`` with ``overrides`` (and ``run_dir``)."""
    extra = [] if run_dir is None else [f"run_dir={run_dir}"]
    with initialize_config_module(config_module="odenet.conf", version_base="1.3"):
        return compose("config", overrides=[*overrides, *extra])


def run_cli(args: list[str], cwd: Path, timeout: float = 300, **kwargs) -> subprocess.Popen:
    """Start ``python -m odenet.train <args>`` (or another module given as args[0]=-m...)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, **kwargs,
    )  # fmt: skip


def assert_state_dicts_equal(a: dict, b: dict) -> None:
    """Bitwise equality of two model state dicts."""
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


def without_times(history: list[dict]) -> list[dict]:
    """Metric records without the wall-clock fields."""
    return [{k: v for k, v in r.items() if not k.endswith("time_s")} for r in history]
