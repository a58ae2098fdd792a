"""Solver benchmark: odenet against torchdiffeq and torchode on the same work.

Workload (issue 4): vector field MLP dim -> 64 -> dim with tanh, t in [0, 1], CPU, one
thread, batch x dim in {16x2, 256x32, 4096x64}; rk4 with step 0.01, dopri5 and tsit5 at
rtol=1e-6, atol=1e-8. For every library: median wall time of 5 runs after a warm-up,
function evaluations, overhead = time / (evaluations x time of one func call), and the
max error of y(1) against a float64 reference (torchdiffeq dopri8, rtol=1e-12). The
solve and a batch of single func calls are timed alternately (one of each per repeat), so
the overhead ratio holds on a loaded machine.

Run: ``python benchmarks/solvers.py`` (``--quick`` for the two small sizes only).
Writes benchmarks/results/solvers.json and benchmarks/results/solvers.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import call_time, markdown_table, write_results

import odenet

SIZES = [(16, 2), (256, 32), (4096, 64)]
METHODS = [("rk4", {"step_size": 0.01}), ("dopri5", {}), ("tsit5", {})]
RTOL, ATOL = 1e-6, 1e-8


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))
        self.calls = 0

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.net(y)


def make_problem(batch: int, dim: int) -> tuple[MLP, torch.Tensor]:
    torch.manual_seed(0)
    f = MLP(dim)
    y0 = torch.randn(batch, dim)
    return f, y0


def reference(f: MLP, y0: torch.Tensor) -> torch.Tensor:
    import torchdiffeq

    f64 = MLP(y0.shape[1]).double()
    f64.load_state_dict({k: v.double() for k, v in f.state_dict().items()})
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with torch.no_grad():
        return torchdiffeq.odeint(f64, y0.double(), t, method="dopri8", rtol=1e-12, atol=1e-14)[-1]


def run_odenet(f: MLP, y0: torch.Tensor, method: str, kw: dict) -> Callable[[], torch.Tensor]:
    t = torch.tensor([0.0, 1.0])
    if method == "rk4":
        return lambda: odenet.odeint(f, y0, t, method=method, **kw)[-1]
    return lambda: odenet.odeint(f, y0, t, method=method, rtol=RTOL, atol=ATOL)[-1]


def run_torchdiffeq(f: MLP, y0: torch.Tensor, method: str, kw: dict) -> Callable | None:
    import torchdiffeq

    t = torch.tensor([0.0, 1.0])
    if method == "rk4":
        return lambda: torchdiffeq.odeint(f, y0, t, method="rk4", options=dict(kw))[-1]
    if method == "dopri5":
        return lambda: torchdiffeq.odeint(f, y0, t, method="dopri5", rtol=RTOL, atol=ATOL)[-1]
    return None  # torchdiffeq has no tsit5


def run_torchode(f: MLP, y0: torch.Tensor, method: str, kw: dict) -> Callable | None:
    import torchode as to

    if method == "rk4":
        return None  # torchode has no classical rk4
    term = to.ODETerm(f)
    step = {"dopri5": to.Dopri5, "tsit5": to.Tsit5}[method](term=term)
    ctrl = to.IntegralController(atol=ATOL, rtol=RTOL, term=term)
    solver = to.AutoDiffAdjoint(step, ctrl)
    t_eval = torch.tensor([[0.0, 1.0]]).expand(y0.shape[0], 2)
    problem = to.InitialValueProblem(y0=y0, t_eval=t_eval)
    return lambda: solver.solve(problem).ys[:, -1]


RUNNERS = {"odenet": run_odenet, "torchdiffeq": run_torchdiffeq, "torchode": run_torchode}


def measure(batch: int, dim: int, repeats: int) -> list[dict]:
    f, y0 = make_problem(batch, dim)
    ref = reference(f, y0)
    t0 = torch.zeros(())
    with torch.no_grad():
        call_time(lambda: f(t0, y0))  # warm-up
    rows = []
    for method, kw in METHODS:
        for lib, runner in RUNNERS.items():
            with torch.no_grad():
                fn = runner(f, y0, method, kw)
                if fn is None:
                    continue
                f.calls = 0
                y1 = fn()
                nfe = f.calls
                seconds, t_call = interleaved_times(fn, lambda: f(t0, y0), repeats)
            err = float((y1.double() - ref).abs().max())
            rows.append(
                {
                    "size": f"{batch}x{dim}",
                    "method": method,
                    "library": lib,
                    "time_ms": 1e3 * seconds,
                    "nfe": nfe,
                    "overhead": seconds / (nfe * t_call),
                    "error": err,
                    "func_call_us": 1e6 * t_call,
                }
            )
            print(
                f"{batch:5d}x{dim:<3d} {method:7s} {lib:12s} {1e3 * seconds:9.2f} ms  "
                f"nfe {nfe:5d}  overhead {seconds / (nfe * t_call):5.2f}  error {err:.2e}",
                flush=True,
            )
    return rows


def interleaved_times(
    fn: Callable[[], object], call: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median time of ``fn()`` and of one ``call()``, taken alternately (a batch of calls
    after each run), so load on a shared machine hits both alike."""
    fn()
    runs, calls = [], []
    n = max(1, int(0.02 / max(call_time(call, min_seconds=0.02), 1e-7)))
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(n):
            call()
        calls.append((time.perf_counter() - start) / n)
    return statistics.median(runs), statistics.median(calls)


def add_speedups(rows: list[dict]) -> None:
    for row in rows:
        if row["library"] != "odenet":
            continue
        for other in ("torchdiffeq", "torchode"):
            match = [
                r
                for r in rows
                if r["library"] == other
                and r["size"] == row["size"]
                and r["method"] == row["method"]
            ]
            row[f"speedup_vs_{other}"] = match[0]["time_ms"] / row["time_ms"] if match else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="odenet solver benchmark")
    parser.add_argument("--quick", action="store_true", help="only the two small sizes")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows: list[dict] = []
    for batch, dim in SIZES[:2] if args.quick else SIZES:
        rows += measure(batch, dim, args.repeats)
    add_speedups(rows)
    table = markdown_table(
        rows,
        [
            ("size", "batch×dim", "s"),
            ("method", "method", "s"),
            ("library", "library", "s"),
            ("time_ms", "time (ms)", ".2f"),
            ("nfe", "evals", "d"),
            ("overhead", "overhead", ".2f"),
            ("error", "max error", ".1e"),
            ("speedup_vs_torchdiffeq", "× vs torchdiffeq", ".2f"),
            ("speedup_vs_torchode", "× vs torchode", ".2f"),
        ],
    )
    path = write_results("solvers", rows, table, quick=args.quick)
    print(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
