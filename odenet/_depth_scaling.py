"""Depth-muP multipliers shared by :mod:`odenet.limits.depth_mup` (the rule and its
derivation) and :mod:`odenet.models.parametrisation` (which applies it to models).

Kept below both packages so that neither imports the other. Rule: Yang, Yu, Zhu & Hayou
2023, "Tensor Programs VI", arXiv:2310.02244 -- branch multiplier ``1/sqrt(L)``; hidden
learning rate ``eta`` with SGD and ``eta / sqrt(L)`` with Adam.
"""

from __future__ import annotations

import math

__all__ = [
    "OPTIMIZERS",
    "PARAMETRISATIONS",
    "check_choice",
    "depth_mup_branch_multiplier",
    "hidden_lr_multiplier",
]

PARAMETRISATIONS: tuple[str, ...] = ("standard", "depth_mup")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {name}={value!r}.")
    return value


def depth_mup_branch_multiplier(depth: int) -> float:
    """1 / sqrt(L): the Depth-muP block multiplier (a = 1)."""
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive int; got depth={depth!r}.")
    return 1.0 / math.sqrt(depth)


def hidden_lr_multiplier(depth: int, optimizer: str, parametrisation: str = "depth_mup") -> float:
    """Factor on the base lr for residual-block parameters: 1 for the standard
    parametrisation and for Depth-muP with SGD, 1/sqrt(L) for Depth-muP with Adam."""
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_choice("parametrisation", parametrisation, PARAMETRISATIONS)
    if parametrisation == "standard" or optimizer == "sgd":
        return 1.0
    return depth_mup_branch_multiplier(depth)
