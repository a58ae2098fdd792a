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
    supports_ddp: bool

    def loss(
        self, model: nn.Module, batch: list[torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...

    def check_model(self, model: nn.Module) -> None: ...


class Classification:
    """Cross-entropy of logits ``model(x): (B, num_classes)`` against labels ``y: (B,)``.

    Statistics: ``loss`` (summed cross-entropy) and ``accuracy`` (number correct).
    """

    task = "classification"
    supports_ddp = True

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


def _require_method(model: nn.Module, method: str, task: str) -> None:
    if not callable(getattr(model, method, None)):
        raise TypeError(
            f"data task {task!r} needs a model with a {method}() method (e.g. "
            f"{'odenet.models.CNF' if task == 'density' else 'odenet.models.LatentODE'}); "
            f"got model={type(model).__name__}"
        )


def _unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (for custom methods)."""
    return getattr(model, "module", model)


class Density:
    """Negative log-likelihood ``-log p(x)`` in nats of a flow with ``log_prob(x): (B,)``
    (e.g. the FFJORD CNF, Grathwohl et al. 2019). Statistic: ``loss`` (summed NLL).

    The loss calls ``model(x)``, which must equal ``model.log_prob(x)`` (as for
    :class:`odenet.models.CNF`), so that a DDP wrapper's ``forward`` runs and synchronises
    gradients.
    """

    task = "density"
    supports_ddp = True

    def check_model(self, model: nn.Module) -> None:
        _require_method(_unwrap(model), "log_prob", self.task)

    def loss(
        self, model: nn.Module, batch: list[torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        (x,) = batch
        nll = -model(x)
        n = torch.tensor(float(len(x)), device=x.device)
        return nll.mean(), {"loss": nll.detach().sum(), "count": n}


def _shared_times(times: torch.Tensor) -> torch.Tensor:
    """The time grid ``(T,)`` of a batch ``(B, T)`` whose rows must be equal."""
    if not torch.equal(times, times[:1].expand_as(times)):
        raise ValueError(
            "a time-series batch must share one time grid (times[i] == times[0]); "
            "encode per-sample sampling with the mask"
        )
    return times[0]


class TimeSeries:
    """Negative ELBO of a latent ODE (Rubanova et al. 2019) on ``(times, values, mask)``.

    Batch shapes: ``times (B, T)`` (equal rows), ``values (B, T, d)``, ``mask (B, T)``.
    Statistics: ``loss`` (-ELBO), ``log_likelihood``, ``kl`` (sums over sequences); when
    gradients are off (evaluation), also ``mse``: squared error of the posterior-mean
    reconstruction per observed value.
    """

    task = "time_series"
    supports_ddp = False  # the ELBO is not the model's forward, which DDP needs to hook

    def check_model(self, model: nn.Module) -> None:
        _require_method(_unwrap(model), "elbo", self.task)

    def loss(
        self, model: nn.Module, batch: list[torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        times, values, mask = batch
        ts = _shared_times(times)
        mask = mask.unsqueeze(-1).expand_as(values)
        out = _unwrap(model).elbo(ts, values, mask)
        n = torch.tensor(float(len(values)), device=values.device)
        stats = {
            "loss": -out["elbo"].detach() * n,
            "log_likelihood": out["log_likelihood"].detach() * n,
            "kl": out["kl"].detach() * n,
            "count": n,
        }
        if not torch.is_grad_enabled():
            pred = model(ts, values, mask)
            sq = ((pred - values) ** 2 * mask).flatten(1).sum(1) / mask.flatten(1).sum(1)
            stats["mse"] = sq.sum()
        return -out["elbo"], stats


OBJECTIVES: dict[str, type] = {
    "classification": Classification,
    "density": Density,
    "time_series": TimeSeries,
}


def objective_for(task: str, model: nn.Module) -> Objective:
    """The objective of ``task`` after checking that ``model`` offers what it needs."""
    if task not in OBJECTIVES:
        raise ValueError(
            f"no training objective for data task {task!r}; choices: {sorted(OBJECTIVES)}"
        )
    objective = OBJECTIVES[task]()
    objective.check_model(model)
    return objective
