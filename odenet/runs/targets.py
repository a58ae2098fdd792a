"""``_target_`` s read from files (a run's ``config.yaml``, a converted checkpoint's model
config) may only name odenet's and torch's model-building classes and functions.

``hydra.utils.instantiate`` calls whatever a ``_target_`` names, so a crafted
``config.yaml`` could otherwise run ``os.system``. :func:`check_targets` admits a target
only when its dotted path starts with one of :data:`ALLOWED_PREFIXES` (so only those
modules are imported to look it up) and it resolves to a class or function defined in one
of :data:`ALLOWED_MODULES` (so ``odenet.train.loop.os.system`` is refused too).
"""

from __future__ import annotations

import inspect
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from odenet.errors import ConfigError

__all__ = ["ALLOWED_MODULES", "ALLOWED_PREFIXES", "check_targets"]

ALLOWED_PREFIXES = ("odenet.", "torch.nn.", "torch.optim.")
ALLOWED_MODULES = (
    "odenet.models.",
    "odenet.nn.",
    "odenet.solvers.",
    "odenet.gradients.",
    "odenet.data.",
    "odenet.sde.",
    "odenet.limits.",
    "torch.nn.",
    "torch.optim.",
)


def _targets(node: Any, key: str) -> list[tuple[str, Any]]:
    """``(dotted key, target)`` of every ``_target_`` in a plain dict/list tree."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "_target_":
                found.append((f"{key}._target_" if key else "_target_", v))
            else:
                found += _targets(v, f"{key}.{k}" if key else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _targets(v, f"{key}[{i}]")
    return found


def _admitted(target: Any) -> bool:
    if not isinstance(target, str) or not target.startswith(ALLOWED_PREFIXES):
        return False
    try:
        obj = get_object(target)
    except Exception:
        return False
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return False
    return f"{getattr(obj, '__module__', '')}.".startswith(ALLOWED_MODULES)


def check_targets(node: Any, source: str, key: str = "") -> None:
    """Raise :class:`ConfigError` naming ``source`` (the file) and the key when a
    ``_target_`` in ``node`` (a config or a plain dict/list) is not admitted."""
    if isinstance(node, (DictConfig, ListConfig)):
        node = OmegaConf.to_container(node, resolve=False)
    for where, target in _targets(node, key):
        if not _admitted(target):
            raise ConfigError(
                f"{source}: {where}={target!r} is refused: a loaded config may only name "
                "model, layer, solver and data classes of odenet or torch.nn/torch.optim "
                "(instantiating anything else could run arbitrary code). Use a config "
                "written by odenet-train"
            )
