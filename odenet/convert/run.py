"""``convert_run(cfg) -> dict``: the work behind ``odenet-convert`` (see ``conf/convert.yaml``).

Loads a model (from an ``odenet-train`` run directory or from ``model`` + ``checkpoint``),
converts it with ``resnet_to_ode``, evaluates both on the test split of the data, writes
``converted.ckpt`` (``{"model": state_dict, "model_config", "interpolation", "method"}``,
reloaded by ``load_converted``), ``convert.json`` and the ``report`` files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import DataLoader

from odenet.convert.interpolation import INTERPOLATIONS
from odenet.convert.report import report
from odenet.convert.resnet_to_ode import ode_blocks, resnet_to_ode
from odenet.convert.schemes import evaluate
from odenet.errors import CheckpointError, ConfigError
from odenet.runs.checkpoint import load_checkpoint, save_checkpoint
from odenet.runs.load import CONFIG_NAME, LAST_NAME, build_model, model_state, read_run_config
from odenet.runs.targets import check_targets
from odenet.runs.weights import load_model_state

CONVERTED_NAME = "converted.ckpt"


def _run_config(cfg: DictConfig) -> DictConfig | None:
    if cfg.run_dir is None:
        return None
    run_cfg = read_run_config(str(cfg.run_dir))
    source = str(Path(str(cfg.run_dir)) / CONFIG_NAME)
    check_targets(OmegaConf.select(run_cfg, "model"), source, "model")
    check_targets(OmegaConf.select(run_cfg, "data"), source, "data")
    return run_cfg


def _section(cfg: DictConfig, run_cfg: DictConfig | None, key: str) -> DictConfig:
    section = OmegaConf.select(cfg, key)
    if section is None and run_cfg is not None:
        section = OmegaConf.select(run_cfg, key)
    if section is None:
        raise ConfigError(
            f"no {key} config: pass run_dir=<an odenet-train run> or {key}=<a conf/{key} "
            f"choice> (e.g. {key}={'mlp_resnet' if key == 'model' else 'annuli'})."
        )
    return section


def _checkpoint_path(cfg: DictConfig) -> Path:
    if cfg.checkpoint is not None:
        return Path(str(cfg.checkpoint))
    if cfg.run_dir is not None:
        return Path(str(cfg.run_dir)) / LAST_NAME
    raise ConfigError("no weights: pass run_dir=<an odenet-train run> or checkpoint=<file>.")


def _check_settings(cfg: DictConfig) -> None:
    """``interpolation`` one of :data:`INTERPOLATIONS`; ``eval_batch_size`` positive."""
    if cfg.interpolation not in INTERPOLATIONS:
        raise ConfigError(
            f"interpolation must be one of {INTERPOLATIONS}; got interpolation="
            f"{cfg.interpolation!r}; pass e.g. interpolation=linear"
        )
    size = cfg.eval_batch_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(
            f"eval_batch_size must be a positive integer; got eval_batch_size={size!r}; "
            "pass e.g. eval_batch_size=512"
        )


def load_weights(model: nn.Module, path: Path) -> None:
    """Load ``path`` (an ``odenet-train`` checkpoint with a ``"model"`` entry, or a plain
    state_dict) into ``model``, without running code from the file."""
    fix = "pass the checkpoint of an odenet-train run with the model settings it was trained with"
    state = load_checkpoint(path, fix=fix)
    load_model_state(model, model_state(state), str(path), fix)


def _convert(model: nn.Module, cfg: DictConfig) -> nn.Module:
    """``resnet_to_ode`` with its refusals (not a ResNet, ...) as :class:`ConfigError`."""
    try:
        return resnet_to_ode(model, interpolation=str(cfg.interpolation), method=cfg.method)
    except ValueError as exc:
        what = f"run_dir={cfg.run_dir}" if cfg.run_dir is not None else "the model"
        raise ConfigError(
            f"{what} holds a {type(model).__name__}, which odenet-convert cannot convert: "
            f"{exc} (odenet-convert converts ResNets, e.g. runs of model=mlp_resnet or "
            "model=conv_resnet)"
        ) from exc


def eval_batches(data_cfg: DictConfig, batch_size: int) -> list[Any]:
    """The test split of the data config as a list of ``(x, y)`` batches."""
    splits = instantiate(data_cfg.dataset)
    loader = DataLoader(splits.test, batch_size=batch_size, shuffle=False)
    return [tuple(batch) for batch in loader]


def load_converted(path: str | Path) -> nn.Module:
    """Rebuild a model written by ``odenet-convert`` (``converted.ckpt``)."""
    fix = "pass a converted.ckpt written by odenet-convert"
    state = load_checkpoint(path, fix=fix)
    if not isinstance(state, dict) or not {"model", "model_config", "interpolation"} <= set(state):
        raise CheckpointError(f"{path} is not a converted checkpoint (see odenet-convert); {fix}")
    model = build_model(OmegaConf.create(state["model_config"]), str(path)).eval()
    converted = resnet_to_ode(
        model, interpolation=state["interpolation"], method=state.get("method", "euler")
    )
    load_model_state(converted, state["model"], str(path), fix)
    return converted


def convert_run(cfg: DictConfig) -> dict[str, Any]:
    """Convert, evaluate and write; returns the summary also written to ``convert.json``."""
    _check_settings(cfg)
    torch.manual_seed(int(cfg.seed))
    run_cfg = _run_config(cfg)
    model_cfg = _section(cfg, run_cfg, "model")
    model = instantiate(model_cfg)
    load_weights(model, _checkpoint_path(cfg))
    model.eval()
    converted = _convert(model, cfg)
    batches = eval_batches(_section(cfg, run_cfg, "data"), int(cfg.eval_batch_size))
    out = Path(str(cfg.out_dir))
    rep = report(model, batches, interpolation=str(cfg.interpolation), out_dir=out)
    loss, acc, nfe = evaluate(converted, batches, int(cfg.eval_batch_size))
    method = cfg.method
    if OmegaConf.is_config(method):
        method = OmegaConf.to_container(method, resolve=True)
    save_checkpoint(
        {
            "model": converted.state_dict(),
            "model_config": OmegaConf.to_container(model_cfg, resolve=True),
            "interpolation": str(cfg.interpolation),
            "method": method,
        },
        out / CONVERTED_NAME,
    )
    summary = {
        "original": {"loss": rep.original.loss, "accuracy": rep.original.accuracy},
        "converted": {"loss": loss, "accuracy": acc, "nfe": nfe, "method": cfg.method},
        "stages": {name: b.field.num_blocks for name, b in ode_blocks(converted)},
        "checkpoint": str(out / CONVERTED_NAME),
    }
    (out / "convert.json").write_text(json.dumps(summary, indent=2))
    return summary
