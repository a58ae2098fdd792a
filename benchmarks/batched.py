"""Batched-solve benchmark (issue 10): one step size for the batch, or one per sample.

Workloads (CPU, one thread):
- ``vdp``: 256 Van der Pol oscillators ``x'' = mu (1 - x^2) x' - x`` with ``mu``
  log-uniform in [0.1, 10] and initial states uniform in [-2, 2]^2 (seed 0), t in [0, 10],
  float64 -- a heterogeneous batch: the stiffest sample sets a joint solver's step.
- ``mlp``: the solver benchmark's MLP field (256 x 32, tanh, t in [0, 1], float32) -- a
  homogeneous batch, where per-sample control has nothing to gain.

Methods dopri5 and tsit5 at rtol=1e-6, atol=1e-8. Rows: odenet joint, odenet independent
(eager and ``compile_step=True``), torchode (``AutoDiffAdjoint`` + ``IntegralController``,
eager and ``torch.compile(solver.solve)``), torchdiffeq (dopri5 only). Each row: median
wall time of the repeats, taken round-robin over the rows after a warm-up of each
(compile time reported separately), batched
calls of ``func``, total per-sample evaluations, and the max error at the end time against
a float64 reference (torchdiffeq dopri8, rtol=1e-12, atol=1e-14).

Per-sample evaluations: joint solvers evaluate every sample at every call (calls x
batch); odenet independent charges a sample only while it is running
(``sample_stats.nfe``); torchode's own ``n_f_evals`` counts every batched call for every
sample, so its per-sample figure is derived from its per-sample ``n_steps`` as
``stages_per_step * n_steps + 2`` (FSAL: 6 evaluations per step, plus f(t0) and the
initial-step estimate), the same accounting as odenet's.

Run: ``python benchmarks/batched.py`` (``--quick``: vdp only, 3 repeats;
``--no-compile``: skip the compiled rows). Writes benchmarks/results/batched.json + .md.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import markdown_table, write_results

import odenet

BATCH = 256
RTOL, ATOL = 1e-6, 1e-8
METHODS = ("dopri5", "tsit5")


class VanDerPol(nn.Module):
    """``y = (x, v)``: ``x' = v``, ``v' = mu (1 - x^2) v - x``; ``mu`` of shape ``(batch,)``."""

    def __init__(self, mu: Tensor) -> None:
        super().__init__()
        self.register_buffer("mu", mu)

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        x, v = y[:, 0], y[:, 1]
        return torch.stack([v, self.mu * (1 - x * x) * v - x], dim=1)


class MLP(nn.Module):
    """The solver benchmark's field: dim -> 64 -> dim with tanh (time-independent)."""

    def __init__(self, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        return self.net(y)


class Counted(nn.Module):
    """Counts batched calls of ``f`` (used for the eager rows only: a Python counter would
    make a compiled graph recompile)."""

    def __init__(self, f: nn.Module) -> None:
        super().__init__()
        self.f = f
        self.calls = 0

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        self.calls += 1
        return self.f(t, y)


@dataclass
class Workload:
    name: str
    f: nn.Module
    y0: Tensor
    t1: float
    ref: Tensor  # float64 state at t1, (batch, dim)


def vdp_workload() -> Workload:
    g = torch.Generator().manual_seed(0)
    log_mu = torch.empty(BATCH, dtype=torch.float64).uniform_(
        math.log(0.1), math.log(10.0), generator=g
    )
    y0 = torch.empty(BATCH, 2, dtype=torch.float64).uniform_(-2.0, 2.0, generator=g)
    f = VanDerPol(log_mu.exp())
    return Workload("vdp", f, y0, 10.0, reference(f, y0, 10.0))


def mlp_workload() -> Workload:
    torch.manual_seed(0)
    f = MLP(32)
    y0 = torch.randn(BATCH, 32)
    return Workload("mlp", f, y0, 1.0, reference(f, y0, 1.0))


def reference(f: nn.Module, y0: Tensor, t1: float) -> Tensor:
    import copy

    import torchdiffeq

    f64 = copy.deepcopy(f).double()
    t = torch.tensor([0.0, t1], dtype=torch.float64)
    with torch.no_grad():
        return torchdiffeq.odeint(f64, y0.double(), t, method="dopri8", rtol=1e-12, atol=1e-14)[-1]


@dataclass
class Run:
    """A solver call returning ``(y(t1), batched calls or None, per-sample evals)``."""

    library: str
    mode: str
    fn: Callable[[], tuple[Tensor, int | None, int]]
    compiled: bool = False


def odenet_runs(w: Workload, method: str, compile_: bool) -> list[Run]:
    t = torch.tensor([0.0, w.t1], dtype=w.y0.dtype)
    counted = Counted(w.f)

    def joint() -> tuple[Tensor, int | None, int]:
        counted.calls = 0
        ys = odenet.odeint(counted, w.y0, t, method=method, rtol=RTOL, atol=ATOL)
        return ys[-1], counted.calls, counted.calls * BATCH

    def independent(f: nn.Module, compiled: bool) -> Callable:
        def go() -> tuple[Tensor, int | None, int]:
            sol = odenet.solve(f, w.y0, t, method=method, rtol=RTOL, atol=ATOL,
                               batch_mode="independent", compile_step=compiled)  # fmt: skip
            return sol.ys[-1], sol.stats.nfe, int(sol.sample_stats.nfe.sum())

        return go

    runs = [
        Run("odenet", "joint", joint),
        Run("odenet", "independent", independent(counted, False)),
    ]
    if compile_:
        runs.append(Run("odenet", "independent+compile", independent(w.f, True), True))
    return runs


def torchode_runs(w: Workload, method: str, compile_: bool) -> list[Run]:
    import torchode as to

    stages = {"dopri5": 6, "tsit5": 6}[method]
    t_eval = torch.tensor([0.0, w.t1], dtype=w.y0.dtype).expand(BATCH, 2).contiguous()
    problem = to.InitialValueProblem(y0=w.y0, t_eval=t_eval)

    def make(f: nn.Module) -> to.AutoDiffAdjoint:
        term = to.ODETerm(f)
        step = {"dopri5": to.Dopri5, "tsit5": to.Tsit5}[method](term=term)
        return to.AutoDiffAdjoint(step, to.IntegralController(atol=ATOL, rtol=RTOL, term=term))

    counted = Counted(w.f)
    eager = make(counted)

    def run_eager() -> tuple[Tensor, int | None, int]:
        counted.calls = 0
        sol = eager.solve(problem)
        return sol.ys[:, -1], counted.calls, int((stages * sol.stats["n_steps"] + 2).sum())

    runs = [Run("torchode", "per-sample", run_eager)]
    if compile_:
        compiled = torch.compile(make(w.f).solve)

        def run_compiled() -> tuple[Tensor, int | None, int]:
            sol = compiled(problem)
            return sol.ys[:, -1], None, int((stages * sol.stats["n_steps"] + 2).sum())

        runs.append(Run("torchode", "per-sample+compile", run_compiled, True))
    return runs


def torchdiffeq_runs(w: Workload, method: str) -> list[Run]:
    import torchdiffeq

    if method != "dopri5":
        return []  # torchdiffeq has no tsit5
    t = torch.tensor([0.0, w.t1], dtype=w.y0.dtype)
    counted = Counted(w.f)

    def go() -> tuple[Tensor, int | None, int]:
        counted.calls = 0
        ys = torchdiffeq.odeint(counted, w.y0, t, method="dopri5", rtol=RTOL, atol=ATOL)
        return ys[-1], counted.calls, counted.calls * BATCH

    return [Run("torchdiffeq", "joint", go)]


def measure(w: Workload, method: str, repeats: int, compile_: bool) -> list[dict]:
    """Warm every run (compiling where asked), then time them round-robin: on a shared
    machine, load swings then hit every row alike instead of whichever ran during them."""
    runs = odenet_runs(w, method, compile_)
    runs += torchode_runs(w, method, compile_) + torchdiffeq_runs(w, method)
    first, outs = [], []
    times: list[list[float]] = [[] for _ in runs]
    with torch.no_grad():
        for run in runs:
            start = time.perf_counter()
            outs.append(run.fn())
            first.append(time.perf_counter() - start)
        for _ in range(repeats):
            for i, run in enumerate(runs):
                start = time.perf_counter()
                run.fn()
                times[i].append(time.perf_counter() - start)
    rows = []
    for run, (y1, calls, evals), t_first, ts in zip(runs, outs, first, times, strict=True):
        seconds = statistics.median(ts)
        err = float((y1.double() - w.ref).abs().max())
        row = {
            "workload": w.name,
            "method": method,
            "library": run.library,
            "mode": run.mode,
            "time_ms": 1e3 * seconds,
            "compile_s": t_first - seconds if run.compiled else None,
            "calls": calls,
            "evals": evals,
            "error": err,
        }
        rows.append(row)
        print(
            f"{w.name:4s} {method:7s} {run.library:11s} {run.mode:20s} {1e3 * seconds:9.1f} ms "
            f"calls {calls!s:>6} evals {evals:8d} error {err:.2e}",
            flush=True,
        )
    return rows


def add_ratios(rows: list[dict]) -> None:
    """Per (workload, method): evaluations vs joint, time vs torchode's best row."""
    for row in rows:
        same = [r for r in rows if (r["workload"], r["method"]) == (row["workload"], row["method"])]
        joint = [r for r in same if r["library"] == "odenet" and r["mode"] == "joint"]
        row["evals_vs_joint"] = row["evals"] / joint[0]["evals"] if joint else None
        tode = [r["time_ms"] for r in same if r["library"] == "torchode"]
        row["speedup_vs_torchode_best"] = min(tode) / row["time_ms"] if tode else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="odenet batched-solve benchmark")
    parser.add_argument("--quick", action="store_true", help="vdp only, 3 repeats")
    parser.add_argument("--no-compile", action="store_true", help="skip compiled rows")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    repeats = 3 if args.quick else args.repeats
    workloads = [vdp_workload()] + ([] if args.quick else [mlp_workload()])
    rows: list[dict] = []
    for w in workloads:
        for method in METHODS:
            rows += measure(w, method, repeats, not args.no_compile)
    add_ratios(rows)
    table = markdown_table(
        rows,
        [
            ("workload", "workload", "s"),
            ("method", "method", "s"),
            ("library", "library", "s"),
            ("mode", "mode", "s"),
            ("time_ms", "time (ms)", ".1f"),
            ("compile_s", "compile (s)", ".1f"),
            ("calls", "batched calls", "d"),
            ("evals", "per-sample evals", "d"),
            ("evals_vs_joint", "evals / joint", ".2f"),
            ("error", "max error", ".1e"),
            ("speedup_vs_torchode_best", "× vs torchode best", ".2f"),
        ],
    )
    path = write_results("batched", rows, table, quick=args.quick)
    print(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
