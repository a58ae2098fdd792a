"""The three depth limits of random ResNets x_{k+1} = x_k + s W_k phi(x_k), with numbers and
a PNG (needs matplotlib: pip install "odenet[plot]").

1. Regimes (phi linear and tanh, width 16, 200 weight draws, L = 4..1024):
   s = 1 blows up, s = 1/L freezes to the (here trivial) ODE limit, s = 1/sqrt(L) converges
   to a diffusion whose spread stays O(1).
2. Closed form (linear, s = 1/sqrt(L)): D = log||x_L||^2 - log||x_0||^2 vs its exact
   finite-L moments and its limit N(1 - 2/n, 4/n) (odenet.limits.closed_form).
3. Width vs depth: mean/var of D on an (n, L) grid (exact ratio sampler); the L -> inf row
   and the n -> inf column meet at sigma^2 = 1 (Hayou & Yang 2023).
4. ResNet vs SDE: the 1/sqrt(L) ResNet against dx = n^{-1/2} dB phi(x) solved by torchsde.

Run: python examples/depth_limits.py [--seeds 200] [--out depth_limits.png]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from odenet.limits import (
    SCALINGS,
    depth_limit_law,
    finite_depth_moments,
    mc_moments,
    resnet_diffusion_limit,
    sample_linear_log_ratio,
    simulate_random_resnet,
    two_sample_z,
    width_limit_value,
)

DEPTHS = [4, 16, 64, 256, 1024]


def regimes(n: int, seeds: int, gen: torch.Generator) -> dict:
    """mean and sd across seeds of D_L, per (phi, scaling, L)."""
    print(f"\n1. Regimes: D_L = log||x_L||^2 - log||x_0||^2, width {n}, {seeds} draws")
    print(f"{'phi':>6} {'scaling':>10} " + " ".join(f"{'L=' + str(d):>16}" for d in DEPTHS))
    out = {}
    x0 = torch.ones(n, dtype=torch.float64)
    for phi in ("linear", "tanh"):
        for sc in SCALINGS:
            cells = []
            for d in DEPTHS:
                s = simulate_random_resnet(
                    x0, d, sc, n_seeds=seeds, phi=phi, renormalise=phi == "linear", generator=gen
                )
                r = s.log_ratio
                out[(phi, sc, d)] = (float(r.mean()), float(r.std()))
                cells.append(f"{float(r.mean()):8.3f}±{float(r.std()):<7.3f}")
            print(f"{phi:>6} {sc:>10} " + " ".join(cells))
    return out


def closed_form(seeds: int, gen: torch.Generator) -> dict:
    print(f"\n2. Linear, s = 1/sqrt(L): MC ({seeds} matrix draws) vs exact finite-L vs limit")
    print(
        f"{'n':>3} {'L':>5} {'MC mean':>15} {'exact':>7} {'limit':>6} {'z':>5} "
        f"{'MC var':>15} {'exact':>7} {'limit':>6} {'z':>5}"
    )
    out = {}
    for n in (4, 16):
        lim = depth_limit_law(n)
        for d in DEPTHS:
            x0 = torch.ones(n, dtype=torch.float64)
            r = simulate_random_resnet(x0, d, "1/sqrt(L)", n_seeds=seeds, generator=gen).log_ratio
            mc, ex = mc_moments(r), finite_depth_moments(n, d)
            out[(n, d)] = (mc, ex)
            print(
                f"{n:3d} {d:5d} {mc.mean:7.4f}±{mc.se_mean:.4f} {ex.mean:7.4f} {lim.mean:6.3f} "
                f"{mc.z_mean(ex.mean):5.2f} {mc.var:7.4f}±{mc.se_var:.4f} {ex.var:7.4f} "
                f"{lim.var:6.3f} {mc.z_var(ex.var):5.2f}"
            )
    return out


def width_depth(seeds: int, gen: torch.Generator) -> dict:
    widths = [4, 16, 64, 256, 1024, 4096]
    print("\n3. Width vs depth (linear, 1/sqrt(L)): MC mean of D (var in brackets)")
    print(f"{'':>7} " + " ".join(f"{'n=' + str(n):>15}" for n in widths) + f" {'n=inf':>8}")
    out = {}
    for d in DEPTHS:
        cells = []
        for n in widths:
            r = sample_linear_log_ratio(n, d, n_seeds=seeds, generator=gen)
            out[(n, d)] = (float(r.mean()), float(r.var()))
            cells.append(f"{float(r.mean()):6.3f} ({float(r.var()):.4f})")
        print(f"L={d:<5d} " + " ".join(cells) + f" {width_limit_value(d):8.4f}")
    lim = [depth_limit_law(n) for n in widths]
    print(f"{'L=inf':>7} " + " ".join(f"{m.mean:6.3f} ({m.var:.4f})" for m in lim) + f" {1.0:8.4f}")
    print("row L=inf -> 1 as n grows (depth first); column n=inf -> 1 as L grows (width first)")
    return out


def resnet_vs_sde(seeds: int, gen: torch.Generator) -> dict:
    n = 4
    print(f"\n4. 1/sqrt(L) ResNet vs SDE dx = n^-1/2 dB phi(x) (torchsde Euler, dt=1/512), n={n}")
    out = {}
    for phi in ("linear", "tanh"):
        x0 = torch.linspace(-1.0, 1.5, n, dtype=torch.float64)
        x1 = resnet_diffusion_limit(n, phi=phi, dt=1 / 512, seed=0)(x0.expand(seeds, n))
        sde = mc_moments(torch.log((x1 * x1).sum(-1) / float(x0 @ x0)))
        print(
            f"{phi}: SDE  D mean {sde.mean:.4f}±{sde.se_mean:.4f} "
            f"var {sde.var:.4f}±{sde.se_var:.4f}"
        )
        for d in DEPTHS[:4]:
            r = simulate_random_resnet(x0, d, "1/sqrt(L)", n_seeds=seeds, phi=phi, generator=gen)
            m = mc_moments(r.log_ratio)
            out[(phi, d)] = (m, sde)
            print(
                f"{phi}: L={d:<4d} D mean {m.mean:.4f}±{m.se_mean:.4f} var {m.var:.4f}±"
                f"{m.se_var:.4f}  z(mean) {two_sample_z(m, sde):.2f} "
                f"z(var) {two_sample_z(m, sde, 'var'):.2f}"
            )
    return out


def plot(reg: dict, wd: dict, vs: dict, hist: torch.Tensor, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed: skipping the plot (pip install "odenet[plot]").')
        return
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    a = ax[0, 0]
    for sc, c in zip(SCALINGS, ("C3", "C0", "C2"), strict=True):
        m = [reg[("linear", sc, d)][0] for d in DEPTHS]
        s = [reg[("linear", sc, d)][1] for d in DEPTHS]
        a.errorbar(DEPTHS, m, yerr=s, fmt="o-", color=c, capsize=3, label=f"s = {sc}")
    a.set_xscale("log", base=2)
    a.set_yscale("symlog", linthresh=1)
    a.set_xlabel("depth L")
    a.set_ylabel("log||x_L||^2 - log||x_0||^2 (mean ± sd over draws)")
    a.set_title("three scalings (linear, width 16)")
    a.legend()
    a = ax[0, 1]
    lim = depth_limit_law(16)
    a.hist(hist.numpy(), bins=50, density=True, alpha=0.6, label="ResNet L=1024, n=16")
    grid = torch.linspace(float(hist.min()), float(hist.max()), 200)
    dens = torch.exp(-((grid - lim.mean) ** 2) / (2 * lim.var)) / math.sqrt(2 * math.pi * lim.var)
    a.plot(grid, dens, "k-", label="limit N(1-2/n, 4/n)")
    a.set_title("s = 1/sqrt(L): diffusion limit, closed form")
    a.legend()
    a = ax[1, 0]
    for n in (4, 16, 64, 256, 4096):
        a.plot(DEPTHS, [wd[(n, d)][0] for d in DEPTHS], "o-", label=f"n={n}")
        a.axhline(1 - 2 / n, ls=":", lw=0.8, color=a.lines[-1].get_color())
    a.plot(DEPTHS, [width_limit_value(d) for d in DEPTHS], "k--", label="n=inf: L log(1+1/L)")
    a.set_xscale("log", base=2)
    a.set_xlabel("depth L")
    a.set_ylabel("mean of D (dotted: L=inf, 1-2/n)")
    a.set_title("width and depth limits commute (-> 1)")
    a.legend(fontsize=7)
    a = ax[1, 1]
    for phi, c in (("linear", "C0"), ("tanh", "C1")):
        ds = [d for (p, d) in vs if p == phi]
        m = [vs[(phi, d)][0].var for d in ds]
        e = [vs[(phi, d)][0].se_var for d in ds]
        sde = vs[(phi, ds[0])][1]
        a.errorbar(ds, m, yerr=e, fmt="o-", color=c, capsize=3, label=f"ResNet, {phi}")
        a.axhspan(sde.var - sde.se_var, sde.var + sde.se_var, color=c, alpha=0.25)
        a.axhline(sde.var, color=c, ls="--", lw=1, label=f"torchsde SDE, {phi}")
    a.set_xscale("log", base=2)
    a.set_xlabel("depth L")
    a.set_ylabel("Var of D (± SE)")
    a.set_title("1/sqrt(L) ResNet vs its SDE (n=4)")
    a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--mc-seeds", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("depth_limits.png"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    reg = regimes(16, args.seeds, gen)
    closed_form(args.mc_seeds, gen)
    wd = width_depth(args.mc_seeds, gen)
    vs = resnet_vs_sde(args.mc_seeds, gen)
    x0 = torch.ones(16, dtype=torch.float64)
    hist = simulate_random_resnet(
        x0, 1024, "1/sqrt(L)", n_seeds=args.mc_seeds, generator=gen
    ).log_ratio
    print(f"\ntotal time {time.perf_counter() - start:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot(reg, wd, vs, hist, args.out)


if __name__ == "__main__":
    main()
