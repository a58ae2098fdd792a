"""Config checks before training: solver settings and seed, model/data fit, resume settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader
from train_helpers import TINY_MLP, compose_cfg

from odenet.data import DataSplits
from odenet.train import (
    ConfigError,
    load_checkpoint,
    read_metrics,
    save_checkpoint,
    train,
    validate_config,
)
from odenet.train.compat import _packaged, group_choices, models_for
from odenet.train.loop import _check_data
from odenet.train.objectives import objective_for

LOCAL_DATA = [d for d in group_choices("data") if "root" not in _packaged("data", d)]


def _config_error(overrides: list[str], run_dir: Path, base: list[str] = TINY_MLP) -> str:
    cfg = compose_cfg([*base, *overrides], run_dir)
    with pytest.raises(ConfigError) as info:
        train(cfg)
    assert not (run_dir / "last.ckpt").exists() and not (run_dir / "config.yaml").exists()
    return str(info.value)


CASES = [
    ("solver=dopri5 solver.rtol=-1", "solver.rtol must be a positive number; got solver.rtol=-1"),
    ("solver=dopri5 solver.atol=0", "solver.atol must be a positive number; got solver.atol=0"),
    ("solver=dopri5 solver.atol=-1e-6", "got solver.atol=-1e-06; pass e.g. solver.atol=1e-3"),
    ("solver=rk4 solver.step_size=-0.1", "step_size=-0.1; pass solver.steps=<n> (step 1/n)"),
    ("solver=rk4 solver.steps=0", "steps must be a positive integer; got solver.steps=0; pass"),
    ("solver=rk4 solver.steps=1.5", "got solver.steps=1.5; pass solver.steps=<n>"),
    ("solver=rk4 solver.steps=abc", "got solver.steps='abc'; pass"),
    ("seed=abc", "seed must be an integer; got seed='abc'; pass e.g. seed=0"),
    ("seed=1.5", "seed must be an integer; got seed=1.5"),
]


@pytest.mark.parametrize(("overrides", "expected"), CASES)
def test_solver_settings_and_seed_are_checked_first(
    tmp_path: Path, overrides: str, expected: str
) -> None:
    assert expected in _config_error(overrides.split(), tmp_path)


def test_image_model_on_points_names_the_missing_key(tmp_path: Path) -> None:
    msg = _config_error(["data=two_moons"], tmp_path, base=[])  # default model=odenet
    assert "model=odenet needs data.in_channels (model.in_channels=${data.in_channels})" in msg
    assert "data=two_moons lacks" in msg
    assert "provide it: ['cifar10', 'digits', 'mnist']" in msg
    assert "fit data=two_moons: ['anode', 'mlp_resnet', 'node']" in msg


def test_density_model_on_labelled_images_names_the_tasks(tmp_path: Path) -> None:
    msg = _config_error(["model=cnf"], tmp_path, base=[])  # default data=digits
    assert "model=cnf is a density model but data=digits is a classification data set" in msg
    assert "data configs that fit the model: ['eight_gaussians']" in msg
    assert "'conv_resnet'" in msg and "'odenet'" in msg and "'cnf'" not in msg.split("Models")[1]


def test_time_series_model_on_density_data(tmp_path: Path) -> None:
    msg = _config_error(["model=latent_ode", "data=eight_gaussians"], tmp_path, base=[])
    assert "model=latent_ode is a time_series model but data=eight_gaussians" in msg
    assert "fit data=eight_gaussians: ['cnf']" in msg
    assert "fit the model: ['irregular_spirals']" in msg


@pytest.mark.parametrize("data", LOCAL_DATA)
def test_every_model_said_to_fit_takes_a_batch(tmp_path: Path, data: str) -> None:
    """The check's suggestions are true: each model it accepts for ``data`` builds and maps
    a batch of it to a finite loss of the data's task."""
    fits = models_for(_packaged("data", data))
    assert fits, f"no packaged model fits data={data}"
    splits = None
    for name in fits:
        cfg = compose_cfg([f"data={data}", f"model={name}", "solver=rk4", "solver.steps=1"])
        cfg.run_dir = str(tmp_path)
        validate_config(cfg)
        splits = splits or instantiate(cfg.data.dataset)
        model = instantiate(cfg.model)
        batch = next(iter(DataLoader(splits.train, batch_size=4)))
        loss, stats = objective_for(splits.task, model).loss(model, list(batch))
        assert torch.isfinite(loss) and float(stats["count"]) == 4.0, name


def test_declared_task_must_match_the_loader(tmp_path: Path) -> None:
    cfg = compose_cfg(TINY_MLP, tmp_path)
    x = torch.zeros(4, 2)
    y = torch.zeros(4, dtype=torch.long)
    pairs = torch.utils.data.TensorDataset(x, y)
    splits = DataSplits(pairs, pairs, input_shape=(2,), num_classes=2, task="classification")
    assert _check_data(cfg, splits) is splits
    cfg.data.task = "density"
    with pytest.raises(ConfigError, match=r"data.task=density but data.dataset returned a "):
        _check_data(cfg, splits)


def test_resume_with_other_epochs_or_lr_is_refused(tmp_path: Path) -> None:
    train(compose_cfg([*TINY_MLP, "trainer.epochs=2"], tmp_path))
    before = load_checkpoint(tmp_path / "last.ckpt")
    with pytest.raises(ConfigError) as info:
        train(compose_cfg([*TINY_MLP, "trainer.epochs=4"], tmp_path))
    msg = str(info.value)
    assert "trainer.epochs: 2 in the checkpoint, 4 now" in msg
    # the cosine schedule's horizon is derived from trainer.epochs
    assert "optim.scheduler.T_max: 2 in the checkpoint, 4 now" in msg
    assert "resume=false" in msg and "new run directory" in msg
    with pytest.raises(ConfigError, match=r"optim.optimizer.lr: 0.01 in the checkpoint, 0.5 now"):
        train(compose_cfg([*TINY_MLP, "trainer.epochs=2", "optim.optimizer.lr=0.5"], tmp_path))
    after = load_checkpoint(tmp_path / "last.ckpt")
    assert after["epoch"] == before["epoch"] == 2 and len(read_metrics(tmp_path)) == 2
    # settings that do not change the run may differ
    same = train(compose_cfg([*TINY_MLP, "trainer.epochs=2", "data.eval_batch_size=7"], tmp_path))
    assert same["epochs_run"] == 0
    # the documented fix: start over in this directory, with the new horizon
    result = train(compose_cfg([*TINY_MLP, "trainer.epochs=4", "resume=false"], tmp_path))
    assert result["epochs_run"] == 4 and result["lr"] == pytest.approx(0.0, abs=1e-12)
    assert load_checkpoint(tmp_path / "last.ckpt")["scheduler"]["T_max"] == 4


def test_checkpoint_without_settings_is_compared_with_config_yaml(tmp_path: Path) -> None:
    train(compose_cfg([*TINY_MLP, "trainer.epochs=1"], tmp_path))
    state = load_checkpoint(tmp_path / "last.ckpt")
    del state["settings"]  # as written before the settings were stored
    save_checkpoint(state, tmp_path / "last.ckpt")
    with pytest.raises(ConfigError, match=r"trainer.epochs: 1 in the checkpoint, 3 now"):
        train(compose_cfg([*TINY_MLP, "trainer.epochs=3"], tmp_path))
