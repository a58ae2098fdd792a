"""Learning-rate x depth sweep on scikit-learn digits: standard parametrisation vs Depth-muP.

Each run trains :func:`odenet.limits.depth_mup.build_mlp_resnet` (one-layer residual blocks)
with the optimiser of :func:`odenet.limits.depth_mup.make_optimizer` for a fixed number of
minibatch steps and reports the mean minibatch cross-entropy over the run (the average
training loss; inf if the run diverged). The average, unlike the last loss, does not collapse
to ~0 once digits is memorised, so it stays smooth in the lr and ranks lrs by how fast and
how stably they train. Under Depth-muP the loss-vs-lr curves of different depths share
their minimiser (Yang et al. 2023, Fig. 1); under the standard parametrisation the optimum
drifts with depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from odenet.limits.depth_mup import PARAMETRISATIONS, build_mlp_resnet, make_optimizer


def digits_tensors(seed: int = 0) -> tuple[Tensor, Tensor]:
    """Training split of sklearn digits as (N, 64) float32 in [0, 1] and (N,) int64 labels."""
    from odenet.data import load_digits

    train = load_digits(0.2, seed=seed).train
    x, y = train.tensors
    return x.reshape(x.shape[0], -1), y


@dataclass(frozen=True)
class RunConfig:
    """Fixed settings of every run in a sweep."""

    optimizer: str = "adam"
    width: int = 64
    steps: int = 200
    batch_size: int = 128
    seed: int = 0
    activation: str = "relu"


def train_once(
    x: Tensor, y: Tensor, depth: int, lr: float, parametrisation: str, cfg: RunConfig
) -> float:
    """Train one network; return the mean minibatch cross-entropy over the ``cfg.steps``
    steps (inf if any loss is not finite). Initialisation and minibatch order depend only on
    ``cfg.seed`` (not on lr)."""
    torch.manual_seed(cfg.seed)
    model = build_mlp_resnet(
        x.shape[1],
        int(y.max()) + 1,
        width=cfg.width,
        depth=depth,
        parametrisation=parametrisation,
        activation=cfg.activation,
    )
    opt = make_optimizer(model, lr, optimizer=cfg.optimizer, parametrisation=parametrisation)
    gen = torch.Generator().manual_seed(cfg.seed)
    loss_fn = nn.CrossEntropyLoss()
    total = 0.0
    for _ in range(cfg.steps):
        idx = torch.randint(0, x.shape[0], (cfg.batch_size,), generator=gen)
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        if not torch.isfinite(loss):
            return math.inf
        loss.backward()
        opt.step()
        total += float(loss.detach())
    return total / cfg.steps


@dataclass
class SweepResult:
    """losses[(parametrisation, depth)] = average training loss per lr (order of lrs)."""

    depths: list[int]
    lrs: list[float]
    cfg: RunConfig
    losses: dict[tuple[str, int], list[float]] = field(default_factory=dict)

    def optimal_lr(self, parametrisation: str, depth: int) -> float:
        """The lr of the grid with the lowest average training loss."""
        row = self.losses[(parametrisation, depth)]
        return self.lrs[min(range(len(row)), key=row.__getitem__)]

    def table(self) -> str:
        """Markdown table of optimal lr and its loss per depth and parametrisation."""
        params = sorted({p for p, _ in self.losses})
        head = "| depth | " + " | ".join(f"{p}: best lr (loss)" for p in params) + " |"
        lines = [head, "|---" * (len(params) + 1) + "|"]
        for d in self.depths:
            cells = []
            for p in params:
                lr = self.optimal_lr(p, d)
                cells.append(f"{lr:.3g} ({min(self.losses[(p, d)]):.3f})")
            lines.append(f"| {d} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def run_lr_sweep(
    depths: list[int],
    lrs: list[float],
    parametrisations: tuple[str, ...] = PARAMETRISATIONS,
    cfg: RunConfig | None = None,
    *,
    verbose: bool = False,
) -> SweepResult:
    """Train every (parametrisation, depth, lr) once on digits; see :class:`SweepResult`."""
    cfg = RunConfig() if cfg is None else cfg
    x, y = digits_tensors(cfg.seed)
    result = SweepResult(depths=list(depths), lrs=list(lrs), cfg=cfg)
    for p in parametrisations:
        for d in depths:
            row = [train_once(x, y, d, lr, p, cfg) for lr in lrs]
            result.losses[(p, d)] = row
            if verbose:
                print(f"{p:>9} L={d:<3d} " + " ".join(f"{v:7.3f}" for v in row), flush=True)
    return result
