"""odenet-convert: from an odenet-train run (or checkpoint + model + data) to a converted
checkpoint and report; the converted model (Euler, L steps) scores as the original."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module

import odenet.train  # noqa: F401  (registers the odenet.* resolvers)
from odenet.convert.run import convert_run, load_converted
from odenet.errors import ConfigError
from odenet.train import train

TINY_MLP = [
    "data=annuli",
    "model=mlp_resnet",
    "model.width=8",
    "model.depth=4",
    "data.dataset.n_train=128",
    "data.dataset.n_test=64",
    "data.batch_size=32",
    "trainer.epochs=1",
    "trainer.num_threads=1",
    "trainer.tensorboard=false",
]


def _compose(name: str, overrides: list[str]):
    with initialize_config_module(config_module="odenet.conf", version_base="1.3"):
        return compose(name, overrides=overrides)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("run")
    threads = torch.get_num_threads()
    try:
        train(_compose("config", [*TINY_MLP, f"run_dir={run}"]))
    finally:
        torch.set_num_threads(threads)
    return run


def test_convert_a_training_run(run_dir: Path, tmp_path: Path) -> None:
    summary = convert_run(_compose("convert", [f"run_dir={run_dir}", f"out_dir={tmp_path}"]))
    assert summary["stages"] == {"blocks.0": 4}
    orig, conv = summary["original"], summary["converted"]
    assert conv["loss"] == pytest.approx(orig["loss"], rel=1e-5)
    assert conv["accuracy"] == orig["accuracy"]
    for name in ("converted.ckpt", "convert.json", "report.json", "depth.png", "schemes.png"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "convert.json").read_text())["stages"] == {"blocks.0": 4}
    # the written checkpoint rebuilds the converted model, which equals the trained ResNet
    converted = load_converted(tmp_path / "converted.ckpt")
    resnet = _compose("config", [*TINY_MLP, f"run_dir={run_dir}"])
    from hydra.utils import instantiate

    model = instantiate(resnet.model)
    model.load_state_dict(torch.load(run_dir / "last.ckpt", weights_only=True)["model"])
    model.eval()
    x = torch.randn(16, 2)
    assert torch.allclose(converted(x), model(x), rtol=0, atol=1e-5)


def test_convert_a_state_dict_with_model_and_data(run_dir: Path, tmp_path: Path) -> None:
    weights = tmp_path / "weights.pt"
    torch.save(torch.load(run_dir / "last.ckpt", weights_only=True)["model"], weights)
    overrides = [
        f"checkpoint={weights}",
        "model=mlp_resnet",
        "data=annuli",
        "model.width=8",
        "model.depth=4",
        "data.dataset.n_test=64",
        "interpolation=cubic",
        f"out_dir={tmp_path}",
    ]
    summary = convert_run(_compose("convert", overrides))
    assert summary["converted"]["loss"] == pytest.approx(summary["original"]["loss"], rel=1e-5)


def test_missing_inputs_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no model config"):
        convert_run(_compose("convert", [f"out_dir={tmp_path}"]))
    with pytest.raises(ConfigError, match=r"has no config\.yaml"):
        convert_run(_compose("convert", [f"run_dir={tmp_path}", f"out_dir={tmp_path}"]))


def test_command_line(run_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [f"run_dir={run_dir}", f"out_dir={tmp_path}", f"hydra.run.dir={tmp_path}/hydra"]
    script = Path(sys.executable).with_name("odenet-convert")  # pyproject's console script
    command = [str(script)] if script.exists() else [sys.executable, "-m", "odenet.convert.cli"]
    print(f"running {command[0]}")
    done = subprocess.run(
        [*command, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "odenet-convert: stages {'blocks.0': 4}" in done.stdout
    assert (tmp_path / "converted.ckpt").is_file()
