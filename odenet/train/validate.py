"""Checks of a composed configuration, run before any data is loaded or model built.

Every error names the key, the value received and the choices or the fix.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from odenet.train.compat import check_model_fits_data, group_choices
from odenet.train.config_errors import ConfigError
from odenet.train.device import check_device

__all__ = [
    "ConfigError",
    "check_positive_number",
    "check_target",
    "group_choices",
    "validate_config",
]

REQUIRED_KEYS = ("seed", "run_dir", "data", "model", "optim", "trainer")
NONFINITE_POLICIES = ("raise", "stop")


def _import_target(target: str) -> Any:
    module_name, _, attr = target.rpartition(".")
    if not module_name:
        raise ImportError(f"{target!r} is not a dotted path module.attribute")
    return getattr(importlib.import_module(module_name), attr)


def check_target(key: str, node: Any, group: str) -> None:
    """``node._target_`` must name an importable callable; else list ``group``'s choices."""
    choices = group_choices(group)
    if not isinstance(node, DictConfig) or "_target_" not in node:
        raise ConfigError(
            f"{key} must be a config with a _target_; got {key}={node!r}. "
            f"Pick one with {group}=<name>, choices: {choices}"
        )
    target = node._target_
    try:
        obj = _import_target(target)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"{key}._target_={target!r} cannot be imported ({exc}). "
            f"Pick a config with {group}=<name>, choices: {choices}"
        ) from exc
    if not callable(obj):
        raise ConfigError(f"{key}._target_={target!r} is not callable")


def check_positive_number(key: str, value: Any, integer: bool = False, fix: str = "") -> None:
    """``value`` must be a finite number > 0 (an int when ``integer``); ``fix`` is appended
    to the message (e.g. ``"pass solver.rtol=1e-3"``)."""
    kind = int if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kind)
        or not math.isfinite(value)
        or value <= 0
    ):
        what = "a positive integer" if integer else "a positive number"
        raise ConfigError(
            f"{key} must be {what}; got {key}={value!r}" + (f"; {fix}" if fix else "")
        )


def _check_optional_positive(
    cfg: DictConfig, key: str, integer: bool = False, fix: str = ""
) -> None:
    value = OmegaConf.select(cfg, key)
    if value is not None:
        check_positive_number(key, value, integer, fix)


def _check_seed(cfg: DictConfig) -> None:
    seed = OmegaConf.select(cfg, "seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer; got seed={seed!r}; pass e.g. seed=0")


def _check_solver(cfg: DictConfig) -> None:
    """``solver.steps`` (checked first: ``solver.step_size`` is computed from it), then
    ``solver.step_size``, ``solver.rtol`` and ``solver.atol``: positive or null."""
    _check_optional_positive(
        cfg, "solver.steps", True, "pass solver.steps=<n> (n steps per unit time), e.g. 2"
    )
    _check_optional_positive(
        cfg,
        "solver.step_size",
        fix="pass solver.steps=<n> (step 1/n) or a step such as solver.step_size=0.1",
    )
    for key in ("solver.rtol", "solver.atol"):
        _check_optional_positive(
            cfg, key, fix=f"pass e.g. {key}=1e-3 (smaller: more accurate, more steps)"
        )


def _check_data_root(cfg: DictConfig) -> None:
    root = OmegaConf.select(cfg, "data.root")
    if root is not None and not Path(str(root)).expanduser().is_dir():
        raise ConfigError(
            f"data.root={str(root)!r} is not a directory. odenet never downloads data: put the "
            f"standard files of data={OmegaConf.select(cfg, 'data.name')} there, or pass "
            "data.root=/path/to/files"
        )


def _check_reversible_pair(cfg: DictConfig) -> None:
    solver = OmegaConf.select(cfg, "solver.name")
    gradient = OmegaConf.select(cfg, "gradient.name")
    if (solver == "reversible_heun") != (gradient == "reversible"):
        raise ConfigError(
            f"gradient=reversible and solver=reversible_heun go together; got "
            f"solver={solver!r}, gradient={gradient!r}. Pass gradient=reversible (it selects "
            "the solver), or another gradient (autograd, adjoint, checkpoint) with another solver"
        )


def _check_nonfinite_policy(cfg: DictConfig) -> None:
    """``trainer.on_nonfinite_loss``: ``raise`` (default) or ``stop`` (one process only)."""
    policy = OmegaConf.select(cfg, "trainer.on_nonfinite_loss", default="raise")
    if policy not in NONFINITE_POLICIES:
        raise ConfigError(
            f"trainer.on_nonfinite_loss must be one of {NONFINITE_POLICIES}; got {policy!r}"
        )
    if policy == "stop" and OmegaConf.select(cfg, "trainer.distributed", default=False):
        raise ConfigError(
            "trainer.on_nonfinite_loss=stop needs one process (ranks would stop at different "
            "steps); use trainer.on_nonfinite_loss=raise with trainer.distributed=true"
        )


def _check_nonnegative(cfg: DictConfig, key: str, fix: str) -> None:
    value = OmegaConf.select(cfg, key)
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ConfigError(f"{key} must be a number >= 0; got {key}={value!r}; {fix}")


def _check_init_from(cfg: DictConfig) -> None:
    """``init_from``: null, or an existing run directory or checkpoint file."""
    value = OmegaConf.select(cfg, "init_from")
    if value is None:
        return
    if not isinstance(value, str) or not Path(value).expanduser().exists():
        raise ConfigError(
            f"init_from={value!r} does not exist; pass the directory of an odenet-train run "
            "(its best.ckpt, else last.ckpt, is used) or a checkpoint file, or init_from=null"
        )


def validate_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for the first invalid value of ``cfg``."""
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        raise ConfigError(f"config lacks the top-level keys {missing}; compose it from odenet.conf")
    _check_seed(cfg)
    _check_solver(cfg)
    check_target("data.dataset", OmegaConf.select(cfg, "data.dataset"), "data")
    check_target("model", cfg.model, "model")
    check_model_fits_data(cfg)
    if OmegaConf.select(cfg, "solver.method") is not None:
        check_target("solver.method", cfg.solver.method, "solver")
    check_target("optim.optimizer", OmegaConf.select(cfg, "optim.optimizer"), "optim")
    check_positive_number("optim.optimizer.lr", OmegaConf.select(cfg, "optim.optimizer.lr"))
    check_positive_number("trainer.epochs", OmegaConf.select(cfg, "trainer.epochs"), True)
    check_positive_number("data.batch_size", OmegaConf.select(cfg, "data.batch_size"), True)
    _check_optional_positive(
        cfg, "data.eval_batch_size", integer=True, fix="pass e.g. data.eval_batch_size=1000"
    )
    for key in ("optim.optimizer.weight_decay", "optim.optimizer.momentum"):
        _check_nonnegative(cfg, key, f"pass e.g. {key}=0 (0: none)")
    _check_optional_positive(cfg, "trainer.max_epochs_per_run", integer=True)
    _check_optional_positive(cfg, "trainer.gradient_clip")
    try:
        check_device(OmegaConf.select(cfg, "trainer.device"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    resume = OmegaConf.select(cfg, "resume")
    if not isinstance(resume, bool):
        raise ConfigError(f"resume must be true or false; got resume={resume!r}")
    _check_data_root(cfg)
    _check_reversible_pair(cfg)
    _check_nonfinite_policy(cfg)
    _check_init_from(cfg)
