"""``train(cfg)``: results, files written in the run directory, NFE accounting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from train_helpers import TINY_MLP, TINY_ODENET, compose_cfg

from odenet.train import load_checkpoint, read_metrics, train


def test_tiny_odenet_run_writes_its_files(tmp_path: Path) -> None:
    cfg = compose_cfg([*TINY_ODENET, "trainer.epochs=2"], tmp_path)
    result = train(cfg)
    assert result["epoch"] == 2 and result["epochs_run"] == 2
    assert 0.0 <= result["test_accuracy"] <= 1.0
    # RK4 with one step: four field evaluations per forward, none in the backward (autograd)
    assert result["train_nfe_forward"] == 4 and result["test_nfe_forward"] == 4
    assert result["train_nfe_backward"] == 0
    records = read_metrics(tmp_path)
    assert [r["epoch"] for r in records] == [1, 2]
    assert records[-1]["test_accuracy"] == result["test_accuracy"]
    assert records[1]["train_loss"] < records[0]["train_loss"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["test_loss"] == result["test_loss"]
    assert OmegaConf.load(tmp_path / "config.yaml").model.channels == 4
    ckpt = load_checkpoint(tmp_path / "last.ckpt")
    assert ckpt["epoch"] == 2 and len(ckpt["history"]) == 2
    assert set(ckpt) >= {"model", "optimizer", "scheduler", "rng", "epoch", "history"}


def test_params_count_matches_the_model(tmp_path: Path) -> None:
    cfg = compose_cfg([*TINY_MLP, "trainer.epochs=1"], tmp_path)
    result = train(cfg)
    state = load_checkpoint(tmp_path / "last.ckpt")["model"]
    assert result["params"] == sum(v.numel() for v in state.values())
    assert "test_nfe_forward" not in result  # a ResNet has no ODE block to count


def test_mlp_resnet_separates_two_moons(tmp_path: Path) -> None:
    overrides = [o for o in TINY_MLP if not o.startswith("data")]
    overrides += ["data=two_moons", "data.dataset.n_train=512", "model.width=32"]
    cfg = compose_cfg([*overrides, "trainer.epochs=15", "data.batch_size=64"], tmp_path)
    result = train(cfg)
    # two moons with noise 0.1 are nearly separable: a trained net is far above chance (0.5)
    assert result["test_accuracy"] > 0.95


def test_seed_changes_the_run_and_fixes_it(tmp_path: Path) -> None:
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        cfg = compose_cfg([*TINY_MLP, "trainer.epochs=1", f"seed={seed}"], tmp_path / name)
        train(cfg)
        runs[name] = load_checkpoint(tmp_path / name / "last.ckpt")["model"]
    assert all(torch.equal(runs["a"][k], runs["b"][k]) for k in runs["a"])
    assert not all(torch.equal(runs["a"][k], runs["c"][k]) for k in runs["a"])


def test_tensorboard_scalars_match_metrics_file(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (optional)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(compose_cfg([*TINY_MLP, "trainer.epochs=2", "trainer.tensorboard=true"], tmp_path))
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    logged = [(e.step, e.value) for e in events.Scalars("train_loss")]
    expected = [(r["epoch"], r["train_loss"]) for r in read_metrics(tmp_path)]
    assert [s for s, _ in logged] == [s for s, _ in expected]
    assert [v for _, v in logged] == pytest.approx([v for _, v in expected], rel=1e-6)


def test_mlp_resnet_learns_flattened_digits(tmp_path: Path) -> None:
    """model=mlp_resnet composes with data=digits (images flattened to 64 features)."""
    cfg = compose_cfg(["model=mlp_resnet", "model.depth=4", "trainer.epochs=3"], tmp_path)
    metrics = train(cfg)
    assert metrics["test_accuracy"] > 0.85
