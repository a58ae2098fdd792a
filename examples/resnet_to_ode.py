"""Do trained ResNets discretise neural ODEs? The science of issue 7 on sklearn's digits.

MLP ResNets with branch scale 1/L (``odenet.models.MLPResNet``) are trained at depths
L = 8, 16, 32, 64, once with weights initialised smoothly along depth and once iid. The
stem (64 -> width) and the head (width -> 10) stay at their random initialisation, so the
residual stack has to do the work: digits are almost linearly separable, and with a
trained head the blocks barely matter to the accuracy (``--train-stem-head`` shows it:
every scheme then scores within about 1.5 points of the ResNet, smooth or iid). Each
trained network is converted with ``odenet.convert.resnet_to_ode`` (linear interpolation of
the weights along depth) and ``odenet.convert.report`` measures

- the smoothness of the trained weights along depth, ``delta_k = ||theta_{k+1} - theta_k|| /
  ||theta_k||``: for a smooth initialisation it shrinks like 1/L (``L * mean delta``
  stays flat), for iid it does not (Marion, Wu, Sander, Biau, ICLR 2024);
- the test accuracy of the converted ODE solved with other schemes: rk4 with L/8 steps
  (L/2 evaluations) and dopri5 keep the accuracy of smooth networks and lose that of iid
  ones (Sander, Ablin, Peyré, NeurIPS 2022).

Run: ``python examples/resnet_to_ode.py`` (a few minutes on one CPU core); shorten with
e.g. ``--depths 8 16 --epochs 10``. Writes ``resnet_to_ode.json`` and a markdown table to
``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from odenet.convert import Scheme, report
from odenet.data.digits import load_digits
from odenet.models import MLPResNet

SCHEMES = (
    Scheme("euler 2L", "euler", 2.0),
    Scheme("rk4 L/4", "rk4", 0.25),
    Scheme("rk4 L/8", "rk4", 0.125),
    Scheme("dopri5", "dopri5", None, rtol=1e-3, atol=1e-4),
)


@dataclass
class Row:
    """One trained network: smoothness along depth and test accuracy per scheme (%)."""

    init: str
    depth: int
    mean_delta: float
    max_delta: float
    accuracy: float
    accuracy_by_scheme: dict[str, float]
    nfe_by_scheme: dict[str, float]


def digits_tensors(seed: int) -> tuple[torch.Tensor, ...]:
    """Flattened, standardised digits: ``x_train (N, 64), y_train, x_test, y_test``."""
    splits = load_digits(0.25, seed=seed)
    xtr, ytr = splits.train.tensors
    xte, yte = splits.test.tensors
    xtr, xte = xtr.flatten(1), xte.flatten(1)
    mean, std = xtr.mean(0), xtr.std(0).clamp_min(1e-3)
    return (xtr - mean) / std, ytr, (xte - mean) / std, yte


def train(
    model: MLPResNet,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    lr: float,
    train_stem_head: bool = False,
) -> None:
    """SGD with momentum 0.9 and learning rate ``lr * L`` for the blocks (the 1/L branch
    scale makes each block's gradient O(1/L)) and ``lr`` for stem and head (frozen unless
    asked), mini-batches of 128, cross-entropy. (Adam's per-coordinate normalisation
    undoes the 1/L: its updates are O(lr) in every block, and the trained weights come out
    less smooth along depth.)"""
    outer = [*model.stem.parameters(), *model.head.parameters()]
    groups = [{"params": list(model.blocks.parameters()), "lr": lr * model.depth}]
    if train_stem_head:
        groups.append({"params": outer, "lr": lr})
    else:
        for p in outer:
            p.requires_grad_(False)
    opt = torch.optim.SGD(groups, lr=lr, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=gen).split(128):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()


def run_one(init: str, depth: int, data: tuple, args: argparse.Namespace) -> Row:
    """Train one network and measure it."""
    xtr, ytr, xte, yte = data
    torch.manual_seed(args.seed)
    model = MLPResNet(
        64, 10, width=args.width, depth=depth, activation="tanh", scale="1/L", init=init
    )
    train(model, xtr, ytr, args.epochs, args.lr, args.train_stem_head)
    rep = report(model, (xte, yte), interpolation="linear", schemes=SCHEMES, show=False)
    stage = rep.stages[0]
    return Row(
        init=init,
        depth=depth,
        mean_delta=stage.mean_relative_change or 0.0,
        max_delta=stage.max_relative_change or 0.0,
        accuracy=100 * (rep.original.accuracy or 0.0),
        accuracy_by_scheme={r.label: 100 * (r.accuracy or 0.0) for r in rep.schemes},
        nfe_by_scheme={r.label: r.nfe for r in rep.schemes},
    )


def markdown_table(rows: list[Row]) -> str:
    """The README table: smoothness and accuracy (%) under other schemes."""
    labels = [s.label for s in SCHEMES]
    head = "| init | L | mean δ | L · mean δ | max δ | ResNet | " + " | ".join(labels) + " |"
    lines = [head, "|" + "---|" * (6 + len(labels))]
    for r in rows:
        accs = []
        for label in labels:
            nfe = r.nfe_by_scheme[label]
            accs.append(f"{r.accuracy_by_scheme[label]:.1f} ({nfe:.0f})")
        lines.append(
            f"| {r.init} | {r.depth} | {r.mean_delta:.3f} | {r.depth * r.mean_delta:.2f} | "
            f"{r.max_delta:.3f} | {r.accuracy:.1f} | " + " | ".join(accs) + " |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--depths", type=int, nargs="+", default=[8, 16, 32, 64])
    p.add_argument("--inits", nargs="+", default=["smooth", "iid"])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.03, help="SGD learning rate per block / L")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--train-stem-head", action="store_true", help="also train the stem and the head"
    )
    p.add_argument("--out", type=Path, default=Path("outputs/resnet_to_ode"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    data = digits_tensors(args.seed)
    rows = []
    start = time.perf_counter()
    for init in args.inits:
        for depth in args.depths:
            rows.append(run_one(init, depth, data, args))
            r = rows[-1]
            print(
                f"{init:>6} L={depth:<3} mean δ={r.mean_delta:.3f} acc={r.accuracy:.1f} "
                f"rk4 L/8={r.accuracy_by_scheme['rk4 L/8']:.1f} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    table = markdown_table(rows)
    print("\nTest accuracy (%) of the converted ODE under each scheme (field evaluations):")
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "resnet_to_ode.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    (args.out / "resnet_to_ode.md").write_text(table + "\n")
    return rows


if __name__ == "__main__":
    main()
