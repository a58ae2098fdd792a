"""scikit-learn's bundled handwritten digits (1797 images of 8x8 pixels, 10 classes)."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from odenet.data._split import permutation_split
from odenet.data.splits import DataSplits


def load_digits(test_fraction: float = 0.2, *, seed: int = 0) -> DataSplits:
    """Digits as images ``x: (1, 8, 8)`` float32 scaled to ``[0, 1]``, labels ``y`` int64.

    The split is a seeded random permutation (``test_fraction`` of the 1797 images held
    out). The data ship with scikit-learn, so nothing is downloaded.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    train_idx, test_idx = permutation_split(len(y), test_fraction, seed)
    return DataSplits(
        train=TensorDataset(x[train_idx], y[train_idx]),
        test=TensorDataset(x[test_idx], y[test_idx]),
        input_shape=(1, 8, 8),
        num_classes=10,
        task="classification",
    )
