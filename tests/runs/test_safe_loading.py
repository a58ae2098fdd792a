"""Nothing a user loads runs code: crafted checkpoints and CIFAR-10 pickles are refused with
a named error, before the code they carry runs (the marker file is never written)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import odenet.train  # noqa: F401  (registers the odenet.* resolvers)
from odenet.convert.run import convert_run, load_converted
from odenet.data import load_cifar10, read_cifar_batch
from odenet.data.cifar10 import CIFAR10_FILES
from odenet.errors import CheckpointError, DataFileError
from odenet.runs import load_checkpoint, save_checkpoint
from odenet.train import train

TINY = [
    "data=annuli",
    "model=mlp_resnet",
    "model.width=8",
    "model.depth=2",
    "data.dataset.n_train=64",
    "data.dataset.n_test=32",
    "data.batch_size=32",
    "trainer.epochs=1",
    "trainer.num_threads=1",
    "trainer.tensorboard=false",
]


class Payload:
    """Unpickling this object would write ``marker`` (via ``exec``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _compose(name: str, overrides: list[str]):
    with initialize_config_module(config_module="odenet.conf", version_base="1.3"):
        return compose(name, overrides=overrides)


def _crafted_checkpoint(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {"w": torch.zeros(2)}, "epoch": 1, "x": Payload(marker)}, path)
    return path


def test_payload_runs_with_plain_pickle(tmp_path: Path) -> None:
    """The payload is live: an unrestricted load does write the marker."""
    marker = tmp_path / "marker"
    path = _crafted_checkpoint(tmp_path / "evil.ckpt", marker)
    torch.load(path, weights_only=False)
    assert marker.read_text() == "ran"


def test_crafted_checkpoint_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = _crafted_checkpoint(tmp_path / "evil.ckpt", marker)
    with pytest.raises(CheckpointError, match=r"evil\.ckpt holds Python objects .*builtins\.exec"):
        load_checkpoint(path)
    assert not marker.exists()


def test_resume_refuses_a_crafted_checkpoint(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    run = tmp_path / "run"
    _crafted_checkpoint(run / "last.ckpt", marker)
    with pytest.raises(CheckpointError, match=r"last\.ckpt holds Python objects"):
        train(_compose("config", [*TINY, f"run_dir={run}"]))
    assert not marker.exists()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("run")
    threads = torch.get_num_threads()
    try:
        train(_compose("config", [*TINY, f"run_dir={run}"]))
    finally:
        torch.set_num_threads(threads)
    return run


def test_convert_refuses_a_crafted_checkpoint(run_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    evil_run = tmp_path / "evil_run"
    evil_run.mkdir()
    (evil_run / "config.yaml").write_text((run_dir / "config.yaml").read_text())
    _crafted_checkpoint(evil_run / "last.ckpt", marker)
    with pytest.raises(CheckpointError, match="holds Python objects"):
        convert_run(_compose("convert", [f"run_dir={evil_run}", f"out_dir={tmp_path / 'a'}"]))
    evil = _crafted_checkpoint(tmp_path / "weights.pt", marker)
    overrides = [f"run_dir={run_dir}", f"checkpoint={evil}", f"out_dir={tmp_path / 'b'}"]
    with pytest.raises(CheckpointError, match="holds Python objects"):
        convert_run(_compose("convert", overrides))
    assert not marker.exists()


def test_load_converted_refuses_a_crafted_file(run_dir: Path, tmp_path: Path) -> None:
    convert_run(_compose("convert", [f"run_dir={run_dir}", f"out_dir={tmp_path}"]))
    good = load_checkpoint(tmp_path / "converted.ckpt")
    assert isinstance(load_converted(tmp_path / "converted.ckpt"), torch.nn.Module)
    marker = tmp_path / "marker"
    good["model_config"] = {"_target_": "builtins.dict", "x": Payload(marker)}
    torch.save(good, tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError, match="holds Python objects"):
        load_converted(tmp_path / "evil.ckpt")
    assert not marker.exists()


def test_checkpoint_written_before_the_safe_format_still_resumes(tmp_path: Path) -> None:
    """Checkpoints of odenet < 0.2 stored numpy's RNG state as an array: admitted (only the
    numpy array globals), and resuming from one continues the run."""
    cfg = _compose("config", [*TINY, "trainer.epochs=2", f"run_dir={tmp_path}"])
    cfg.trainer.max_epochs_per_run = 1
    train(cfg)
    state = load_checkpoint(tmp_path / "last.ckpt")
    np.random.seed(3)
    legacy_numpy = np.random.get_state()
    state["rng"]["numpy"] = legacy_numpy
    torch.save(state, tmp_path / "last.ckpt")
    reread = load_checkpoint(tmp_path / "last.ckpt")
    assert reread["rng"]["numpy"][0] == "MT19937"
    np.testing.assert_array_equal(reread["rng"]["numpy"][1], legacy_numpy[1])
    result = train(_compose("config", [*TINY, "trainer.epochs=2", f"run_dir={tmp_path}"]))
    assert result["epochs_run"] == 1 and result["epoch"] == 2


def test_checkpoint_holds_only_tensors_and_plain_data(run_dir: Path) -> None:
    """What odenet-train writes loads with torch's own weights_only=True, no allowlist."""
    state = torch.load(run_dir / "last.ckpt", weights_only=True)
    assert state["epoch"] == 1 and isinstance(state["rng"]["numpy"]["keys"], torch.Tensor)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [(b"", "is empty"), (b"PK\x03\x04 truncated", "cannot be read"), (None, "is a directory")],
    ids=["empty", "truncated", "directory"],
)
def test_unreadable_checkpoints_are_named(tmp_path: Path, content: bytes | None, pattern) -> None:
    path = tmp_path / "last.ckpt"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=pattern):
        load_checkpoint(path)


def test_truncated_real_checkpoint(tmp_path: Path) -> None:
    path = save_checkpoint({"w": torch.arange(1000.0)}, tmp_path / "last.ckpt")
    path.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(CheckpointError, match=r"cannot be read \(truncated"):
        load_checkpoint(path)


def _write_batch(path: Path, obj, protocol: int = 4) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def test_crafted_cifar_batch_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    folder = tmp_path / "cifar-10-batches-py"
    rng = np.random.default_rng(0)
    for name in CIFAR10_FILES:
        batch = {b"data": rng.integers(0, 256, (2, 3072)).astype(np.uint8), b"labels": [0, 1]}
        _write_batch(folder / name, batch)
    _write_batch(folder / "data_batch_3", {b"data": Payload(marker), b"labels": [0]})
    with pytest.raises(DataFileError, match=r"data_batch_3: the pickle refers to builtins\.exec"):
        load_cifar10(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar_batch_pickled_by_numpy_1_and_2_reads(tmp_path: Path, protocol: int) -> None:
    """Python-2-era files name ``numpy.core.multiarray`` (numpy 1); new ones ``numpy._core``."""
    data = np.arange(2 * 3072).astype(np.uint8).reshape(2, 3072)
    raw = pickle.dumps({b"data": data, b"labels": [3, 9], b"batch_label": b"x"}, protocol)
    if protocol == 2:  # GLOBAL opcodes spell the module in the file: rename as numpy 1 did
        raw = raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
        assert b"numpy.core.multiarray" in raw
    (tmp_path / "batch").write_bytes(raw)
    images, labels = read_cifar_batch(tmp_path / "batch")
    np.testing.assert_array_equal(images.reshape(2, 3072), data)
    assert labels.tolist() == [3, 9]


def test_cifar_labels_out_of_range(tmp_path: Path) -> None:
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}
    _write_batch(tmp_path / "batch", batch)
    with pytest.raises(DataFileError, match=r"labels must lie in 0\.\.9; got 10 at index 1"):
        read_cifar_batch(tmp_path / "batch")


def test_truncated_cifar_batch(tmp_path: Path) -> None:
    _write_batch(tmp_path / "batch", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]})
    (tmp_path / "batch").write_bytes((tmp_path / "batch").read_bytes()[:50])
    with pytest.raises(DataFileError, match="not a readable pickle"):
        read_cifar_batch(tmp_path / "batch")


def test_run_config_is_plain_yaml(run_dir: Path) -> None:
    assert OmegaConf.load(run_dir / "config.yaml").model.width == 8
