"""Training objectives, one per data task: each turns a batch into a loss and summed statistics.

Statistics are sums over the samples of the batch (``count`` holds their number), so that
epoch means are exact whatever the batch sizes and can be summed across DDP ranks.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn


class Objective(Protocol):
    """``loss(model, batch) -> (mean loss, {statistic: sum over the batch})``."""

    task: str

    def loss(
        self, model: nn.Module, batch: list[torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...

    def check_model(self, model: nn.Module) -> None: ...


class Classification:
    """Cross-entropy of logits ``model(x): (B, num_classes)`` against labels ``y: (B,)``.

    Statistics: ``loss`` (summed cross-entropy) and ``accuracy`` (number correct).
    """

    task = "classification"

    def check_model(self, model: nn.Module) -> None:
        if not callable(model):
            raise TypeError(f"model must be callable as model(x); got {type(model).__name__}")

    def loss(
        self, model: nn.Module, batch: list[torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, y = batch
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        correct = (logits.argmax(dim=1) == y).sum()
        n = torch.tensor(float(len(y)), device=x.device)
        return loss, {"loss": loss.detach() * n, "accuracy": correct.float(), "count": n}


OBJECTIVES: dict[str, type] = {"classification": Classification}


def objective_for(task: str, model: nn.Module) -> Objective:
    """The objective of ``task`` after checking that ``model`` offers what it needs."""
    if task not in OBJECTIVES:
        raise ValueError(
            f"no training objective for data task {task!r}; choices: {sorted(OBJECTIVES)}"
        )
    objective = OBJECTIVES[task]()
    objective.check_model(model)
    return objective
