"""CIFAR-10 from the standard "python version" pickled batches under a local root."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from odenet.data._split import channel_stats
from odenet.data.files import check_labels, find_files
from odenet.data.safe_pickle import load_data_pickle
from odenet.data.splits import DataSplits
from odenet.errors import DataFileError

CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch: ``images (n, 3, 32, 32)`` uint8 and ``labels (n,)`` int64.

    The batch is a dict with ``b"data"`` (n x 3072, channel-major rows) and
    ``b"labels"`` (Krizhevsky 2009, "Learning multiple layers of features from tiny images").
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        batch = load_data_pickle(f, path)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataFileError(f"{path}: not a CIFAR-10 python batch (needs b'data' and b'labels')")
    try:
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise DataFileError(f"{path}: b'data' or b'labels' is not numeric ({exc})") from None
    shape_ok = data.ndim == 2 and data.shape[1] == 3 * 32 * 32 and labels.ndim == 1
    if not shape_ok or len(data) != len(labels):
        raise DataFileError(
            f"{path}: expected data (n, 3072) and labels (n,); got {data.shape}, {labels.shape}"
        )
    check_labels(labels, 10, path)
    return data.reshape(-1, 3, 32, 32), labels


def _load(paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [read_cifar_batch(p) for p in paths]
    x = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0
    y = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(x), torch.from_numpy(y)


def load_cifar10(root: str | Path, *, normalize: bool = True) -> DataSplits:
    """CIFAR-10 train (50k) and test (10k) images ``(3, 32, 32)`` in ``[0, 1]``.

    Looks for ``data_batch_1..5`` and ``test_batch`` in ``root`` or
    ``root/cifar-10-batches-py``. With ``normalize``, inputs are standardised per channel
    by the training statistics.
    """
    files = find_files(
        root,
        CIFAR10_FILES,
        ["cifar-10-batches-py"],
        "CIFAR-10",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (extracted)",
    )
    x_train, y_train = _load([files[n] for n in CIFAR10_FILES[:5]])
    x_test, y_test = _load([files[CIFAR10_FILES[5]]])
    if normalize:
        mean, std = channel_stats(x_train)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return DataSplits(
        train=TensorDataset(x_train, y_train),
        test=TensorDataset(x_test, y_test),
        input_shape=(3, 32, 32),
        num_classes=10,
        task="classification",
    )
