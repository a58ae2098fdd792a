"""Measuring the memory a graph keeps for backward, with ``saved_tensors_hooks``.

Every tensor autograd saves for the backward pass (including those saved by custom
``autograd.Function``s through ``ctx.save_for_backward``) goes through the pack hook. The
meter counts each distinct storage once, tracks how many bytes are alive (released when
autograd drops the saved tensor) and the peak over the forward and backward passes run
inside the context.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["SavedTensorMeter"]


class _Saved:
    """What the pack hook returns in place of a tensor; releases its bytes when freed."""

    __slots__ = ("key", "meter", "tensor")

    def __init__(self, meter: SavedTensorMeter, tensor: Tensor, key: tuple[int, int]) -> None:
        self.meter = meter
        self.tensor = tensor
        self.key = key

    def __del__(self) -> None:
        self.meter._release(self.key)


class SavedTensorMeter:
    """Context manager: bytes of tensors saved for backward, alive now and at peak.

    Example::

        with SavedTensorMeter() as meter:
            loss = odeint(f, y0, t, gradient="checkpoint")[-1].sum()
            after_forward = meter.current
            loss.backward()
        print(after_forward, meter.peak)

    Attributes:
        current: bytes of distinct storages saved and not yet released.
        peak: largest ``current`` seen.
        packed: number of tensors packed (with repeats).
    """

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0
        self.packed = 0
        self._refs: dict[tuple[int, int], list[int]] = {}
        self._hooks: Any = None

    def _pack(self, tensor: Tensor) -> _Saved:
        storage = tensor.untyped_storage()
        key = (storage.data_ptr(), storage.nbytes())
        entry = self._refs.get(key)
        if entry is None:
            self._refs[key] = [1, key[1]]
            self.current += key[1]
            self.peak = max(self.peak, self.current)
        else:
            entry[0] += 1
        self.packed += 1
        # a detached alias: holding the tensor itself would tie a saved output to its own
        # grad_fn in a reference cycle, so graphs would outlive their use until gc runs
        return _Saved(self, tensor.detach(), key)

    @staticmethod
    def _unpack(saved: _Saved) -> Tensor:
        return saved.tensor

    def _release(self, key: tuple[int, int]) -> None:
        entry = self._refs.get(key)
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] == 0:
            del self._refs[key]
            self.current -= entry[1]

    def __enter__(self) -> SavedTensorMeter:
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooks.__exit__(*exc)
