"""Concentric annuli: a plain neural ODE cannot separate them, an augmented one can.

Dupont, Doucet, Teh, "Augmented Neural ODEs", NeurIPS 2019. Class 0 is the disk |x| <= 0.5,
class 1 the annulus 1 <= |x| <= 1.5. A neural ODE on R^2 is a homeomorphism, so it cannot
move the disk out through the annulus to make the classes linearly separable; appending
``--augment-dim`` zero channels (``odenet.Augmented``) makes room. Both models end with a
linear readout of the final state (for the augmented model the full augmented state, as in
Dupont et al.); training accuracy of both is printed.

Run: ``python examples/annuli.py`` (about a minute on one CPU core); shorten with
``--iters 20 --n 128``.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from odenet import Augmented, MLPField, ODEBlock
from odenet.data.synthetic import make_annuli

FIXED_STEP = ("euler", "midpoint", "heun", "rk4")


def build(
    augment_dim: int, hidden: int, activation: str, method: str, step_size: float
) -> nn.Module:
    """ODE block (plain, or augmented by ``augment_dim`` zeros) then a linear readout."""
    dim = 2 + augment_dim
    block = ODEBlock(
        MLPField(dim, hidden, 2, activation, time_conditioning=False),
        method=method,
        step_size=step_size if method in FIXED_STEP else None,
    )
    body = block if augment_dim == 0 else Augmented(block, augment_dim, drop=False)
    return nn.Sequential(body, nn.Linear(dim, 1))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of points whose logit has the sign of their class."""
    with torch.no_grad():
        return ((model(x) > 0).long().squeeze(1) == y).float().mean().item()


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, iters: int, lr: float) -> float:
    """Full-batch Adam on the logistic loss; returns the final training accuracy."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    target = y.float()[:, None]
    for _ in range(iters):
        loss = nn.functional.binary_cross_entropy_with_logits(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return accuracy(model, x, y)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="number of training points")
    parser.add_argument("--iters", type=int, default=150, help="full-batch Adam iterations")
    parser.add_argument("--augment-dim", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--activation", default="tanh")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--method", default="dopri5")
    parser.add_argument("--step-size", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x, y = make_annuli(args.n, seed=args.seed)
    x_test, y_test = make_annuli(4096, seed=args.seed + 1)
    results = {}
    for name, augment_dim in (("plain", 0), ("augmented", args.augment_dim)):
        torch.manual_seed(args.seed)
        model = build(augment_dim, args.hidden, args.activation, args.method, args.step_size)
        start = time.perf_counter()
        results[name] = train(model, x, y, args.iters, args.lr)
        seconds = time.perf_counter() - start
        results[f"{name}_test"] = accuracy(model, x_test, y_test)
        print(
            f"{name:>9} neural ODE: training accuracy {results[name]:.4f}, "
            f"test accuracy {results[f'{name}_test']:.4f} ({seconds:.1f} s)"
        )
    return results


if __name__ == "__main__":
    main()
