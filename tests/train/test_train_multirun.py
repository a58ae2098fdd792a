"""A two-job Hydra multirun from the command line, then ``odenet-sweep-summary``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from train_helpers import TINY_MLP, TINY_ODENET, run_cli

from odenet.train.sweep_summary import collect, summarize


@pytest.mark.slow
def test_two_job_sweep_and_summary(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    args = ["-m", "odenet.train", "-m", "solver=euler,rk4", *TINY_ODENET, "trainer.epochs=1"]
    proc = run_cli([*args, f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert out.count("odenet-train finished after epoch 1") == 2
    assert "it/s]" not in out and "s/it]" not in out  # no progress bar when not a terminal
    summary = run_cli(
        ["-m", "odenet.train.sweep_summary", str(sweep_dir), "--metric", "test_nfe_forward"],
        cwd=tmp_path,
    )
    out, _ = summary.communicate(timeout=120)
    assert summary.returncode == 0, out
    with open(sweep_dir / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    by_solver = {r["solver"]: r for r in rows}
    assert set(by_solver) == {"euler", "rk4"}
    # one step over [0, 1]: Euler evaluates the field once per forward, RK4 four times
    assert float(by_solver["euler"]["test_nfe_forward"]) == 1.0
    assert float(by_solver["rk4"]["test_nfe_forward"]) == 4.0
    md = (sweep_dir / "summary.md").read_text().splitlines()
    assert md[0].startswith("| job | solver |") and len(md) == 4
    assert (sweep_dir / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _fake_job(root: Path, num: int, overrides: list[str], result: str) -> None:
    job = root / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (job / "results.json").write_text(result)


def test_summary_keeps_only_swept_keys_and_checks_arguments(tmp_path: Path) -> None:
    for i, (depth, solver) in enumerate([(4, "euler"), (8, "euler"), (4, "rk4"), (8, "rk4")]):
        acc = 0.5 + depth / 100 + (0.1 if solver == "rk4" else 0)
        result = f'{{"test_accuracy": {acc}, "epoch": 3}}'
        _fake_job(tmp_path, i, [f"model.depth={depth}", f"solver={solver}", "seed=0"], result)
    keys, rows = collect(tmp_path)
    assert keys == ["model.depth", "solver"]  # seed=0 is the same everywhere
    assert len(rows) == 4
    paths = summarize(tmp_path, metric="test_accuracy", x="model.depth")
    with open(paths["csv"]) as f:
        table = list(csv.DictReader(f))
    assert [float(r["test_accuracy"]) for r in table] == pytest.approx([0.54, 0.58, 0.64, 0.68])
    with pytest.raises(ValueError, match=r"--metric='bleu'.*test_accuracy"):
        summarize(tmp_path, metric="bleu")
    with pytest.raises(ValueError, match=r"--x='lr' is not a swept key.*model.depth"):
        summarize(tmp_path, x="lr")
    with pytest.raises(FileNotFoundError, match=r"results\.json"):
        summarize(tmp_path / "empty")


@pytest.mark.slow
def test_parallel_launcher_preset_runs_two_jobs(tmp_path: Path) -> None:
    pytest.importorskip(
        "hydra_plugins.hydra_joblib_launcher",
        reason="hydra-joblib-launcher is not installed (pip install 'odenet[launchers]')",
    )
    sweep_dir = tmp_path / "sweep"
    args = ["-m", "odenet.train", "-m", "hydra/launcher=parallel", "model.depth=1,2"]
    tiny = [o for o in TINY_MLP if not o.startswith("model.depth")]
    proc = run_cli([*args, *tiny, "trainer.epochs=1", f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "Joblib.Parallel" in out  # the joblib launcher, not the basic one, ran the jobs
    keys, rows = collect(sweep_dir)
    assert keys == ["model.depth"] and len(rows) == 2, out
    # depth 2 has one more residual block of width 8 than depth 1
    params = {r["model.depth"]: r["params"] for r in rows}
    assert params["2"] > params["1"]
