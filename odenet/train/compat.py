"""Does the model config fit the data config? Checked statically, before anything is built.

Two checks, both from the config files alone (no data is loaded, no model is built):

* every ``${data.<key>}`` interpolation in ``model`` must name a key the data config has
  (``model=odenet`` needs ``data.in_channels``, which the 2-D point sets lack);
* the model's task must be the data's ``data.task``: a model with ``log_prob`` is a density
  model, one with ``elbo`` a time-series model, any other a classifier (the same rule as
  :func:`odenet.train.objectives.objective_for`).

Errors name the model, the missing key or the two tasks, and the configs that fit.
"""

from __future__ import annotations

import importlib
import re
from importlib import resources
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from odenet.train.config_errors import ConfigError

_DATA_REF = re.compile(r"\$\{data\.([A-Za-z_][\w.]*)\}")


def group_choices(group: str) -> list[str]:
    """Names of the configs in the packaged config group ``group`` (e.g. ``"solver"``)."""
    folder = resources.files("odenet.conf") / group
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _packaged(group: str, name: str) -> dict[str, Any]:
    """The unresolved packaged config ``group/name.yaml`` as a plain dict."""
    text = (resources.files("odenet.conf") / group / f"{name}.yaml").read_text()
    node = OmegaConf.create(text)
    return OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else {}


def _has(tree: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


def data_refs(model: Any, prefix: str = "model") -> dict[str, str]:
    """``{data key: model key that interpolates it}`` for every ``${data.<key>}`` in the
    unresolved ``model`` tree (nested resolver arguments included)."""
    refs: dict[str, str] = {}
    items = model.items() if isinstance(model, dict) else enumerate(model)
    for key, value in items:
        where = f"{prefix}.{key}"
        if isinstance(value, dict | list):
            refs.update({k: v for k, v in data_refs(value, where).items() if k not in refs})
        elif isinstance(value, str):
            for ref in _DATA_REF.findall(value):
                refs.setdefault(ref, where)
    return refs


def model_task(target: str) -> str:
    """The data task a model class trains on: ``density`` (has ``log_prob``),
    ``time_series`` (has ``elbo``) or ``classification``."""
    module_name, _, attr = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError):
        return "classification"
    if callable(getattr(cls, "log_prob", None)):
        return "density"
    if callable(getattr(cls, "elbo", None)):
        return "time_series"
    return "classification"


def _fits(model: dict[str, Any], data: dict[str, Any]) -> bool:
    task = data.get("task")
    if task is not None and model_task(str(model.get("_target_", ""))) != task:
        return False
    return all(_has(data, key) for key in data_refs(model))


def models_for(data: dict[str, Any]) -> list[str]:
    """Packaged model configs whose data keys and task ``data`` provides."""
    return [m for m in group_choices("model") if _fits(_packaged("model", m), data)]


def data_for(model: dict[str, Any]) -> list[str]:
    """Packaged data configs that provide ``model``'s data keys and task."""
    return [d for d in group_choices("data") if _fits(model, _packaged("data", d))]


def model_label(cfg: DictConfig, model: dict[str, Any]) -> str:
    """``model=<name>``: the Hydra choice when known, else the packaged config with the same
    target and keys, else ``model._target_=...``."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return f"model={HydraConfig.get().runtime.choices['model']}"
    except (ImportError, ValueError, KeyError, AttributeError):
        pass
    for name in group_choices("model"):
        packaged = _packaged("model", name)
        same = packaged.get("_target_") == model.get("_target_") and packaged.keys() == model.keys()
        if same and data_refs(packaged).keys() == data_refs(model).keys():
            return f"model={name}"
    return f"model._target_={model.get('_target_')!r}"


def check_model_fits_data(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` when ``cfg.model`` interpolates a data key that
    ``cfg.data`` lacks, or trains on another task than ``cfg.data.task``."""
    model = cast(dict, OmegaConf.to_container(cfg.model, resolve=False))
    data = cast(dict, OmegaConf.to_container(cfg.data, resolve=False))
    data_name = f"data={data.get('name', '?')}"
    for key, where in data_refs(model).items():
        if not _has(data, key):
            raise ConfigError(
                f"{model_label(cfg, model)} needs data.{key} ({where}=${{data.{key}}}), which "
                f"{data_name} lacks. Data configs that provide it: {data_for(model)}; models "
                f"that fit {data_name}: {models_for(data)}"
            )
    task = data.get("task")
    have = model_task(str(model.get("_target_", "")))
    if task is not None and task != have:
        raise ConfigError(
            f"{model_label(cfg, model)} is a {have} model but {data_name} is a {task} data set "
            f"(data.task={task}). Models that fit {data_name}: {models_for(data)}; data "
            f"configs that fit the model: {data_for(model)}"
        )
