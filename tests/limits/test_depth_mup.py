"""Depth-muP (Yang et al. 2023): parameter groups, the Theta(1)-in-depth one-step feature
update that defines it, and a shortened lr x depth sweep on digits."""

from __future__ import annotations

import math

import pytest
import torch

from odenet.limits.depth_mup import (
    build_mlp_resnet,
    hidden_lr_multiplier,
    make_optimizer,
    param_groups,
)
from odenet.limits.lr_sweep import RunConfig, run_lr_sweep


def test_param_groups_follow_the_rule() -> None:
    model = build_mlp_resnet(8, 3, width=16, depth=16, parametrisation="depth_mup")
    groups = param_groups(model, 0.1, optimizer="adam", parametrisation="depth_mup")
    assert [g["name"] for g in groups] == ["input_output", "hidden_blocks"]
    assert groups[0]["lr"] == 0.1 and groups[1]["lr"] == pytest.approx(0.1 / 4)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())  # each exactly once
    assert len(groups[1]["params"]) == 2 * 16  # one weight + bias per block
    sgd = param_groups(model, 0.1, optimizer="sgd", parametrisation="depth_mup")
    assert sgd[1]["lr"] == 0.1
    assert hidden_lr_multiplier(64, "adam", "standard") == 1.0
    assert hidden_lr_multiplier(64, "adam") == 0.125


def test_wrong_branch_multiplier_is_named() -> None:
    standard = build_mlp_resnet(8, 3, width=16, depth=4, parametrisation="standard")
    with pytest.raises(ValueError, match=r"scale=\"1/sqrt\(L\)\""):
        param_groups(standard, 0.1, optimizer="adam", parametrisation="depth_mup")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        param_groups(standard, 0.1, optimizer="lion", parametrisation="standard")
    with pytest.raises(TypeError, match="blocks"):
        param_groups(torch.nn.Linear(2, 2), 0.1, optimizer="sgd", parametrisation="standard")


def _relative_feature_update(depth: int, parametrisation: str, optimizer: str, lr: float) -> float:
    """||h_1 - h_0|| / ||h_0|| for the features h = blocks(stem(x)) after one step."""
    torch.manual_seed(0)
    model = build_mlp_resnet(16, 4, width=64, depth=depth, parametrisation=parametrisation)
    model = model.double()
    x, y = torch.randn(64, 16, dtype=torch.float64), torch.randn(64, 4, dtype=torch.float64)
    opt = make_optimizer(model, lr, optimizer=optimizer, parametrisation=parametrisation)
    with torch.no_grad():
        h0 = model.blocks(model.stem(x))
    ((model(x) - y) ** 2).mean().backward()
    opt.step()
    with torch.no_grad():
        return float((model.blocks(model.stem(x)) - h0).norm() / h0.norm())


def _depth_exponent(parametrisation: str, optimizer: str, lr: float) -> float:
    """Least-squares slope of log(feature update) against log(L) over L = 4, 16, 64."""
    depths = (4, 16, 64)
    ys = [math.log(_relative_feature_update(d, parametrisation, optimizer, lr)) for d in depths]
    xs = [math.log(d) for d in depths]
    xm, ym = sum(xs) / 3, sum(ys) / 3
    num = sum((x - xm) * (y - ym) for x, y in zip(xs, ys, strict=True))
    return num / sum((x - xm) ** 2 for x in xs)


@pytest.mark.parametrize(("optimizer", "lr"), [("adam", 1e-3), ("sgd", 1e-2)])
def test_one_step_feature_update_is_depth_independent(optimizer: str, lr: float) -> None:
    """Depth-muP's defining property: the feature change after one step is Theta(1) in L,
    i.e. its depth exponent is ~0 (measured: Adam 0.06, SGD 0.21 over L = 4..64; band
    |alpha| < 0.3). The standard parametrisation grows like L^alpha with alpha >= 0.85
    (Adam; SGD explodes)."""
    mup = _depth_exponent("depth_mup", optimizer, lr)
    std = _depth_exponent("standard", optimizer, lr)
    print(f"{optimizer}: depth exponent depth_mup {mup:.3f}, standard {std:.3f}")
    assert abs(mup) < 0.3
    assert std > 0.7


def test_adam_needs_the_lr_scaling() -> None:
    """With the 1/sqrt(L) multiplier but Adam's lr not divided by sqrt(L), one step moves the
    features by ~L^{1/2} (each block's update is O(lr) whatever its gradient scale): from
    L = 4 to L = 64 the ratio must lie in [16^0.3, 16^0.7] = [2.3, 7.0] (theory: 4)."""
    ratios = []
    for depth in (4, 64):
        torch.manual_seed(0)
        model = build_mlp_resnet(16, 4, width=64, depth=depth, parametrisation="depth_mup")
        model = model.double()
        x, y = torch.randn(64, 16, dtype=torch.float64), torch.randn(64, 4, dtype=torch.float64)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)  # no depth scaling
        with torch.no_grad():
            h0 = model.blocks(model.stem(x))
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
        with torch.no_grad():
            ratios.append(float((model.blocks(model.stem(x)) - h0).norm() / h0.norm()))
    print(f"multiplier-only Adam: update ratio L=64 / L=4 = {ratios[1] / ratios[0]:.2f}")
    assert 16**0.3 < ratios[1] / ratios[0] < 16**0.7


def test_short_sweep_optimum_transfers_under_depth_mup_only() -> None:
    """Shortened sweep (depths 2 and 16, lr grid 2^-11..2^-3 in factors of 4, 50 Adam steps,
    width 32). Depth-muP: the optimal lr moves by at most one grid point (4x) between the
    depths. Standard: the optimum at L = 16 is at least 4x smaller than at L = 2. Both
    train (best average loss < 1.0, from ln 10 = 2.30 at init)."""
    lrs = [2.0**k for k in (-11, -9, -7, -5, -3)]
    result = run_lr_sweep([2, 16], lrs, cfg=RunConfig(width=32, steps=50), verbose=True)
    print(result.table())
    for p in ("standard", "depth_mup"):
        for d in (2, 16):
            assert min(result.losses[(p, d)]) < 1.0
    mup = [math.log2(result.optimal_lr("depth_mup", d)) for d in (2, 16)]
    std = [math.log2(result.optimal_lr("standard", d)) for d in (2, 16)]
    assert abs(mup[1] - mup[0]) <= 2
    assert std[1] <= std[0] - 2
