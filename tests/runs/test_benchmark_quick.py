"""``--quick`` benchmark runs never overwrite the committed results in benchmarks/results."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def common(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    spec = importlib.util.spec_from_file_location("bench_common", BENCHMARKS / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(module, "QUICK_RESULTS", tmp_path / "results" / "quick")
    return module


def test_quick_results_go_elsewhere(common, tmp_path: Path) -> None:
    full = common.write_results("solvers", [{"a": 1}], "| a |")
    quick = common.write_results("solvers", [{"a": 2}], "| a |", quick=True)
    assert full == tmp_path / "results" / "solvers.json"
    assert quick == tmp_path / "results" / "quick" / "solvers.json"
    assert json.loads(full.read_text())["rows"] == [{"a": 1}]  # untouched by the quick run


@pytest.mark.parametrize("name", ["solvers", "gradients", "batched"])
def test_every_benchmark_passes_quick_on(name: str) -> None:
    source = (BENCHMARKS / f"{name}.py").read_text()
    assert f'write_results("{name}", rows, table, quick=args.quick)' in source
    assert "--quick" in source


def test_quick_folder_is_git_ignored() -> None:
    ignore = (BENCHMARKS.parent / ".gitignore").read_text().splitlines()
    assert "benchmarks/results/quick/" in ignore
