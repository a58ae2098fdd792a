"""Exact resume: a run stopped after epoch k and resumed ends bitwise equal to an
uninterrupted run (CPU), including after a SIGKILL at a random point."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
import torch
from train_helpers import (
    TINY_MLP,
    TINY_ODENET,
    assert_state_dicts_equal,
    compose_cfg,
    run_cli,
    without_times,
)

from odenet.train import load_checkpoint, read_metrics, train


@pytest.mark.parametrize("tiny", [TINY_MLP, TINY_ODENET], ids=["mlp_resnet", "odenet"])
def test_stop_and_resume_is_bitwise_equal(tmp_path: Path, tiny: list[str]) -> None:
    extra = (
        ["trainer.epochs=3", "+model.stochastic_depth=0.3"]
        if tiny is TINY_MLP
        else ["trainer.epochs=3"]
    )
    train(compose_cfg([*tiny, *extra], tmp_path / "full"))
    for _ in range(3):  # one epoch per invocation, each resuming from last.ckpt
        result = train(
            compose_cfg([*tiny, *extra, "trainer.max_epochs_per_run=1"], tmp_path / "parts")
        )
        assert result["epochs_run"] == 1
    full = load_checkpoint(tmp_path / "full" / "last.ckpt")
    parts = load_checkpoint(tmp_path / "parts" / "last.ckpt")
    assert_state_dicts_equal(full["model"], parts["model"])
    for a, b in zip(
        full["optimizer"]["state"].values(), parts["optimizer"]["state"].values(), strict=True
    ):
        assert_state_dicts_equal(a, b)
    assert full["scheduler"] == parts["scheduler"]
    assert without_times(full["history"]) == without_times(parts["history"])
    assert without_times(read_metrics(tmp_path / "parts")) == without_times(full["history"])


def test_resume_false_starts_again(tmp_path: Path) -> None:
    train(compose_cfg([*TINY_MLP, "trainer.epochs=2"], tmp_path))
    result = train(compose_cfg([*TINY_MLP, "trainer.epochs=2", "resume=false"], tmp_path))
    assert result["epochs_run"] == 2 and len(read_metrics(tmp_path)) == 2
    result = train(compose_cfg([*TINY_MLP, "trainer.epochs=2"], tmp_path))
    assert result["epochs_run"] == 0  # already complete: nothing to do


@pytest.mark.slow
def test_sigkill_at_a_random_point_then_resume(tmp_path: Path) -> None:
    """Kill ``python -m odenet.train`` at a random moment after its first checkpoint, re-run
    the same command, and compare with an uninterrupted run in this process."""
    seed = random.SystemRandom().randrange(10**6)  # train() reseeds the global generator
    rng = random.Random(seed)
    print(f"kill-point seed: {seed}")
    overrides = [*TINY_MLP, "trainer.epochs=40", "data.dataset.n_train=1024"]
    run_dir = tmp_path / "killed"
    args = ["-m", "odenet.train", *overrides, f"hydra.run.dir={run_dir}"]
    proc = run_cli(args, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not (run_dir / "metrics.jsonl").exists() or not (run_dir / "last.ckpt").exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 1.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_after = load_checkpoint(run_dir / "last.ckpt")["epoch"]
    print(f"killed after epoch {killed_after} (exit code {proc.returncode})")
    rerun = run_cli(args, cwd=tmp_path)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out
    assert "finished after epoch 40" in out
    train(compose_cfg(overrides, tmp_path / "reference"))
    resumed = load_checkpoint(run_dir / "last.ckpt")
    reference = load_checkpoint(tmp_path / "reference" / "last.ckpt")
    assert_state_dicts_equal(reference["model"], resumed["model"])
    assert without_times(resumed["history"]) == without_times(reference["history"])
    assert [r["epoch"] for r in read_metrics(run_dir)] == list(range(1, 41))


_WRITER = """
import sys, torch
from odenet.train.checkpoint import save_checkpoint
path = sys.argv[1]
version = 0
while True:
    version += 1
    save_checkpoint({"version": version, "payload": torch.full((500_000,), float(version))}, path)
    print(version, flush=True)
"""


@pytest.mark.slow
def test_atomic_write_survives_a_kill_mid_write(tmp_path: Path) -> None:
    """A writer overwrites a 2 MB checkpoint in a loop and is killed at a random moment:
    the file on disk is always one complete version, never a torn one."""
    seed = random.SystemRandom().randrange(10**6)  # train() reseeds the global generator
    print(f"kill-point seed: {seed}")
    rng = random.Random(seed)
    path = tmp_path / "last.ckpt"
    for _ in range(3):
        proc = run_cli(["-c", _WRITER, str(path)], cwd=tmp_path)
        first = proc.stdout.readline()  # at least one complete version exists
        assert first.strip(), "writer did not start"
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = load_checkpoint(path)
        assert state["version"] >= 1
        assert torch.equal(state["payload"], torch.full((500_000,), float(state["version"])))
    from odenet.train.checkpoint import remove_stale_temporaries

    remove_stale_temporaries(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_stale_temporaries_are_removed_on_start(tmp_path: Path) -> None:
    (tmp_path / ".tmp-last.ckptabc").write_bytes(b"torn")
    train(compose_cfg([*TINY_MLP, "trainer.epochs=1"], tmp_path))
    assert not list(tmp_path.glob(".tmp-*"))
