"""Shared pytest configuration.

- One intra-op thread for the whole suite: the tests use small tensors, for which thread
  hand-offs on a shared 2-core machine cost far more than they save (measured up to 30x).
- The ``cuda`` marker skips with a printed reason when no GPU is present.
"""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip_cuda = pytest.mark.skip(
        reason="no CUDA device on this machine (torch.cuda.is_available() is False)"
    )
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip_cuda)
