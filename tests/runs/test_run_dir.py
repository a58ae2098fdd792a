"""Run directories: the lock, best.ckpt beside last.ckpt, load_run, and fine-tuning with
init_from (weights only)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module

import odenet.train  # noqa: F401  (registers the odenet.* resolvers)
from odenet.errors import CheckpointError, ConfigError, RunDirLocked
from odenet.runs import RunDirLock, load_checkpoint, load_run
from odenet.train import read_metrics, train
from odenet.train.metrics import is_best

TINY = [
    "data=annuli",
    "model=mlp_resnet",
    "model.width=8",
    "model.depth=2",
    "data.dataset.n_train=128",
    "data.dataset.n_test=64",
    "data.batch_size=32",
    "trainer.num_threads=1",
]


def _cfg(overrides: list[str], run_dir: Path):
    with initialize_config_module(config_module="odenet.conf", version_base="1.3"):
        return compose("config", overrides=[*TINY, *overrides, f"run_dir={run_dir}"])


@pytest.mark.parametrize("use_flock", [True, False], ids=["flock", "o_excl"])
def test_lock_refuses_a_second_holder_and_names_the_first(tmp_path: Path, use_flock) -> None:
    if use_flock and sys.platform == "win32":
        pytest.skip("fcntl.flock is POSIX only")
    with RunDirLock(tmp_path, use_flock=use_flock):
        with pytest.raises(RunDirLocked) as info:
            RunDirLock(tmp_path, use_flock=use_flock).acquire()
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in str(info.value)
    with RunDirLock(tmp_path, use_flock=use_flock):  # released: can be taken again
        pass


def test_exclusive_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / ".lock").write_text(f"pid=999999999 host={socket.gethostname()} since=x\n")
    with RunDirLock(tmp_path, use_flock=False):
        assert f"pid={os.getpid()}" in (tmp_path / ".lock").read_text()
    (tmp_path / ".lock").write_text("pid=1 host=some-other-host since=x\n")
    with pytest.raises(RunDirLocked, match="pid 1 on host some-other-host"):
        RunDirLock(tmp_path, use_flock=False).acquire()


def test_train_in_a_locked_directory_is_refused(tmp_path: Path) -> None:
    with RunDirLock(tmp_path), pytest.raises(RunDirLocked, match="is in use by pid"):
        train(_cfg(["trainer.epochs=1"], tmp_path))
    assert not (tmp_path / "last.ckpt").exists()


def test_is_best() -> None:
    assert is_best([{"test_accuracy": 0.5}])
    assert is_best([{"test_accuracy": 0.5}, {"test_accuracy": 0.6}])
    assert not is_best([{"test_accuracy": 0.6}, {"test_accuracy": 0.6}])  # ties: the earlier
    assert is_best([{"test_loss": 2.0}, {"test_loss": 1.0}])
    assert not is_best([{"test_loss": 1.0}, {"test_loss": float("nan")}])
    assert not is_best([{"test_loss": 1.0}, {"train_loss": float("inf"), "diverged": True}])


def test_best_checkpoint_is_the_best_epoch_and_load_run_rebuilds_it(tmp_path: Path) -> None:
    result = train(_cfg(["trainer.epochs=4", "optim.optimizer.lr=0.05"], tmp_path))
    history = read_metrics(tmp_path)
    accuracies = [r["test_accuracy"] for r in history]
    best_epoch = accuracies.index(max(accuracies)) + 1
    best = load_checkpoint(tmp_path / "best.ckpt")
    assert best["epoch"] == best_epoch
    assert load_checkpoint(tmp_path / "last.ckpt")["epoch"] == 4 == result["epoch"]
    for which, state in (("best", best), ("last", load_checkpoint(tmp_path / "last.ckpt"))):
        model = load_run(tmp_path, which)
        assert not model.training
        for key, value in state["model"].items():
            assert torch.equal(model.state_dict()[key], value), key
    x = torch.randn(5, 2)
    assert load_run(tmp_path, "last")(x).shape == (5, 2)


def test_load_run_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_run(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"has no config\.yaml"):
        load_run(tmp_path)
    train(_cfg(["trainer.epochs=1"], tmp_path))
    (tmp_path / "best.ckpt").unlink()
    (tmp_path / "last.ckpt").unlink()
    with pytest.raises(CheckpointError, match=r"has no last\.ckpt"):
        load_run(tmp_path)


def test_init_from_loads_weights_only(tmp_path: Path) -> None:
    source = tmp_path / "pretrained"
    train(_cfg(["trainer.epochs=2"], source))
    pretrained = load_checkpoint(source / "best.ckpt")["model"]
    # fine-tune under new settings: another lr and schedule length, weights from the run
    tuned_dir = tmp_path / "tuned"
    cfg = _cfg(["trainer.epochs=3", "optim.optimizer.lr=1e-3", f"init_from={source}"], tuned_dir)
    cfg.trainer.max_epochs_per_run = 1
    result = train(cfg)
    assert result["epoch"] == 1  # a new run: epochs count from 0, fresh optimizer
    state = load_checkpoint(tuned_dir / "last.ckpt")
    assert int(next(iter(state["optimizer"]["state"].values()))["step"]) == 4  # 128/32 steps
    # one epoch at lr 1e-3 moved the weights a little away from the pretrained ones
    moved = [(state["model"][k] - v).abs().max().item() for k, v in pretrained.items()]
    assert 0 < max(moved) < 0.05
    # and an untrained start (no init_from) is far from them
    scratch = tmp_path / "scratch"
    cfg = _cfg(["trainer.epochs=3", "optim.optimizer.lr=1e-3"], scratch)
    cfg.trainer.max_epochs_per_run = 1
    train(cfg)
    fresh = load_checkpoint(scratch / "last.ckpt")["model"]
    assert max((fresh[k] - v).abs().max().item() for k, v in pretrained.items()) > max(moved)
    # resuming the fine-tune continues it (init_from is not applied again)
    tune = ["trainer.epochs=3", "optim.optimizer.lr=1e-3", f"init_from={source}"]
    result = train(_cfg(tune, tuned_dir))
    assert result["epochs_run"] == 2 and result["epoch"] == 3


def test_init_from_another_model_is_named(tmp_path: Path) -> None:
    train(_cfg(["trainer.epochs=1"], tmp_path / "a"))
    cfg = _cfg(
        ["trainer.epochs=1", "model.width=16", f"init_from={tmp_path / 'a'}"], tmp_path / "b"
    )
    with pytest.raises(
        CheckpointError, match=r"init_from=.*best\.ckpt.*does not fit the MLPResNet"
    ):
        train(cfg)


def test_tensorboard_is_off_by_default(tmp_path: Path) -> None:
    with initialize_config_module(config_module="odenet.conf", version_base="1.3"):
        for trainer in ("cpu", "gpu", "ddp"):
            cfg = compose("config", overrides=[f"trainer={trainer}", f"run_dir={tmp_path}"])
            assert cfg.trainer.tensorboard is False, trainer


MODELS = ["anode", "cnf", "conv_resnet", "latent_ode", "mlp_resnet", "node", "odenet"]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("solver", ["rk4", "dopri5"])
def test_every_packaged_model_config_passes_the_target_check(tmp_path, model, solver) -> None:
    """What odenet-train writes to config.yaml is what load_run/odenet-convert admit."""
    from omegaconf import OmegaConf

    from odenet.runs.targets import check_targets

    with initialize_config_module(config_module="odenet.conf", version_base="1.3"):
        cfg = compose("config", overrides=[f"model={model}", f"solver={solver}", "run_dir=x"])
    check_targets(OmegaConf.to_container(cfg.model, resolve=True), "config.yaml", "model")
    check_targets(OmegaConf.to_container(cfg.data, resolve=True), "config.yaml", "data")


def test_disk_full_anywhere_is_a_usage_error() -> None:
    import errno

    from odenet.cli import DiskFull, error_line, find_usage_error

    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "metrics.jsonl")
        except OSError as inner:
            raise RuntimeError("while logging") from inner
    except RuntimeError as exc:
        err = find_usage_error(exc)
    assert isinstance(err, DiskFull)
    assert error_line("odenet-train", err).startswith(
        "odenet-train: disk full: [Errno 28] No space left on device: 'metrics.jsonl'; free"
    )
    assert find_usage_error(RuntimeError("a bug")) is None


class _FailingSolve(torch.nn.Module):
    """A classifier whose forward fails the way a diverging ODE model does."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from odenet.errors import MaxStepsReached

        raise MaxStepsReached(t=0.001, dt=1e-8, max_steps=10, t_end=1.0)


def test_a_solver_failure_in_training_is_a_divergence() -> None:
    """It is reported as training diverged (one line, status 2; ``on_nonfinite_loss=stop``
    applies), with the solver's message kept."""
    from torch.utils.data import DataLoader, TensorDataset

    from odenet.errors import MaxStepsReached, NonFiniteLoss
    from odenet.train.distributed import DistInfo
    from odenet.train.loop import evaluate, train_epoch
    from odenet.train.objectives import objective_for

    model = _FailingSolve()
    loader = DataLoader(TensorDataset(torch.randn(4, 2), torch.tensor([0, 1, 0, 1])), 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    objective = objective_for("classification", model)
    with pytest.raises(NonFiniteLoss, match=r"ODE solve failed at epoch 1/1 \(max_steps=10") as e:
        train_epoch(
            model, objective, loader, optimizer, torch.device("cpu"), DistInfo(), None, "epoch 1/1"
        )
    assert isinstance(e.value.__cause__, MaxStepsReached)
    with pytest.raises(NonFiniteLoss, match=r"ODE solve failed at the evaluation"):
        evaluate(model, objective, loader, torch.device("cpu"))
