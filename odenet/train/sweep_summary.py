"""``odenet-sweep-summary <multirun dir>``: one table and one plot for a Hydra multirun.

Reads every job folder under the multirun directory (each holds ``results.json`` written by
:func:`odenet.train.train` and ``.hydra/overrides.yaml`` written by Hydra), and writes
``summary.csv``, ``summary.md`` and ``summary.png`` (a chosen metric against a chosen swept
value, one line per combination of the other swept values, optionally one panel per value of
another: ``--panels``), and with ``--best min|max`` ``summary_best.md`` (the best swept value
per line, e.g. the optimal learning rate per depth).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from odenet.train.loop import RESULTS_NAME

DEFAULT_METRICS = (
    "test_accuracy",
    "test_loss",
    "test_nfe_forward",
    "train_loss",
    "train_nfe_forward",
    "train_nfe_backward",
    "params",
    "epoch",
    "wall_time_s",
)


def _overrides(job: Path) -> dict[str, str]:
    path = job / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    items = yaml.safe_load(path.read_text()) or []
    return dict(item.split("=", 1) for item in items if "=" in item)


def _job_order(job: Path, root: Path) -> list[tuple[float, str]]:
    """Hydra's numbered job folders in numeric order (2 before 10)."""
    return [_sort_key(part) for part in job.relative_to(root).parts]


def collect(multirun_dir: str | Path) -> tuple[list[str], list[dict[str, Any]]]:
    """``(swept keys, rows)``: one row per finished job (a folder with ``results.json``).

    Swept keys are the override keys whose values differ between jobs, in first-seen order.
    Raises ``FileNotFoundError`` when no job has finished.
    """
    root = Path(multirun_dir)
    jobs = sorted((p.parent for p in root.rglob(RESULTS_NAME)), key=lambda j: _job_order(j, root))
    if not jobs:
        raise FileNotFoundError(
            f"no {RESULTS_NAME} under {str(root)!r}: pass the folder of a multirun made by "
            "`odenet-train -m ...` (e.g. multirun/<name>/<date_time>)"
        )
    rows, overrides = [], []
    for job in jobs:
        with open(job / RESULTS_NAME) as f:
            result = json.load(f)
        overrides.append(_overrides(job))
        rows.append({"job": str(job.relative_to(root)), **overrides[-1], **result})
    keys: list[str] = []
    for job_overrides in overrides:
        for key in job_overrides:
            if key not in keys and len({str(o.get(key)) for o in overrides}) > 1:
                keys.append(key)
    return keys, rows


def _columns(keys: list[str], rows: list[dict[str, Any]], metrics: list[str]) -> list[str]:
    present = [m for m in metrics if any(m in r for r in rows)]
    return ["job", *keys, *present]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def write_markdown(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows]
    path.write_text("\n".join(lines) + "\n")


def _as_number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _sort_key(value: Any) -> tuple[float, str]:
    """Numbers in numeric order (depth 4 before 16), then other values by name."""
    number = _as_number(value)
    return (number if number is not None else math.inf, str(value))


def _group(rows: list[dict[str, Any]], keys: list[str]) -> dict[tuple, list[dict[str, Any]]]:
    """Rows grouped by their values of ``keys``, groups in numeric-aware order."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(row.get(k) for k in keys)].append(row)
    return dict(sorted(groups.items(), key=lambda kv: [_sort_key(v) for v in kv[0]]))


def _finite(value: Any) -> float:
    number = _as_number(value)
    return number if number is not None and math.isfinite(number) else math.nan


def _draw(ax: Any, rows: list[dict[str, Any]], x: str, metric: str, others: list[str]) -> None:
    """One line of ``metric`` against ``x`` per combination of ``others`` (non-finite
    values, e.g. diverged runs, leave gaps)."""
    numeric = all(_as_number(r.get(x)) is not None for r in rows)
    categories = sorted({str(r.get(x)) for r in rows})
    for values, members in _group(rows, others).items():
        label = ", ".join(f"{k}={v}" for k, v in zip(others, values, strict=True)) or metric
        if numeric:
            pts = sorted((_as_number(r[x]), _finite(r.get(metric))) for r in members)
        else:
            pts = sorted((categories.index(str(r.get(x))), _finite(r.get(metric))) for r in members)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
    if not numeric:
        ax.set_xticks(range(len(categories)), categories)
    ax.set_xlabel(x)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def write_plot(
    path: Path,
    rows: list[dict[str, Any]],
    x: str,
    metric: str,
    keys: list[str],
    panels: str | None = None,
    log_axes: str = "",
):
    """``metric`` against ``x``; one line per combination of the other swept keys, and one
    panel per value of ``panels`` (if given). ``log_axes`` holds ``"x"`` and/or ``"y"``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = [k for k in keys if k not in (x, panels)]
    by_panel = _group(rows, [panels]) if panels else {(): rows}
    n = len(by_panel)
    fig, axes = plt.subplots(1, n, figsize=(6 * n, 4), dpi=100, sharey=True, squeeze=False)
    for ax, (value, members) in zip(axes[0], by_panel.items(), strict=True):
        _draw(ax, members, x, metric, others)
        if panels:
            ax.set_title(f"{panels}={value[0]}")
        if "x" in log_axes:
            ax.set_xscale("log")
        if "y" in log_axes:
            ax.set_yscale("log")
    axes[0][0].set_ylabel(metric)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def best_rows(
    rows: list[dict[str, Any]], x: str, metric: str, keys: list[str], mode: str
) -> list[dict[str, Any]]:
    """Per combination of the swept keys other than ``x``: the row whose finite ``metric``
    is smallest (``mode="min"``) or largest (``"max"``), e.g. the optimal lr per depth."""
    if mode not in ("min", "max"):
        raise ValueError(f"--best must be 'min' or 'max'; got {mode!r}")
    sign = 1.0 if mode == "min" else -1.0
    others = [k for k in keys if k != x]
    best = []
    for members in _group(rows, others).values():
        finite = [r for r in members if math.isfinite(_finite(r.get(metric)))]
        if finite:
            best.append(min(finite, key=lambda r: sign * _finite(r.get(metric))))
    return best


def summarize(
    multirun_dir: str | Path,
    metric: str = "test_accuracy",
    x: str | None = None,
    out_dir: str | Path | None = None,
    panels: str | None = None,
    log_axes: str = "",
    best: str | None = None,
) -> dict[str, Path]:
    """Write ``summary.csv``, ``summary.md`` and ``summary.png`` (and ``summary_best.md``
    with ``best="min"`` or ``"max"``: the best ``x`` per combination of the other swept
    keys); returns their paths.

    ``x`` defaults to the first swept key; ``panels`` (a swept key) draws one panel per
    value. Raises ``ValueError`` naming the choices when ``metric``, ``x`` or ``panels`` is
    not in the results.
    """
    keys, rows = collect(multirun_dir)
    if not any(metric in r for r in rows):
        choices = sorted({k for r in rows for k, v in r.items() if isinstance(v, (int, float))})
        raise ValueError(f"--metric={metric!r} is not in the job results; choices: {choices}")
    if x is None:
        x = keys[0] if keys else "job"
    if x != "job" and x not in keys:
        raise ValueError(f"--x={x!r} is not a swept key; choices: {keys or ['job']}")
    if panels is not None and (panels not in keys or panels == x):
        raise ValueError(f"--panels={panels!r} is not a swept key other than --x; choices: {keys}")
    out = Path(out_dir) if out_dir is not None else Path(multirun_dir)
    out.mkdir(parents=True, exist_ok=True)
    columns = _columns(keys, rows, list(DEFAULT_METRICS))
    paths = {"csv": out / "summary.csv", "md": out / "summary.md", "png": out / "summary.png"}
    write_csv(paths["csv"], columns, rows)
    write_markdown(paths["md"], columns, rows)
    write_plot(paths["png"], rows, x, metric, keys, panels, log_axes)
    if best is not None:
        paths["best"] = out / "summary_best.md"
        others = [k for k in keys if k != x]
        write_markdown(paths["best"], [*others, x, metric], best_rows(rows, x, metric, keys, best))
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="odenet-sweep-summary", description=__doc__)
    parser.add_argument("multirun_dir", help="folder of a multirun (multirun/<name>/<time>)")
    parser.add_argument("--metric", default="test_accuracy", help="metric on the y axis")
    parser.add_argument("--x", default=None, help="swept key on the x axis (default: first)")
    parser.add_argument("--out", default=None, help="output folder (default: multirun_dir)")
    parser.add_argument("--panels", default=None, help="swept key: one panel per value")
    parser.add_argument("--logx", action="store_true", help="logarithmic x axis")
    parser.add_argument("--logy", action="store_true", help="logarithmic y axis")
    parser.add_argument(
        "--best", choices=["min", "max"], default=None,
        help="also write summary_best.md: the x with the min/max metric per line",
    )  # fmt: skip
    args = parser.parse_args(argv)
    log_axes = ("x" if args.logx else "") + ("y" if args.logy else "")
    paths = summarize(
        args.multirun_dir, args.metric, args.x, args.out, args.panels, log_axes, args.best
    )
    print(Path(paths["md"]).read_text(), end="")
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")


if __name__ == "__main__":
    main()
