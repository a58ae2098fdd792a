"""Run this test area single-threaded: its tensors are small, and on a shared 2-core machine
intra-op threads mostly spin and wait (measured: a short training sweep ran 5x slower with
two threads under load)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
