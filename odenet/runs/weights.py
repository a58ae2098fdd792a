"""Loading a state dict into a model, with a one-line error when it belongs to another."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from odenet.errors import CheckpointError

__all__ = ["load_model_state"]

_SHOWN = 3


def _mismatch(model: nn.Module, state: Mapping[str, Any]) -> str:
    """What differs between ``model.state_dict()`` and ``state`` ('' when they fit)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: {tuple(state[k].shape)} in the checkpoint, {tuple(v.shape)} in the model"
        for k, v in own.items()
        if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != v.shape
    ]
    parts = []
    if missing:
        parts.append(f"missing {missing[:_SHOWN]}" + (" ..." if len(missing) > _SHOWN else ""))
    if unexpected:
        more = " ..." if len(unexpected) > _SHOWN else ""
        parts.append(f"unexpected {unexpected[:_SHOWN]}{more}")
    if shapes:
        parts.append("shapes differ: " + "; ".join(shapes[:_SHOWN]))
    return ", ".join(parts)


def load_model_state(model: nn.Module, state: Any, source: str, fix: str) -> None:
    """``model.load_state_dict(state)``, or :class:`CheckpointError` naming ``source``, the
    keys or shapes that differ, and ``fix`` (e.g. the settings to pass)."""
    if not isinstance(state, Mapping):
        raise CheckpointError(
            f"{source} holds {type(state).__name__}, not a model state dict; {fix}"
        )
    problem = _mismatch(model, state)
    if problem:
        raise CheckpointError(
            f"{source} does not fit the {type(model).__name__} built from the config "
            f"({problem}): it was written for another model; {fix}"
        )
    model.load_state_dict(state)
