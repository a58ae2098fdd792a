"""Every failure a user causes ends ``odenet-train`` with one line on stderr and status 2
(run in this process through the console entry ``main``; ``test_train_cli_errors.py`` runs
the command in a subprocess)."""

from __future__ import annotations

import errno
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import TINY_MLP, compose_cfg, run_cli

from odenet.train import load_checkpoint, train
from odenet.train.cli import main

TINY = [*TINY_MLP, "data.dataset.n_train=64", "data.dataset.n_test=32", "trainer.epochs=1"]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """``cli(args) -> (status, stdout, stderr)`` of ``odenet-train <args>``."""
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)

    def run(args: list[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["odenet-train", *args])
        try:
            main()
            status = 0
        except SystemExit as exc:
            status = exc.code
        out, err = capsys.readouterr()
        return status, out, err

    return run


def _one_line(status: int, err: str, start: str) -> str:
    """The single stderr line (status 2, no traceback); it must begin with ``start``."""
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith(start), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("content", "pattern"),
    [(b"", "is empty (0 bytes)"), (b"PK\x03\x04\x00\x00", "cannot be read (truncated")],
    ids=["empty", "truncated"],
)
def test_unreadable_checkpoint(cli, tmp_path: Path, content: bytes, pattern: str) -> None:
    (tmp_path / "last.ckpt").write_bytes(content)
    status, _, err = cli([*TINY, f"hydra.run.dir={tmp_path}"])
    line = _one_line(status, err, "odenet-train: checkpoint error: checkpoint ")
    assert pattern in line and "resume=false" in line


def test_directory_checkpoint(cli, tmp_path: Path) -> None:
    (tmp_path / "last.ckpt").mkdir()
    for resume in ("true", "false"):
        status, _, err = cli([*TINY, f"resume={resume}", f"hydra.run.dir={tmp_path}"])
        assert "last.ckpt is a directory" in _one_line(status, err, "odenet-train: checkpoint")


def test_checkpoint_of_another_config(cli, tmp_path: Path) -> None:
    train(compose_cfg(TINY, tmp_path))
    status, _, err = cli([*TINY, "model.width=16", f"hydra.run.dir={tmp_path}"])
    line = _one_line(status, err, "odenet-train: config error: resume=true but ")
    assert "model.width: 8 in the checkpoint, 16 now" in line
    # a checkpoint that stores no settings (older odenet) of another model: named as such
    state = load_checkpoint(tmp_path / "last.ckpt")
    state["settings"] = None
    torch.save(state, tmp_path / "last.ckpt")
    (tmp_path / "config.yaml").unlink()
    status, _, err = cli([*TINY, "model.width=16", f"hydra.run.dir={tmp_path}"])
    line = _one_line(status, err, "odenet-train: checkpoint error: ")
    assert "does not fit the MLPResNet" in line and "shapes differ" in line


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _mnist(folder: Path, size: int = 28, max_label: int = 9) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    _write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (8, size, size)))
    _write_idx(folder / "train-labels-idx1-ubyte", np.array([0, 1, 2, 3, 4, 5, 6, max_label]))
    _write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (4, 28, 28)))
    _write_idx(folder / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 3]))
    return folder


@pytest.mark.parametrize(
    ("size", "max_label", "pattern"),
    [
        (20, 9, "MNIST images are 28 x 28; got 20 x 20"),
        (28, 12, "labels must lie in 0..9; got 12 at index 7"),
    ],
    ids=["image_size", "label_range"],
)
def test_corrupted_mnist(cli, tmp_path: Path, size: int, max_label: int, pattern: str) -> None:
    root = _mnist(tmp_path / "mnist", size, max_label)
    args = ["data=mnist", f"data.root={root}", "model.channels=4", "trainer.epochs=1"]
    status, _, err = cli([*args, f"hydra.run.dir={tmp_path / 'run'}"])
    assert pattern in _one_line(status, err, "odenet-train: data error: ")


def test_missing_mnist_files(cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    args = ["data=mnist", f"data.root={tmp_path / 'empty'}", f"hydra.run.dir={tmp_path / 'run'}"]
    status, _, err = cli(args)
    line = _one_line(status, err, "odenet-train: data error: MNIST: data.root=")
    assert "never downloads" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: trainer=gpu works")
def test_gpu_trainer_without_gpu(cli, tmp_path: Path) -> None:
    status, _, err = cli([*TINY, "trainer=gpu", f"hydra.run.dir={tmp_path}"])
    start = "odenet-train: config error: trainer.device='cuda' (as trainer=gpu sets it)"
    line = _one_line(status, err, start)
    assert "no CUDA GPU" in line and "trainer=cpu" in line


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "optim.optimizer.weight_decay=-0.1",
            "optim.optimizer.weight_decay must be a number >= 0; got "
            "optim.optimizer.weight_decay=-0.1",
        ),
        (
            "data.eval_batch_size=0",
            "data.eval_batch_size must be a positive integer; got data.eval_batch_size=0",
        ),
        ("init_from=/no/such/run", "init_from='/no/such/run' does not exist"),
    ],
    ids=["weight_decay", "eval_batch_size", "init_from"],
)
def test_bad_values(cli, tmp_path: Path, override: str, expected: str) -> None:
    status, _, err = cli([*TINY, override, f"hydra.run.dir={tmp_path}"])
    assert expected in _one_line(status, err, "odenet-train: config error: ")
    assert not (tmp_path / "last.ckpt").exists()


def test_nan_loss(cli, tmp_path: Path) -> None:
    status, _, err = cli([*TINY, "optim.optimizer.lr=1e30", f"hydra.run.dir={tmp_path}"])
    line = _one_line(status, err, "odenet-train: training diverged: training loss is nan")
    assert "lower optim.optimizer.lr" in line and "trainer.on_nonfinite_loss=stop" in line


def test_disk_full_during_checkpoint_write(cli, tmp_path: Path, monkeypatch) -> None:
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", no_space)
    status, _, err = cli([*TINY, f"hydra.run.dir={tmp_path}"])
    line = _one_line(status, err, "odenet-train: checkpoint error: could not write the checkpoint")
    assert "no space left" in line and "hydra.run.dir" in line
    assert not list(tmp_path.glob(".tmp-*")) and not (tmp_path / "last.ckpt").exists()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("trainer.epoch=3", "unknown key 'trainer.epoch'; did you mean 'trainer.epochs'?"),
        ("optim.lr=0.1", "unknown key 'optim.lr'; did you mean 'optim.optimizer.lr'?"),
        ("model.widht=4", "unknown key 'model.widht'; did you mean 'model.width'?"),
        ("solver=rk5", "unknown solver 'rk5'; did you mean solver=rk4? choices: ["),
    ],
)
def test_mistyped_key(cli, tmp_path: Path, override: str, expected: str) -> None:
    status, _, err = cli([*TINY, override, f"hydra.run.dir={tmp_path}"])
    assert expected in _one_line(status, err, "odenet-train: config error: ")
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_mistyped_key_in_a_sweep(cli, tmp_path: Path) -> None:
    args = ["-m", *TINY, "trainer.epoch=1,2", f"hydra.sweep.dir={tmp_path}"]
    status, _, err = cli(args)
    assert "did you mean 'trainer.epochs'?" in _one_line(status, err, "odenet-train: config")


def test_unknown_group_option_later_in_a_sweep(cli, tmp_path: Path) -> None:
    """Every value of a swept group is checked before the first job runs."""
    args = ["-m", *TINY, "solver=rk4,rk5", f"hydra.sweep.dir={tmp_path}"]
    status, _, err = cli(args)
    line = _one_line(status, err, "odenet-train: config error: unknown solver 'rk5'")
    assert "did you mean solver=rk4?" in line
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # no job ran


_HOLDER = """
import sys, time
from odenet.runs.lock import RunDirLock
with RunDirLock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_second_run_in_a_locked_directory(cli, tmp_path: Path) -> None:
    holder = run_cli(["-c", _HOLDER, str(tmp_path)], cwd=tmp_path)
    try:
        assert holder.stdout.readline().strip() == "locked"
        status, _, err = cli([*TINY, f"hydra.run.dir={tmp_path}"])
        line = _one_line(status, err, "odenet-train: run directory in use: ")
        assert f"pid {holder.pid} on host " in line and "another directory" in line
        assert not (tmp_path / "last.ckpt").exists()
    finally:
        holder.kill()
        holder.wait()
    status, _, _ = cli([*TINY, f"hydra.run.dir={tmp_path}"])  # released when it died
    assert status == 0 and (tmp_path / "last.ckpt").is_file()


def test_full_traceback_with_hydra_full_error(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    status, _, err = cli([*TINY, "optim.optimizer.weight_decay=-1", f"hydra.run.dir={tmp_path}"])
    assert status == 2 and "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("odenet-train: config error: optim.optimizer")


def test_end_of_run_names_outputs_and_device(cli, tmp_path: Path) -> None:
    status, out, _ = cli([*TINY, f"hydra.run.dir={tmp_path}"])
    assert status == 0
    assert out.strip().splitlines()[-1].endswith(f"; outputs in {tmp_path} (device cpu)")
    status, out, _ = cli(["-m", *TINY, "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    assert status == 0
    assert f"odenet-train: sweep of 2 jobs done; outputs in {tmp_path / 'sweep'}" in out


def test_exit_status_of_the_command(tmp_path: Path) -> None:
    """The console command itself: one line on stderr and status 2 (a subprocess)."""
    (tmp_path / "last.ckpt").write_bytes(b"")
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "odenet.train", *TINY, f"hydra.run.dir={tmp_path}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    print(f"{time.monotonic() - start:.1f} s")
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("odenet-train: checkpoint error: checkpoint ")
