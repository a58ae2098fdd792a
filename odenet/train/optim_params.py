"""What ``odenet-train`` hands to the optimiser: ``model.parameters()`` or, for a model built
with ``parametrisation="depth_mup"``, its Depth-muP parameter groups.

Depth-muP (Yang, Yu, Zhu & Hayou 2023, "Tensor Programs VI", arXiv:2310.02244) gives the
residual blocks of a depth-L ResNet the base lr for SGD and ``lr / sqrt(L)`` for Adam; the
model states the rule (``MLPResNet.optimizer_param_groups``, ``odenet.limits.depth_mup``),
and this hook only names the optimiser family from ``optim.optimizer._target_``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from odenet.train.validate import ConfigError

# torch optimiser classes -> the Depth-muP rule they follow (AdamW follows Adam's rule).
RULE_OF_OPTIMIZER: tuple[tuple[type[torch.optim.Optimizer], str], ...] = (
    (torch.optim.SGD, "sgd"),
    (torch.optim.Adam, "adam"),
    (torch.optim.AdamW, "adam"),
)


def wants_depth_mup(model: nn.Module) -> bool:
    """True when ``model`` was built with ``parametrisation="depth_mup"``."""
    return getattr(model, "parametrisation", "standard") == "depth_mup"


def depth_mup_rule(optimizer_factory: functools.partial) -> str:
    """``"sgd"`` or ``"adam"``: the Depth-muP lr rule of the partially applied torch
    optimiser class (``optim.optimizer`` instantiated with ``_partial_: true``)."""
    cls = getattr(optimizer_factory, "func", optimizer_factory)
    for base, rule in RULE_OF_OPTIMIZER:
        if isinstance(cls, type) and issubclass(cls, base):
            return rule
    raise ConfigError(
        f"model.parametrisation=depth_mup has a learning-rate rule for SGD and Adam(W) only; "
        f"got optim.optimizer._target_={getattr(cls, '__name__', cls)!r}. Use optim=adam or "
        "optim=sgd, or model.parametrisation=standard"
    )


def optimizer_params(
    model: nn.Module, optimizer_factory: functools.partial
) -> Iterable[nn.Parameter] | list[dict[str, Any]]:
    """``model.parameters()``, or ``model.optimizer_param_groups(lr, rule)`` (base lr from
    the optimiser config) when the model asks for Depth-muP."""
    if not wants_depth_mup(model):
        return model.parameters()
    lr = optimizer_factory.keywords["lr"]
    return model.optimizer_param_groups(lr, depth_mup_rule(optimizer_factory))
