"""``trainer=ddp`` under torchrun with 2 CPU processes (gloo) against one process over the
same global batches: the losses and the final weights agree to float32 rounding."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_helpers import TINY_MLP, compose_cfg, run_cli, without_times

from odenet.train import load_checkpoint, read_metrics, train


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path: Path) -> None:
    overrides = [*TINY_MLP, "trainer.epochs=2", "data.batch_size=32"]
    ddp_dir = tmp_path / "ddp"
    args = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    args += ["-m", "odenet.train", "trainer=ddp", "trainer.device=cpu", *overrides]
    proc = run_cli([*args, f"hydra.run.dir={ddp_dir}"], cwd=tmp_path)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert out.count("odenet-train finished") == 1  # only rank 0 reports
    train(compose_cfg(overrides, tmp_path / "single"))
    ddp = without_times(read_metrics(ddp_dir))
    single = without_times(read_metrics(tmp_path / "single"))
    assert [r["epoch"] for r in ddp] == [1, 2]
    for a, b in zip(ddp, single, strict=True):
        print({k: (a[k], b[k]) for k in ("train_loss", "test_loss", "test_accuracy")})
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key
    w_ddp = load_checkpoint(ddp_dir / "last.ckpt")["model"]
    w_single = load_checkpoint(tmp_path / "single" / "last.ckpt")["model"]
    for key, value in w_single.items():
        torch.testing.assert_close(w_ddp[key], value, rtol=1e-4, atol=1e-5)
