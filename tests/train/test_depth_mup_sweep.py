"""Depth-muP in the ResNet family and in ``odenet-train``: the branch multiplier, the
learning-rate groups the training loop builds, a shortened ``experiment=depth_mup_sweep``
multirun and its summary (Yang, Yu, Zhu & Hayou 2023, Tensor Programs VI)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from train_helpers import compose_cfg, run_cli

from odenet.models import ConvResNet, MLPResNet
from odenet.train import ConfigError, train
from odenet.train.loop import _build
from odenet.train.sweep_summary import best_rows, collect, main, summarize

SWEEP = ["experiment=depth_mup_sweep", "trainer.num_threads=1", "model.width=8"]


def _param_ids(params) -> set[int]:
    return {id(p) for p in params}


@pytest.mark.parametrize("depth", [1, 4, 16])
def test_depth_mup_multiplier_and_lr_groups(depth: int) -> None:
    """Every block scale is 1/sqrt(L); Adam: blocks at lr/sqrt(L), stem and head at lr;
    SGD: every lr equal; the groups partition the parameters."""
    net = MLPResNet(8, 3, width=6, depth=depth, parametrisation="depth_mup")
    assert [b.scale for b in net.blocks] == [1.0 / math.sqrt(depth)] * depth
    adam = net.optimizer_param_groups(0.1, "adam")
    sgd = net.optimizer_param_groups(0.1, "sgd")
    assert [g["lr"] for g in adam] == pytest.approx([0.1, 0.1 / math.sqrt(depth)])
    assert [g["lr"] for g in sgd] == [0.1, 0.1]
    assert _param_ids(adam[1]["params"]) == _param_ids(net.blocks.parameters())
    outer = _param_ids(adam[0]["params"])
    assert outer == _param_ids(net.stem.parameters()) | _param_ids(net.head.parameters())
    assert not outer & _param_ids(adam[1]["params"])


def test_conv_resnet_depth_mup_counts_each_stage(tmp_path: Path) -> None:
    """Stages of 4 and 16 blocks: scales 1/2 and 1/4, Adam lrs lr/2 and lr/4, the rest at
    lr; ``odenet-train`` builds the same groups for ``model=conv_resnet``."""
    net = ConvResNet(1, 3, channels=(2, 3), blocks_per_stage=(4, 16), parametrisation="depth_mup")
    assert [{b.scale for b in stage} for stage in net.stages] == [{0.5}, {0.25}]
    groups = net.optimizer_param_groups(0.1, "adam")
    assert [g["lr"] for g in groups] == pytest.approx([0.1, 0.05, 0.025])
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))
    assert _param_ids(groups[2]["params"]) == _param_ids(net.stages[1].parameters())
    assert [b.scale for b in ConvResNet(1, 3, blocks_per_stage=(4, 2)).stages[0]] == [0.25] * 4
    over = ["model=conv_resnet", "model.parametrisation=depth_mup", "optim.optimizer.lr=0.01"]
    state = _build(compose_cfg(over, tmp_path), "cpu")
    assert [g["lr"] for g in state.optimizer.param_groups] == pytest.approx([0.01, 0.01 / 6**0.5])


def test_standard_parametrisation_is_unchanged() -> None:
    """Default scale 1/L, one group of every parameter at the base lr."""
    net = MLPResNet(8, 3, width=6, depth=4)
    assert net.parametrisation == "standard"
    assert [b.scale for b in net.blocks] == [0.25] * 4
    (group,) = net.optimizer_param_groups(0.01, "adam")
    assert group["lr"] == 0.01 and _param_ids(group["params"]) == _param_ids(net.parameters())
    assert [b.scale for b in MLPResNet(8, 3, width=6, depth=4, scale="1").blocks] == [1.0] * 4


def test_depth_mup_rejects_another_scale_and_unknown_names() -> None:
    with pytest.raises(ValueError, match=r"scale='1/L'.*1/sqrt\(L\)"):
        MLPResNet(8, 3, depth=4, scale="1/L", parametrisation="depth_mup")
    with pytest.raises(ValueError, match="parametrisation"):
        MLPResNet(8, 3, depth=4, parametrisation="mup")
    net = MLPResNet(8, 3, depth=4, scale="1/sqrt(L)", parametrisation="depth_mup")
    assert net.blocks[0].scale == 0.5
    for parametrisation in ("standard", "depth_mup"):
        net = MLPResNet(8, 3, depth=4, scale="1/sqrt(L)", parametrisation=parametrisation)
        with pytest.raises(ValueError, match="optimizer"):
            net.optimizer_param_groups(0.1, "lion")
        with pytest.raises(ValueError, match="lr must be > 0"):
            net.optimizer_param_groups(-0.1, "adam")


@pytest.mark.parametrize(("optim", "block_factor"), [("adam", 0.25), ("sgd", 1.0)])
def test_training_builds_depth_mup_optimizer(
    optim: str, block_factor: float, tmp_path: Path
) -> None:
    """``odenet-train`` hands the model's groups to the optimiser: at depth 16 the block
    lr is lr/4 for Adam, lr for SGD; the standard run keeps one group at lr."""
    over = [*SWEEP, f"optim={optim}", "optim.optimizer.lr=0.01", "model.depth=16"]
    mup = _build(compose_cfg([*over, "model.parametrisation=depth_mup"], tmp_path), "cpu")
    assert [g["lr"] for g in mup.optimizer.param_groups] == pytest.approx(
        [0.01, 0.01 * block_factor]
    )
    assert mup.scheduler.base_lrs == pytest.approx([0.01, 0.01 * block_factor])
    std = _build(compose_cfg([*over, "model.parametrisation=standard"], tmp_path), "cpu")
    assert [g["lr"] for g in std.optimizer.param_groups] == [0.01]
    assert [b.scale for b in std.model.blocks] == [1.0] * 16  # the sweep's standard: s = 1


def test_first_adam_step_moves_blocks_by_lr_over_sqrt_depth(tmp_path: Path) -> None:
    """Adam's first step moves each parameter by lr * g / (|g| + eps) ~ lr * sign(g): the
    largest move is lr in the stem and lr / sqrt(16) = lr / 4 in the blocks."""
    over = [*SWEEP, "optim.optimizer.lr=0.01", "model.depth=16", "model.parametrisation=depth_mup"]
    state = _build(compose_cfg(over, tmp_path), "cpu")
    model = state.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model(torch.randn(32, 64)).logsumexp(1).mean().backward()
    state.optimizer.step()
    moves = {n: (p.detach() - before[n]).abs().max().item() for n, p in model.named_parameters()}
    assert moves["stem.weight"] == pytest.approx(0.01, rel=1e-3)
    assert moves["blocks.5.branch.1.weight"] == pytest.approx(0.0025, rel=1e-3)


def test_depth_mup_rule_needs_sgd_or_adam(tmp_path: Path) -> None:
    over = [*SWEEP, "model.parametrisation=depth_mup", "+optim.optimizer.alpha=0.99"]
    cfg = compose_cfg([*over, "optim.optimizer._target_=torch.optim.RMSprop"], tmp_path)
    with pytest.raises(ConfigError, match=r"SGD and Adam.*RMSprop"):
        _build(cfg, "cpu")


def test_diverged_run_stops_with_infinite_loss(tmp_path: Path) -> None:
    over = [*SWEEP, "model.depth=8", "optim.optimizer.lr=1.0e4", "trainer.epochs=3"]
    result = train(compose_cfg(over, tmp_path))
    assert result["diverged"] is True and result["train_loss"] == math.inf
    assert result["epoch"] == 1 and result["epochs_run"] == 0
    with pytest.raises(FloatingPointError, match=r"optim\.optimizer\.lr"):
        train(compose_cfg([*over, "trainer.on_nonfinite_loss=raise"], tmp_path / "raise"))
    with pytest.raises(ConfigError, match="on_nonfinite_loss"):
        train(compose_cfg([*over, "trainer.on_nonfinite_loss=skip"], tmp_path / "bad"))


def test_best_rows_ignore_diverged_runs() -> None:
    rows = [
        {"depth": "4", "lr": "0.1", "train_loss": math.inf},
        {"depth": "4", "lr": "0.01", "train_loss": 0.3},
        {"depth": "4", "lr": "0.001", "train_loss": 0.5},
        {"depth": "16", "lr": "0.1", "train_loss": 0.2},
        {"depth": "16", "lr": "0.01", "train_loss": 0.1},
    ]
    best = best_rows(rows, "lr", "train_loss", ["depth", "lr"], "min")
    assert [(r["depth"], r["lr"]) for r in best] == [("4", "0.01"), ("16", "0.01")]
    worst = best_rows(rows, "lr", "train_loss", ["depth", "lr"], "max")
    assert [r["lr"] for r in worst] == ["0.001", "0.1"]


def test_short_depth_mup_multirun_and_summary(tmp_path: Path) -> None:
    """2 depths x 2 lrs x 2 parametrisations, one epoch each, with the basic launcher; the
    summary writes a CSV with 8 rows, a two-panel PNG and the best lr per line."""
    sweep_dir = tmp_path / "sweep"
    args = [
        "-m", "odenet.train", "-m", *SWEEP, "model.depth=2,8", "optim.optimizer.lr=1.0e-3,1.0e4",
        "model.parametrisation=standard,depth_mup", "trainer.epochs=1",
        f"hydra.sweep.dir={sweep_dir}",
    ]  # fmt: skip
    proc = run_cli(args, cwd=tmp_path)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert out.count("odenet-train finished after epoch 1") >= 4, out
    keys, rows = collect(sweep_dir)
    assert keys == ["model.depth", "optim.optimizer.lr", "model.parametrisation"]
    assert len(rows) == 8
    plot_args = ["--panels", "model.parametrisation", "--logx", "--logy", "--best", "min"]
    main([str(sweep_dir), "--x", "optim.optimizer.lr", "--metric", "train_loss", *plot_args])
    with open(sweep_dir / "summary.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 8 and all(r["train_loss"] for r in table)
    assert (sweep_dir / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = (sweep_dir / "summary_best.md").read_text().splitlines()[2:]
    assert len(best) == 4 and all("| 0.001 |" in line for line in best), best
    with pytest.raises(ValueError, match="--panels='seed'"):
        summarize(sweep_dir, "train_loss", "optim.optimizer.lr", panels="seed")
