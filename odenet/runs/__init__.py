"""Run directories of ``odenet-train``: checkpoints (written atomically, read without
running code), the saved config, and rebuilding a trained model from them.

Used by both :mod:`odenet.train` and :mod:`odenet.convert`; imports neither.
"""

from __future__ import annotations

from odenet.runs.checkpoint import load_checkpoint, remove_stale_temporaries, save_checkpoint

__all__ = ["load_checkpoint", "remove_stale_temporaries", "save_checkpoint"]
