"""``odenet-train`` reports a ConfigError as one line on stderr and exit status 2, in a
single run and in a multirun (where the other jobs still run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from train_helpers import TINY_MLP


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "odenet.train", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def test_config_error_is_one_line_and_status_2(tmp_path: Path) -> None:
    proc = _run([*TINY_MLP, "seed=abc", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "odenet-train: config error: seed must be an integer; got seed='abc'; pass e.g. seed=0"
    ]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_multirun_runs_the_other_jobs_and_fails(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", *TINY_MLP, "trainer.epochs=1", "solver.rtol=1e-3,-1", f"hydra.sweep.dir={sweep}"]
    proc = _run(args, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "odenet-train finished after epoch 1" in proc.stdout  # job 0 ran
    assert (sweep / "0" / "results.json").is_file() and not (sweep / "1" / "last.ckpt").exists()
    line = (
        "odenet-train: config error: solver.rtol must be a positive number; "
        "got solver.rtol=-1; pass e.g. solver.rtol=1e-3 (smaller: more accurate, more steps)"
    )
    assert proc.stderr.count(line) == 2  # from the job, then from Hydra's summary
    assert "Error executing job with overrides" in proc.stderr
    assert "Traceback" not in proc.stderr
