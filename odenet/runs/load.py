"""Rebuilding a trained model from an ``odenet-train`` run directory.

A run directory holds ``config.yaml`` (the resolved config), ``last.ckpt`` (the state after
the last epoch), ``best.ckpt`` (the state after the epoch with the best test metric),
``metrics.jsonl`` and ``results.json``. :func:`load_run` builds the model from the saved
config (admitting only odenet's and torch's model classes, :mod:`odenet.runs.targets`) and
loads a checkpoint without running code from it (:mod:`odenet.runs.checkpoint`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from odenet.errors import CheckpointError, ConfigError
from odenet.runs.checkpoint import load_checkpoint
from odenet.runs.targets import check_targets
from odenet.runs.weights import load_model_state

__all__ = [
    "BEST_NAME",
    "CONFIG_NAME",
    "LAST_NAME",
    "build_model",
    "checkpoint_path",
    "load_run",
    "model_state",
    "read_run_config",
]

CONFIG_NAME = "config.yaml"
LAST_NAME = "last.ckpt"
BEST_NAME = "best.ckpt"
CHECKPOINT_CHOICES = ("best", "last")


def read_run_config(run_dir: str | Path) -> DictConfig:
    """The resolved config saved in ``run_dir/config.yaml``; :class:`ConfigError` when
    ``run_dir`` is not an odenet-train run directory."""
    run_dir = Path(run_dir)
    hint = "pass the directory of an odenet-train run (it prints it when it ends)"
    if not run_dir.is_dir():
        raise ConfigError(f"run_dir={str(run_dir)!r} does not exist or is not a directory; {hint}")
    path = run_dir / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"run_dir={str(run_dir)!r} has no {CONFIG_NAME}; {hint}")
    try:
        cfg = OmegaConf.load(path)
    except Exception as exc:
        raise ConfigError(f"{path} cannot be read as YAML ({exc}); {hint}") from None
    if not isinstance(cfg, DictConfig) or "model" not in cfg:
        raise ConfigError(f"{path} has no model section; {hint}")
    return cfg


def checkpoint_path(run_dir: str | Path, checkpoint: str = "best") -> Path:
    """``run_dir/best.ckpt`` (``checkpoint="best"``; falls back to ``last.ckpt`` for runs
    written before best checkpoints existed) or ``run_dir/last.ckpt`` (``"last"``)."""
    if checkpoint not in CHECKPOINT_CHOICES:
        raise ValueError(f"checkpoint must be one of {CHECKPOINT_CHOICES}; got {checkpoint!r}")
    run_dir = Path(run_dir)
    path = run_dir / (BEST_NAME if checkpoint == "best" else LAST_NAME)
    if not path.exists() and checkpoint == "best":
        path = run_dir / LAST_NAME
    if not path.exists():
        raise CheckpointError(
            f"run_dir={str(run_dir)!r} has no {LAST_NAME}: the run has not finished an epoch; "
            "train it (odenet-train with the same hydra.run.dir resumes it) or pick another run"
        )
    return path


def model_state(checkpoint: Any) -> Any:
    """The model's state dict in an odenet-train checkpoint (its ``"model"`` entry), or
    ``checkpoint`` itself when it is a plain state dict."""
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("model"), Mapping):
        return checkpoint["model"]
    return checkpoint


def build_model(model_cfg: Any, source: str) -> nn.Module:
    """Instantiate a model config read from ``source`` (a file), after
    :func:`~odenet.runs.targets.check_targets`."""
    check_targets(model_cfg, source, "model")
    return instantiate(model_cfg)


def load_run(
    run_dir: str | Path, checkpoint: str = "best", map_location: str | torch.device = "cpu"
) -> nn.Module:
    """The trained model of an ``odenet-train`` run directory, in eval mode.

    Args:
        run_dir: the run's output directory (``odenet-train`` prints it at the end).
        checkpoint: ``"best"`` (the epoch with the best test accuracy, or test loss for
            tasks without accuracy; ``last.ckpt`` for runs without ``best.ckpt``) or
            ``"last"``.
        map_location: the device to put the model on.

    Raises:
        ConfigError: ``run_dir`` is not a run directory, or its config names classes other
            than odenet's and torch's model classes.
        CheckpointError: the checkpoint is missing, unreadable, holds Python objects other
            than tensors and plain data, or does not fit the model of the config.
    """
    cfg = read_run_config(run_dir)
    model = build_model(cfg.model, str(Path(run_dir) / CONFIG_NAME))
    path = checkpoint_path(run_dir, checkpoint)
    fix = "load a checkpoint written by this run"
    state = load_checkpoint(path, fix=fix)
    load_model_state(model, model_state(state), str(path), fix)
    return model.to(map_location).eval()
