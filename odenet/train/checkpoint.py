"""Checkpoints written atomically: a temporary file in the same folder, then ``os.replace``.

``os.replace`` is atomic on POSIX and Windows when source and target are on the same file
system, so a process killed at any point leaves either the previous checkpoint or the new
one at ``path``, never a torn file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_NAME = "last.ckpt"
_TMP_PREFIX = ".tmp-"


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` with ``torch.save`` to ``path`` atomically; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX + path.name, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` onto the CPU.

    ``weights_only=False`` because the state holds RNG states (numpy arrays, tuples);
    load only checkpoints you wrote yourself.
    """
    return torch.load(Path(path), map_location="cpu", weights_only=False)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporary files left by a process killed while writing; returns them."""
    stale = sorted(Path(folder).glob(_TMP_PREFIX + "*"))
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
