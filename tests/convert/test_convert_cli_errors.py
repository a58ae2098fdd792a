"""``odenet-convert``: every failure a user causes is one line on stderr and status 2 (run
in this process through the console entry ``main``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

import odenet.train  # noqa: F401  (registers the odenet.* resolvers)
from odenet.convert.cli import main
from odenet.convert.run import load_converted
from odenet.errors import ConfigError
from odenet.runs import save_checkpoint

WIDTH8 = ["data=annuli", "model=mlp_resnet", "model.width=8", "model.depth=2"]


def _fake_run(folder: Path, overrides: list[str]) -> Path:
    """A run directory (config.yaml + last.ckpt of the untrained model) without training."""
    with initialize_config_module(config_module="odenet.conf", version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, f"run_dir={folder}"])
    folder.mkdir(parents=True, exist_ok=True)
    if "n_test" in cfg.data.dataset:
        cfg.data.dataset.n_test = 32
    OmegaConf.save(cfg, folder / "config.yaml", resolve=True)
    model = instantiate(cfg.model)
    save_checkpoint({"model": model.state_dict()}, folder / "last.ckpt")
    return folder


@pytest.fixture
def cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """``cli(args) -> (status, stdout, stderr)`` of ``odenet-convert <args>``."""
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)

    def run(args: list[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["odenet-convert", *args])
        try:
            main()
            status = 0
        except SystemExit as exc:
            status = exc.code
        out, err = capsys.readouterr()
        return status, out, err

    return run


def _one_line(status: int, err: str, start: str) -> str:
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(start), lines[0]
    return lines[0]


def test_no_run_dir(cli, tmp_path: Path) -> None:
    status, _, err = cli([f"hydra.run.dir={tmp_path}"])
    line = _one_line(status, err, "odenet-convert: config error: no model config")
    assert "run_dir=<an odenet-train run>" in line


def test_missing_run_dir(cli, tmp_path: Path) -> None:
    status, _, err = cli([f"run_dir={tmp_path / 'nowhere'}", f"hydra.run.dir={tmp_path}"])
    line = _one_line(status, err, "odenet-convert: config error: run_dir=")
    assert "does not exist" in line


def test_run_that_holds_no_resnet(cli, tmp_path: Path) -> None:
    run = _fake_run(tmp_path / "run", ["model=odenet", "model.channels=4"])
    status, _, err = cli([f"run_dir={run}", f"hydra.run.dir={tmp_path / 'out'}"])
    line = _one_line(status, err, f"odenet-convert: config error: run_dir={run} holds a ODENet")
    assert "converts ResNets" in line


def test_bad_interpolation(cli, tmp_path: Path) -> None:
    run = _fake_run(tmp_path / "run", WIDTH8)
    args = [f"run_dir={run}", "interpolation=quadratic", f"hydra.run.dir={tmp_path / 'o'}"]
    status, _, err = cli(args)
    line = _one_line(status, err, "odenet-convert: config error: interpolation must be one of")
    assert "got interpolation='quadratic'" in line


def test_checkpoint_of_another_model(cli, tmp_path: Path) -> None:
    run = _fake_run(tmp_path / "run", WIDTH8)
    other = _fake_run(tmp_path / "other", [*WIDTH8[:2], "model.width=16", "model.depth=2"])
    args = [f"run_dir={run}", f"checkpoint={other / 'last.ckpt'}", f"hydra.run.dir={tmp_path}"]
    status, _, err = cli(args)
    line = _one_line(status, err, "odenet-convert: checkpoint error: ")
    assert "does not fit the MLPResNet" in line and "(16, 2) in the checkpoint" in line


def test_unreadable_checkpoint(cli, tmp_path: Path) -> None:
    run = _fake_run(tmp_path / "run", WIDTH8)
    (run / "last.ckpt").write_bytes(b"")
    status, _, err = cli([f"run_dir={run}", f"hydra.run.dir={tmp_path / 'o'}"])
    assert "last.ckpt is empty" in _one_line(status, err, "odenet-convert: checkpoint error: ")


def test_mistyped_key(cli, tmp_path: Path) -> None:
    status, _, err = cli(["interpolaton=cubic", f"hydra.run.dir={tmp_path}"])
    line = _one_line(status, err, "odenet-convert: config error: unknown key 'interpolaton'")
    assert "did you mean 'interpolation'?" in line


def test_crafted_config_target_is_refused(cli, tmp_path: Path) -> None:
    """A run's config.yaml is loaded: its _target_s may only name model/data classes."""
    marker = tmp_path / "marker"
    run = _fake_run(tmp_path / "run", WIDTH8)
    cfg = OmegaConf.load(run / "config.yaml")
    cfg.model = {"_target_": "builtins.exec", "_args_": [f"open({str(marker)!r}, 'w')"]}
    OmegaConf.save(cfg, run / "config.yaml")
    status, _, err = cli([f"run_dir={run}", f"hydra.run.dir={tmp_path / 'o'}"])
    line = _one_line(status, err, "odenet-convert: config error: ")
    assert "model._target_='builtins.exec' is refused" in line
    for sneaky in ("odenet.train.loop.os.system", "torch.nn.functional.torch.load"):
        cfg.model = {"_target_": sneaky, "_args_": ["x"]}
        OmegaConf.save(cfg, run / "config.yaml")
        status, _, err = cli([f"run_dir={run}", f"hydra.run.dir={tmp_path / 'o'}"])
        assert f"model._target_={sneaky!r} is refused" in _one_line(status, err, "odenet-convert")
    assert not marker.exists()


def test_converted_checkpoint_with_a_crafted_target(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    target = {"_target_": "builtins.exec", "_args_": [f"open({str(marker)!r}, 'w')"]}
    state = {"model": {}, "model_config": target, "interpolation": "linear", "method": "euler"}
    torch.save(state, tmp_path / "converted.ckpt")
    with pytest.raises(ConfigError, match=r"model\._target_='builtins\.exec' is refused"):
        load_converted(tmp_path / "converted.ckpt")
    assert not marker.exists()
