"""PNG plots of a ``ConversionReport``: parameters along depth, metric against evaluations.

matplotlib is optional: without it ``save_plots`` prints a message and writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from odenet.convert.report import ConversionReport


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def save_plots(rep: ConversionReport, out_dir: Path) -> list[Path]:
    """Write ``depth.png`` and ``schemes.png`` into ``out_dir``; returns the paths."""
    plt = _pyplot()
    if plt is None:
        print("odenet.convert.report: matplotlib is not installed; skipping the PNG plots.")
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    return [_depth_plot(plt, rep, out_dir / "depth.png"), _scheme_plot(plt, rep, out_dir)]


def _depth_plot(plt, rep: ConversionReport, path: Path) -> Path:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for s in rep.stages:
        depths = [k / s.num_blocks for k in range(s.num_blocks)]
        ax1.plot(depths, s.parameter_norms, marker=".", label=s.name)
        if s.relative_changes:
            ax2.plot(depths[:-1], s.relative_changes, marker=".", label=s.name)
    ax1.set(xlabel="depth t = k / L", ylabel=r"$\|\theta_k\|$", title="parameters along depth")
    ax2.set(
        xlabel="depth t = k / L",
        ylabel=r"$\|\theta_{k+1} - \theta_k\| / \|\theta_k\|$",
        yscale="log",
    )
    ax2.set_title("relative change between blocks")
    ax1.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _scheme_plot(plt, rep: ConversionReport, out_dir: Path) -> Path:
    use_acc = rep.original.accuracy is not None
    key = "accuracy" if use_acc else "loss"
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rep.schemes:
        ax.scatter([r.nfe], [getattr(r, key)], label=r.label)
    ax.axhline(getattr(rep.original, key), color="k", linestyle="--", label="original")
    ax.set(xlabel="field evaluations per forward", ylabel=key, xscale="log")
    ax.set_title(f"converted ODE ({rep.interpolation}) under other schemes")
    ax.legend(fontsize="small")
    fig.tight_layout()
    path = out_dir / "schemes.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
