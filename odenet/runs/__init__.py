"""Run directories of ``odenet-train``: checkpoints (written atomically, read without
running code), the saved config, and rebuilding a trained model from them.

Used by both :mod:`odenet.train` and :mod:`odenet.convert`; imports neither.
"""

from __future__ import annotations

from odenet.runs.checkpoint import load_checkpoint, remove_stale_temporaries, save_checkpoint
from odenet.runs.load import build_model, checkpoint_path, load_run, read_run_config
from odenet.runs.lock import RunDirLock
from odenet.runs.targets import check_targets
from odenet.runs.weights import load_model_state

__all__ = [
    "RunDirLock",
    "build_model",
    "check_targets",
    "checkpoint_path",
    "load_checkpoint",
    "load_model_state",
    "load_run",
    "read_run_config",
    "remove_stale_temporaries",
    "save_checkpoint",
]
