"""Checkpoints of training runs (``last.ckpt``, ``best.ckpt``): written atomically and read
without running code; the implementation lives in :mod:`odenet.runs.checkpoint`."""

from __future__ import annotations

from odenet.runs.checkpoint import load_checkpoint, remove_stale_temporaries, save_checkpoint

CHECKPOINT_NAME = "last.ckpt"

__all__ = ["CHECKPOINT_NAME", "load_checkpoint", "remove_stale_temporaries", "save_checkpoint"]
