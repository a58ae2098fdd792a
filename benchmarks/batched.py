"""Batched-solve benchmark (issue 10): one step size for the batch, or one per sample.

Workloads (CPU, one thread):
- ``vdp``: 256 Van der Pol oscillators ``x'' = mu (1 - x^2) x' - x`` with ``mu``
  log-uniform in [0.1, 10] and initial states uniform in [-2, 2]^2 (seed 0), t in [0, 10],
  float64 -- a heterogeneous batch: the stiffest sample sets a joint solver's step.
- ``mlp``: the solver benchmark's MLP field (256 x 32, tanh, t in [0, 1], float32) -- a
  homogeneous batch, where per-sample control has nothing to gain.

Methods dopri5 and tsit5 at rtol=1e-6, atol=1e-8. Rows: odenet joint (eager,
``compile_loop=True``: the whole loop in one compiled ``torch.while_loop``, and
``compile_step=True``), odenet independent (eager and ``compile_step=True``), torchode
(``AutoDiffAdjoint`` + ``IntegralController``, eager and ``torch.compile(solver.solve)``),
torchdiffeq (dopri5 only), diffrax under ``jax.jit`` when installed. Each row: median wall
time of the repeats, taken round-robin over the rows after a warm-up of each (compile
time reported separately), batched calls of ``func``, total per-sample evaluations, and
the max error at the end time against a float64 reference (torchdiffeq dopri8,
rtol=1e-12, atol=1e-14).

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
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# compile figures: "cold" is the first compilation in a fresh inductor cache (pass
# --warm-cache to keep the user's), diffrax/XLA on one thread like torch
if "--warm-cache" not in sys.argv:
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="odenet-inductor-"))
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import numpy as np
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
    #: forgets in-process compilations (for the warm-compile figure); None: not measured
    reset: Callable[[], None] | None = None


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

    def joint_compiled() -> tuple[Tensor, int | None, int]:
        sol = odenet.solve(w.f, w.y0, t, method=method, rtol=RTOL, atol=ATOL, dense=False,
                           compile_step=True)  # fmt: skip
        return sol.ys[-1], sol.stats.nfe, sol.stats.nfe * BATCH

    def joint_loop() -> tuple[Tensor, int | None, int]:
        sol = odenet.solve(w.f, w.y0, t, method=method, rtol=RTOL, atol=ATOL,
                           compile_loop=True)  # fmt: skip
        return sol.ys[-1], sol.stats.nfe, sol.stats.nfe * BATCH

    runs = [
        Run("odenet", "joint", joint),
        Run("odenet", "independent", independent(counted, False)),
    ]
    if compile_:
        runs.append(Run("odenet", "joint+compile_loop", joint_loop, True, reset=_reset_odenet))
        runs.append(Run("odenet", "joint+compile", joint_compiled, True, reset=_reset_odenet))
        runs.append(
            Run("odenet", "independent+compile", independent(w.f, True), True, _reset_odenet)
        )
    return runs


def _reset_odenet() -> None:
    """Forget odenet's compiled steps and Dynamo's traces (inductor's caches stay warm)."""
    from odenet.solvers import compiled, compiled_loop, independent

    compiled._CACHE.clear()
    compiled_loop.clear_cache()
    independent._COMPILED.clear()
    torch._dynamo.reset()


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


def diffrax_runs(w: Workload, method: str, compile_: bool) -> list[Run]:
    """diffrax under ``jax.jit`` on the vdp workload: joint (one solve of the (256, 2)
    batch) and per-sample (``jax.vmap`` of single solves). Skipped, with the reason
    printed, when jax/diffrax are not installed (they are not odenet dependencies)."""
    if w.name != "vdp" or not compile_:
        return []
    try:
        import diffrax
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        print(f"diffrax rows skipped: {exc} (pip install jax diffrax to measure them)")
        return []
    jax.config.update("jax_enable_x64", True)
    mu = jnp.asarray(w.f.mu.numpy())
    y0 = jnp.asarray(w.y0.numpy())

    def vf(t: object, y: object, m: object) -> object:
        x, v = y[..., 0], y[..., 1]  # type: ignore[index]
        return jnp.stack([v, m * (1 - x * x) * v - x], axis=-1)

    solver = {"dopri5": diffrax.Dopri5, "tsit5": diffrax.Tsit5}[method]()
    term = diffrax.ODETerm(vf)
    ctrl = diffrax.PIDController(rtol=RTOL, atol=ATOL)

    def solve(y: object, m: object) -> tuple[object, object]:
        sol = diffrax.diffeqsolve(
            term, solver, 0.0, w.t1, None, y, args=m, stepsize_controller=ctrl,
            max_steps=100_000, saveat=diffrax.SaveAt(t1=True),
        )  # fmt: skip
        return sol.ys[-1], sol.stats["num_steps"]

    joint_fn = jax.jit(solve)
    vmap_fn = jax.jit(jax.vmap(solve))

    def wrap(fn: Callable, per_sample: bool) -> Callable[[], tuple[Tensor, int | None, int]]:
        def go() -> tuple[Tensor, int | None, int]:
            y1, steps = jax.block_until_ready(fn(y0, mu))
            steps = np.asarray(steps)
            evals = int((6 * steps + 2).sum()) if per_sample else int(6 * steps + 2) * BATCH
            return torch.from_numpy(np.array(y1)), None, evals

        return go

    return [
        Run("diffrax", "joint+jit", wrap(joint_fn, False), True),
        Run("diffrax", "vmap+jit", wrap(vmap_fn, True), True),
    ]


def measure(w: Workload, method: str, repeats: int, compile_: bool) -> list[dict]:
    """Warm every run (compiling where asked), then time them round-robin: on a shared
    machine, load swings then hit every row alike instead of whichever ran during them."""
    runs = odenet_runs(w, method, compile_)
    runs += torchode_runs(w, method, compile_) + torchdiffeq_runs(w, method)
    runs += diffrax_runs(w, method, compile_)
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
        warm = []  # first call again after forgetting in-process compilations
        for run in runs:
            if run.reset is None:
                warm.append(None)
                continue
            run.reset()
            start = time.perf_counter()
            run.fn()
            warm.append(time.perf_counter() - start)
    rows = []
    for run, (y1, calls, evals), t_first, ts, t_warm in zip(
        runs, outs, first, times, warm, strict=True
    ):
        seconds = statistics.median(ts)
        err = float((y1.double() - w.ref).abs().max())
        row = {
            "workload": w.name,
            "method": method,
            "library": run.library,
            "mode": run.mode,
            "time_ms": 1e3 * seconds,
            "compile_s": t_first - seconds if run.compiled else None,
            "compile_warm_s": None if t_warm is None else t_warm - seconds,
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
        dfx = [r["time_ms"] for r in same if (r["library"], r["mode"]) == ("diffrax", "joint+jit")]
        row["vs_diffrax_joint"] = row["time_ms"] / dfx[0] if dfx else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="odenet batched-solve benchmark")
    parser.add_argument("--quick", action="store_true", help="vdp only, 3 repeats")
    parser.add_argument("--no-compile", action="store_true", help="skip compiled rows")
    parser.add_argument(
        "--warm-cache", action="store_true", help="keep inductor's on-disk cache (not cold)"
    )
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
            ("compile_s", "compile cold (s)", ".1f"),
            ("compile_warm_s", "compile warm (s)", ".1f"),
            ("calls", "batched calls", "d"),
            ("evals", "per-sample evals", "d"),
            ("evals_vs_joint", "evals / joint", ".2f"),
            ("error", "max error", ".1e"),
            ("speedup_vs_torchode_best", "× vs torchode best", ".2f"),
            ("vs_diffrax_joint", "time / diffrax joint+jit", ".2f"),
        ],
    )
    path = write_results("batched", rows, table, quick=args.quick)
    print(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
