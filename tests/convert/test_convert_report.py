"""report(): closed-form smoothness, scheme evaluation counts, Euler-L equals the original,
JSON/PNG output and the printed table."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from odenet.convert import DEFAULT_SCHEMES, Scheme, report
from odenet.convert import report_plots as plots_module
from odenet.models import MLPResNet, ResidualBlock


def _linear_growth_net(depth: int) -> nn.Sequential:
    """Blocks with theta_k = (1 + k) theta_0: relative changes 1 / (1 + k)."""
    torch.manual_seed(0)
    base = nn.Linear(3, 3)
    blocks = []
    for k in range(depth):
        lin = nn.Linear(3, 3)
        with torch.no_grad():
            lin.weight.copy_((1 + k) * base.weight)
            lin.bias.copy_((1 + k) * base.bias)
        blocks.append(ResidualBlock(nn.Sequential(lin, nn.Tanh()), scale=1.0 / depth))
    return nn.Sequential(*blocks).eval()


def test_smoothness_closed_form() -> None:
    model = _linear_growth_net(6)
    x, y = torch.randn(20, 3), torch.randn(20, 3)
    rep = report(model, (x, y), schemes=DEFAULT_SCHEMES[:1], show=False)
    (stage,) = rep.stages
    assert stage.num_blocks == 6 and stage.rule == "ResidualBlock"
    assert stage.relative_changes == pytest.approx([1 / (1 + k) for k in range(5)], rel=1e-6)
    assert stage.max_relative_change == pytest.approx(1.0, rel=1e-6)
    assert stage.mean_relative_change == pytest.approx(sum(1 / (1 + k) for k in range(5)) / 5)
    norm0 = stage.parameter_norms[0]
    assert stage.parameter_norms == pytest.approx([(1 + k) * norm0 for k in range(6)], rel=1e-6)
    assert rep.original.accuracy is None  # float targets: regression, MSE only


def test_schemes_counts_and_exact_euler(tmp_path, capsys) -> None:
    torch.manual_seed(1)
    depth = 16
    model = MLPResNet(5, 3, width=8, depth=depth, init="smooth").eval()
    x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    rep = report(model, (x, y), out_dir=tmp_path, batch_size=32)
    by = {r.label: r for r in rep.schemes}
    assert by["euler L"].loss == pytest.approx(rep.original.loss, rel=1e-5)
    assert by["euler L"].accuracy == rep.original.accuracy
    assert [by[k].nfe for k in ("euler L", "euler 2L", "heun L/2", "rk4 L/4", "rk4 L/8")] == [
        depth,
        2 * depth,
        depth,
        depth,
        depth / 2,
    ]
    assert by["dopri5"].nfe >= 6
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["interpolation"] == "linear"
    assert [s["label"] for s in data["schemes"]] == [s.label for s in DEFAULT_SCHEMES]
    assert (tmp_path / "depth.png").stat().st_size > 0
    assert (tmp_path / "schemes.png").stat().st_size > 0
    out = capsys.readouterr().out
    assert "blocks.0" in out and "rk4 L/4" in out and "accuracy" in out


def test_without_matplotlib_plots_are_skipped(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(plots_module, "_pyplot", lambda: None)
    model = _linear_growth_net(3)
    report(model, (torch.randn(4, 3), torch.randn(4, 3)), schemes=[Scheme("e", "euler")],
           out_dir=tmp_path, show=False)  # fmt: skip
    assert "matplotlib is not installed" in capsys.readouterr().out
    assert (tmp_path / "report.json").exists() and not (tmp_path / "depth.png").exists()


def test_report_errors() -> None:
    model = _linear_growth_net(3)
    with pytest.raises(ValueError, match="as many inputs as targets"):
        report(model, (torch.randn(4, 3), torch.randn(5, 3)), show=False)
    with pytest.raises(ValueError, match="needs steps_per_block"):
        report(model, (torch.randn(4, 3), torch.randn(4, 3)), schemes=[Scheme("x", "rk4", None)])
    with pytest.raises(ValueError, match="eval mode"):
        report(model.train(), (torch.randn(4, 3), torch.randn(4, 3)))


def test_short_stage_rows_show_actual_steps_and_skip_duplicates(capsys) -> None:
    # L = 3: rk4 L/4 and rk4 L/8 both take max(1, round(3/4 or 3/8)) = 1 step
    model = _linear_growth_net(3)
    rep = report(model, (torch.randn(8, 3), torch.randn(8, 3)))
    labels = [r.label for r in rep.schemes]
    assert labels == ["euler L", "euler 2L", "heun L/2", "rk4 L/4", "dopri5"]
    steps = {r.label: r.steps for r in rep.schemes}
    assert steps == {
        "euler L": [3],
        "euler 2L": [6],
        "heun L/2": [2],
        "rk4 L/4": [1],
        "dopri5": None,
    }
    assert rep.skipped == ["rk4 L/8 = rk4 L/4"]
    assert rep.original.steps == [3]
    # nfe = stages' steps times stages per step (rk4: 4 evaluations for its one step)
    assert {r.label: r.nfe for r in rep.schemes if r.steps} == {
        "euler L": 3,
        "euler 2L": 6,
        "heun L/2": 4,
        "rk4 L/4": 4,
    }
    out = capsys.readouterr().out
    assert "rk4 L/8 = rk4 L/4" in out and "adaptive" in out
