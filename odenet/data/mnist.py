"""MNIST from the standard IDX files under a local root (LeCun et al. 1998)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from odenet.data.files import check_labels, find_files
from odenet.data.splits import DataSplits
from odenet.errors import DataFileError

MNIST_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
_IMAGE_MAGIC, _LABEL_MAGIC = 2051, 2049
IMAGE_SIZE = (28, 28)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an unsigned-byte IDX file (optionally gzipped) into a uint8 array.

    The header is a big-endian magic number ``0x000008NN`` (``NN`` = number of
    dimensions) followed by one big-endian int32 per dimension. A file that is not one
    raises :class:`~odenet.errors.DataFileError` (a ``ValueError``) naming it.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:  # e.g. a truncated .gz
        raise DataFileError(f"{path}: cannot be read ({exc})") from None
    if len(raw) < 4:
        raise DataFileError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DataFileError(
            f"{path}: not an unsigned-byte IDX file (header bytes {raw[:4].hex()}, "
            "expected 000008NN)"
        )
    if len(raw) < 4 + 4 * ndim:
        raise DataFileError(f"{path}: truncated IDX header ({len(raw)} bytes)")
    shape = struct.unpack(f">{ndim}i", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if any(n < 0 for n in shape) or data.size != int(np.prod(shape)):
        raise DataFileError(
            f"{path}: header says shape {shape} but holds {data.size} bytes (truncated or "
            "corrupted: replace it with the original)"
        )
    return data.reshape(shape)


def _images_labels(images: Path, labels: Path) -> tuple[torch.Tensor, torch.Tensor]:
    x = read_idx(images)
    y = read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DataFileError(
            f"{images} / {labels}: expected images (n, rows, cols) and labels (n,); "
            f"got shapes {x.shape} and {y.shape}"
        )
    if tuple(x.shape[1:]) != IMAGE_SIZE:
        raise DataFileError(
            f"{images}: MNIST images are {IMAGE_SIZE[0]} x {IMAGE_SIZE[1]}; got "
            f"{x.shape[1]} x {x.shape[2]}. Replace it with the original file"
        )
    check_labels(y, 10, labels)
    xt = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    return xt, torch.from_numpy(y.astype(np.int64))


def load_mnist(root: str | Path, *, normalize: bool = True) -> DataSplits:
    """MNIST train (60k) and test (10k) images ``(1, 28, 28)`` in ``[0, 1]``, labels int64.

    Looks for the four IDX files in ``root``, ``root/MNIST/raw`` or ``root/mnist``.
    With ``normalize``, inputs are standardised by the training mean and std.
    """
    files = find_files(
        root, MNIST_FILES, ["MNIST/raw", "mnist"], "MNIST", "http://yann.lecun.com/exdb/mnist/"
    )
    x_train, y_train = _images_labels(files[MNIST_FILES[0]], files[MNIST_FILES[1]])
    x_test, y_test = _images_labels(files[MNIST_FILES[2]], files[MNIST_FILES[3]])
    if normalize:
        mean, std = x_train.mean(), x_train.std().clamp_min(1e-8)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return DataSplits(
        train=TensorDataset(x_train, y_train),
        test=TensorDataset(x_test, y_test),
        input_shape=tuple(x_train.shape[1:]),
        num_classes=10,
        task="classification",
    )
