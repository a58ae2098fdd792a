"""Resume only the run the checkpoint belongs to.

A checkpoint restores the epoch count, the optimizer and the learning-rate schedule (e.g. a
cosine ``T_max`` of the old ``trainer.epochs``). Resuming it under settings that change the
run would mix two runs -- with more epochs, the extra ones would run at lr 0 -- so
:func:`check_resume_settings` refuses: it raises a :class:`ConfigError` naming the keys that
differ, and the fix (a new run directory, or ``resume=false``). The settings compared are
:data:`RUN_KEYS`, resolved (so ``solver.*`` also shows through ``model.rtol`` and the like),
minus :data:`IGNORED_KEYS`, which do not change the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from odenet.train.config_errors import ConfigError

RUN_KEYS = ("seed", "trainer.epochs", "optim", "model", "data", "solver", "gradient")
IGNORED_KEYS = ("data.root", "data.dataset.root", "data.eval_batch_size")
_SHOWN = 6  # differing keys spelled out in the message


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}", out)
    else:
        out[prefix] = value


def run_settings(cfg: DictConfig) -> dict[str, Any]:
    """``{dotted key: resolved value}`` of the :data:`RUN_KEYS` of ``cfg`` (leaves only;
    lists are values), without :data:`IGNORED_KEYS`."""
    out: dict[str, Any] = {}
    for key in RUN_KEYS:
        node = OmegaConf.select(cfg, key)
        if OmegaConf.is_config(node):
            node = OmegaConf.to_container(node, resolve=True)
        _flatten(node, key, out)
    return {k: v for k, v in out.items() if k not in IGNORED_KEYS}


def changed_settings(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Sorted keys whose values differ (or that only one of the two has)."""
    missing = object()
    keys = saved.keys() | current.keys()
    return sorted(k for k in keys if saved.get(k, missing) != current.get(k, missing))


def saved_settings(checkpoint: dict[str, Any], run_dir: Path) -> dict[str, Any] | None:
    """The run settings stored in ``checkpoint``, else (checkpoints written before they
    were stored) those of ``run_dir/config.yaml``, else ``None``."""
    if checkpoint.get("settings") is not None:
        return dict(checkpoint["settings"])
    path = run_dir / "config.yaml"
    if path.is_file():
        loaded = OmegaConf.load(path)
        if isinstance(loaded, DictConfig):
            return run_settings(loaded)
    return None


def check_resume_settings(saved: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    """Raise :class:`ConfigError` when the checkpoint at ``path`` was written under other
    run settings than ``current``."""
    changed = changed_settings(saved, current)
    if not changed:
        return
    shown = ", ".join(
        f"{k}: {saved.get(k, '<absent>')!r} in the checkpoint, {current.get(k, '<absent>')!r} now"
        for k in changed[:_SHOWN]
    )
    more = f" (and {len(changed) - _SHOWN} more)" if len(changed) > _SHOWN else ""
    raise ConfigError(
        f"resume=true but {path} was written with other settings: {shown}{more}. Its epoch "
        "count, optimizer and learning-rate schedule belong to those settings. Start a new "
        "run directory (leave out hydra.run.dir, or pass another run_dir), or pass "
        "resume=false to start over in this one (overwrites its checkpoint)"
    )
