"""The science of issue 7, shortened (examples/resnet_to_ode.py on sklearn's digits):
trained from a smooth initialisation, MLP ResNets with scale 1/L keep weights smooth along
depth (delta ~ 1/L) and their converted ODE is indifferent to the scheme; from iid weights
delta stays at sqrt(2) (Marion et al. 2024; Sander et al. 2022)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "resnet_to_ode.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_resnet_to_ode", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


def _rows(tmp_path: Path, depths: list[int], epochs: int) -> dict:
    ex = _example()
    argv = ["--depths", *map(str, depths), "--epochs", str(epochs), "--out", str(tmp_path)]
    threads = torch.get_num_threads()
    try:
        return {(r.init, r.depth): r for r in ex.main(argv)}
    finally:
        torch.set_num_threads(threads)  # the example sets 1 thread


def test_smoothness_and_scheme_indifference_shortened(tmp_path: Path) -> None:
    rows = _rows(tmp_path, [8, 32], epochs=4)
    # iid: consecutive blocks are independent draws, ||a - b|| / ||a|| -> sqrt(2)
    for depth in (8, 32):
        assert abs(rows["iid", depth].mean_delta - math.sqrt(2)) < 0.1
    # smooth: delta ~ 1/L (4x the depth, at least 3x smaller)
    assert rows["smooth", 32].mean_delta < rows["smooth", 8].mean_delta / 3
    assert rows["smooth", 32].mean_delta < rows["iid", 32].mean_delta / 5
    # the smooth network's ODE gives the same accuracy under every scheme (1 point) ...
    smooth = rows["smooth", 32]
    for label, acc in smooth.accuracy_by_scheme.items():
        assert abs(acc - smooth.accuracy) <= 1.0, label
    assert smooth.nfe_by_scheme["rk4 L/8"] == 16  # fewer evaluations than L = 32
    # ... and the iid one is a rougher field: dopri5 needs far more evaluations
    assert rows["iid", 32].nfe_by_scheme["dopri5"] > 2 * smooth.nfe_by_scheme["dopri5"]
    assert (tmp_path / "resnet_to_ode.md").read_text().count("\n") == 6


@pytest.mark.slow
def test_iid_loses_accuracy_under_rk4_smooth_does_not(tmp_path: Path) -> None:
    rows = _rows(tmp_path, [32], epochs=30)
    smooth, iid = rows["smooth", 32], rows["iid", 32]
    assert smooth.accuracy > 85 and iid.accuracy > 85
    assert smooth.accuracy - smooth.accuracy_by_scheme["rk4 L/8"] <= 1.0
    assert iid.accuracy - iid.accuracy_by_scheme["rk4 L/8"] >= 2.0
