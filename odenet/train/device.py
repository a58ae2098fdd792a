"""Choosing the torch device from ``trainer.device``."""

from __future__ import annotations

import re

import torch

from odenet.errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:<index>", "mps")


def check_device(device: str) -> str:
    """Return ``device`` if it is one of :data:`DEVICE_CHOICES`, else raise ``ValueError``."""
    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", device):
        raise ValueError(
            f"trainer.device must be one of {DEVICE_CHOICES}; got trainer.device={device!r}"
        )
    return device


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> CUDA (``cuda:<local_rank>``) when available, else CPU.

    An explicit ``"cuda"`` (``trainer=gpu``) without a GPU raises
    :class:`~odenet.errors.ConfigError` (a ``ValueError``) naming the fix.
    """
    check_device(device)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"trainer.device={device!r} (as trainer=gpu sets it) but no CUDA GPU is "
                "available to torch (torch.cuda.is_available() is False); pass trainer=cpu, or "
                "trainer.device=auto to use a GPU only when there is one"
            )
        if device == "cuda":
            device = f"cuda:{local_rank}"
    return torch.device(device)
