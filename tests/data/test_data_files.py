"""MNIST (IDX) and CIFAR-10 (python pickle) loaders on tiny files written in the formats."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from odenet.data import load_cifar10, load_mnist, read_idx
from odenet.data.cifar10 import CIFAR10_FILES
from odenet.data.mnist import MNIST_FILES


def _write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def _write_mnist(folder: Path, n_train: int = 6, n_test: int = 4, compress=False) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        MNIST_FILES[0]: rng.integers(0, 256, (n_train, 28, 28)),
        MNIST_FILES[1]: rng.integers(0, 10, (n_train,)),
        MNIST_FILES[2]: rng.integers(0, 256, (n_test, 28, 28)),
        MNIST_FILES[3]: rng.integers(0, 10, (n_test,)),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        _write_idx(folder / name, arr, compress)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_reads_back_the_written_bytes(tmp_path: Path, compress: bool) -> None:
    arrays = _write_mnist(tmp_path / "MNIST" / "raw", compress=compress)
    splits = load_mnist(tmp_path, normalize=False)
    x, y = splits.train.tensors
    assert x.shape == (6, 1, 28, 28) and splits.input_shape == (1, 28, 28)
    expected = torch.from_numpy(arrays[MNIST_FILES[0]].astype(np.float32) / 255).unsqueeze(1)
    torch.testing.assert_close(x, expected, rtol=0, atol=0)
    assert torch.equal(y, torch.from_numpy(arrays[MNIST_FILES[1]].astype(np.int64)))
    assert len(splits.test) == 4


def test_mnist_normalisation_uses_training_statistics(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    x = load_mnist(tmp_path).train.tensors[0]
    assert abs(float(x.mean())) < 1e-5 and abs(float(x.std()) - 1) < 1e-4


def test_idx_rejects_a_wrong_header(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an unsigned-byte IDX"):
        read_idx(bad)


def test_missing_mnist_files_are_named(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    (tmp_path / MNIST_FILES[2]).unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path)
    msg = str(info.value)
    assert "t10k-images-idx3-ubyte" in msg and "data.root" in msg and "never downloads" in msg
    assert "train-images-idx3-ubyte" in msg  # the full list of expected files


def _write_cifar(folder: Path, n: int = 3) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    written = {}
    for name in CIFAR10_FILES:
        data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, f)
        written[name] = (data, labels)
    return written


def test_cifar10_reads_back_the_written_pixels(tmp_path: Path) -> None:
    written = _write_cifar(tmp_path / "cifar-10-batches-py")
    splits = load_cifar10(tmp_path, normalize=False)
    x, y = splits.train.tensors
    assert x.shape == (15, 3, 32, 32) and len(splits.test) == 3
    first = written["data_batch_1"][0][0]
    # row layout: 1024 red, 1024 green, 1024 blue values, row-major 32 x 32 each
    assert float(x[0, 1, 2, 3]) == pytest.approx(first[1024 + 2 * 32 + 3] / 255)
    assert y[:3].tolist() == written["data_batch_1"][1]


def test_cifar10_normalisation_is_per_channel(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    x = load_cifar10(tmp_path).train.tensors[0]
    torch.testing.assert_close(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)


def test_missing_cifar_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"data_batch_1.*test_batch"):
        load_cifar10(tmp_path / "nowhere")
