"""Learning rate x depth sweep on sklearn digits: standard parametrisation vs Depth-muP.

ResNet: odenet.models.MLPResNet with one-layer blocks x + s W relu(x), width 64, depth L.
Standard: s = 1, one lr for every parameter. Depth-muP (Yang et al. 2023, Tensor Programs
VI): s = 1/sqrt(L), block lr = lr / sqrt(L) for Adam (= lr for SGD), stem/head lr = lr
(odenet.limits.depth_mup). Each run: fixed seed, `--steps` minibatch steps (batch 128),
metric = training cross-entropy averaged over the run. Prints the loss grid and the optimal
lr per depth; writes a PNG of loss against lr per depth (needs matplotlib: pip install
"odenet[plot]") and a JSON.

Run: python examples/depth_mup_sweep.py [--optimizer adam] [--steps 200]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from odenet.limits.lr_sweep import RunConfig, SweepResult, run_lr_sweep


def plot(result: SweepResult, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed: skipping the plot (pip install "odenet[plot]").')
        return
    params = sorted({p for p, _ in result.losses})
    fig, axes = plt.subplots(1, len(params), figsize=(5.5 * len(params), 4), sharey=True)
    cmap = plt.get_cmap("viridis")
    for ax, p in zip(axes, params, strict=True):
        for i, d in enumerate(result.depths):
            row = [min(v, 2.5) for v in result.losses[(p, d)]]
            color = cmap(i / max(len(result.depths) - 1, 1))
            ax.plot(result.lrs, row, "o-", color=color, label=f"L={d}", ms=3)
            best = result.optimal_lr(p, d)
            ax.axvline(best, color=color, ls=":", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_xlabel(f"base learning rate ({result.cfg.optimizer})")
        ax.set_title(p)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"mean training loss over {result.cfg.steps} steps (clipped at 2.5)")
    axes[-1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--log2-lr", type=float, nargs=2, default=[-13.0, -3.0])
    parser.add_argument("--lr-points", type=int, default=11)
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("depth_mup_sweep"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    lo, hi = args.log2_lr
    n = args.lr_points
    lrs = [2.0 ** (lo + (hi - lo) * i / (n - 1)) for i in range(n)]
    cfg = RunConfig(optimizer=args.optimizer, width=args.width, steps=args.steps, seed=args.seed)
    start = time.perf_counter()
    print("mean training loss per lr: " + " ".join(f"{lr:.2g}" for lr in lrs))
    result = run_lr_sweep(args.depths, lrs, cfg=cfg, verbose=True)
    print(f"\nsweep time {time.perf_counter() - start:.0f} s\n")
    print(result.table())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "config": vars(cfg),
        "lrs": lrs,
        "losses": {f"{p}/L={d}": v for (p, d), v in result.losses.items()},
        "optimal_lr": {f"{p}/L={d}": result.optimal_lr(p, d) for (p, d) in result.losses},
    }
    json_path = args.out.with_suffix(".json")
    json_path.write_text(json.dumps(record, indent=1))
    print(f"wrote {json_path}")
    plot(result, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
