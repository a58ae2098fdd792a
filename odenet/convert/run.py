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

from odenet.convert.report import report
from odenet.convert.resnet_to_ode import ode_blocks, resnet_to_ode
from odenet.convert.schemes import evaluate
from odenet.runs.checkpoint import load_checkpoint, save_checkpoint

CONVERTED_NAME = "converted.ckpt"


def _run_config(cfg: DictConfig) -> DictConfig | None:
    if cfg.run_dir is None:
        return None
    path = Path(str(cfg.run_dir)) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"run_dir={cfg.run_dir!r} has no config.yaml; pass the directory of an odenet-train "
            "run, or give checkpoint=..., model=... and data=... instead."
        )
    return OmegaConf.load(path)


def _section(cfg: DictConfig, run_cfg: DictConfig | None, key: str) -> DictConfig:
    section = OmegaConf.select(cfg, key)
    if section is None and run_cfg is not None:
        section = OmegaConf.select(run_cfg, key)
    if section is None:
        raise ValueError(
            f"no {key} config: pass run_dir=<an odenet-train run> or {key}=<a conf/{key} "
            f"choice> (e.g. {key}={'mlp_resnet' if key == 'model' else 'annuli'})."
        )
    return section


def _checkpoint_path(cfg: DictConfig) -> Path:
    if cfg.checkpoint is not None:
        return Path(str(cfg.checkpoint))
    if cfg.run_dir is not None:
        return Path(str(cfg.run_dir)) / "last.ckpt"
    raise ValueError("no weights: pass run_dir=<an odenet-train run> or checkpoint=<file>.")


def load_weights(model: nn.Module, path: Path) -> None:
    """Load ``path`` (an ``odenet-train`` checkpoint with a ``"model"`` entry, or a plain
    state_dict) into ``model``."""
    state = load_checkpoint(path, fix="pass checkpoint=<a file written by odenet-train>")
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    model.load_state_dict(state)


def eval_batches(data_cfg: DictConfig, batch_size: int) -> list[Any]:
    """The test split of the data config as a list of ``(x, y)`` batches."""
    splits = instantiate(data_cfg.dataset)
    loader = DataLoader(splits.test, batch_size=batch_size, shuffle=False)
    return [tuple(batch) for batch in loader]


def load_converted(path: str | Path) -> nn.Module:
    """Rebuild a model written by ``odenet-convert`` (``converted.ckpt``)."""
    state = load_checkpoint(path, fix="pass a converted.ckpt written by odenet-convert")
    model = instantiate(OmegaConf.create(state["model_config"])).eval()
    converted = resnet_to_ode(model, interpolation=state["interpolation"], method=state["method"])
    converted.load_state_dict(state["model"])
    return converted


def convert_run(cfg: DictConfig) -> dict[str, Any]:
    """Convert, evaluate and write; returns the summary also written to ``convert.json``."""
    torch.manual_seed(int(cfg.seed))
    run_cfg = _run_config(cfg)
    model_cfg = _section(cfg, run_cfg, "model")
    model = instantiate(model_cfg)
    load_weights(model, _checkpoint_path(cfg))
    model.eval()
    converted = resnet_to_ode(model, interpolation=str(cfg.interpolation), method=cfg.method)
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
