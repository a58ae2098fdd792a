"""Bad configuration values fail before training, naming the key, the value and the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra.errors import InstantiationException, MissingConfigException
from train_helpers import TINY_MLP, compose_cfg

from odenet.train import ConfigError, train


def _fails_before_training(
    overrides: list[str], run_dir: Path, error, pattern: str, base: list[str] = TINY_MLP
) -> str:
    cfg = compose_cfg([*base, *overrides], run_dir)
    with pytest.raises(error, match=pattern) as info:
        train(cfg)
    assert not (run_dir / "last.ckpt").exists() and not (run_dir / "metrics.jsonl").exists()
    return str(info.value)


def test_unknown_solver_name_lists_the_choices(tmp_path: Path) -> None:
    with pytest.raises(MissingConfigException) as info:
        compose_cfg(["solver=rk5"], tmp_path)
    msg = str(info.value)
    assert "solver/rk5" in msg
    for choice in ("euler", "rk4", "dopri5", "tsit5"):
        assert choice in msg


def test_unknown_model_target_lists_the_choices(tmp_path: Path) -> None:
    cfg = compose_cfg(TINY_MLP, tmp_path)
    cfg.model._target_ = "odenet.models.NoSuchNet"
    with pytest.raises(ConfigError) as info:
        train(cfg)
    msg = str(info.value)
    assert "model._target_='odenet.models.NoSuchNet'" in msg
    assert re.search(r"choices: \[.*'mlp_resnet'.*'odenet'", msg)


def test_unknown_solver_target_lists_the_choices(tmp_path: Path) -> None:
    cfg = compose_cfg(TINY_MLP, tmp_path)
    cfg.solver.method._target_ = "odenet.solvers.RK5"
    with pytest.raises(ConfigError, match=r"solver.method._target_='odenet.solvers.RK5'.*rk4"):
        train(cfg)


def test_negative_learning_rate(tmp_path: Path) -> None:
    msg = _fails_before_training(
        ["optim.optimizer.lr=-0.1"], tmp_path, ConfigError, "optim.optimizer.lr"
    )
    assert "must be a positive number; got optim.optimizer.lr=-0.1" in msg


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ("trainer.epochs=0", "trainer.epochs must be a positive integer; got trainer.epochs=0"),
        ("data.batch_size=0", "data.batch_size must be a positive integer"),
        ("trainer.device=gpu0", r"trainer.device must be one of .*'auto'.*got .*'gpu0'"),
        ("solver.steps=-2", "solver.steps must be a positive integer"),
        ("resume=maybe", "resume must be true or false; got resume='maybe'"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, override: str, pattern: str) -> None:
    _fails_before_training([override], tmp_path, ConfigError, pattern)


def test_missing_data_root(tmp_path: Path) -> None:
    msg = _fails_before_training(
        ["data=mnist", f"data.root={tmp_path / 'nowhere'}", "model=odenet"],
        tmp_path / "run",
        ConfigError,
        "data.root=",
        base=[],
    )
    assert "never downloads" in msg and "mnist" in msg


def test_missing_data_file_names_the_expected_files(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train-images-idx3-ubyte").write_bytes(b"")
    msg = _fails_before_training(
        ["data=mnist", f"data.root={tmp_path / 'data'}", "model=odenet"],
        tmp_path / "run",
        InstantiationException,
        "t10k-labels-idx1-ubyte",
        base=[],
    )
    assert "train-labels-idx1-ubyte" in msg and "never downloads" in msg
