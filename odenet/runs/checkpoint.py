"""Checkpoint files: written atomically, read without running code.

Writing: a temporary file in the same folder, then ``os.replace``, which is atomic on POSIX
and Windows when source and target are on the same file system, so a process killed at any
point leaves either the previous checkpoint or the new one at ``path``, never a torn file.
A full disk raises :class:`~odenet.errors.CheckpointWriteError` and leaves the previous
checkpoint in place.

Reading: ``torch.load(weights_only=True)``, which rebuilds only tensors and plain data
(dicts, lists, tuples, numbers, strings), so a crafted file cannot run code. Checkpoints
written by odenet before 0.2 stored numpy's RNG state as an array; only the numpy globals
that rebuild such an array (:data:`LEGACY_NUMPY_GLOBALS`) are admitted for them. Anything
else, and empty, truncated or directory "checkpoints", raise
:class:`~odenet.errors.CheckpointError` naming the file and the fix.
"""

from __future__ import annotations

import errno
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from odenet.errors import CheckpointError, CheckpointWriteError

__all__ = [
    "LEGACY_NUMPY_GLOBALS",
    "load_checkpoint",
    "remove_stale_temporaries",
    "save_checkpoint",
]

_TMP_PREFIX = ".tmp-"
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}

_reconstruct = np.zeros(1).__reduce__()[0]  # numpy's array-rebuilding function
# (object, the name it had in pickles): rebuild a numpy array of a numeric dtype, nothing more
LEGACY_NUMPY_GLOBALS: list[tuple[Any, str]] = [
    (_reconstruct, f"{_reconstruct.__module__}.{_reconstruct.__name__}"),
    (_reconstruct, "numpy.core.multiarray._reconstruct"),
    (np.ndarray, "numpy.ndarray"),
    (np.dtype, "numpy.dtype"),
    (type(np.dtype(np.uint32)), f"numpy.dtypes.{type(np.dtype(np.uint32)).__name__}"),
]


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` with ``torch.save`` to ``path`` atomically; returns ``path``.

    ``state`` should hold only tensors and plain data so that :func:`load_checkpoint` can
    read it back. Raises :class:`CheckpointWriteError` when the disk is full.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX + path.name, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if _is_disk_full(exc):
            raise CheckpointWriteError(
                f"could not write the checkpoint {path}: no space left on the device of "
                f"{path.parent} ({exc}); free some space or write the run elsewhere "
                "(hydra.run.dir=...), then run the same command again (the previous "
                "checkpoint is intact)"
            ) from exc
        raise
    return path


def _is_disk_full(exc: BaseException) -> bool:
    """``exc`` (or an exception it was raised from) is an ``ENOSPC``/``EDQUOT`` OSError."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _NO_SPACE:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _check_file(path: Path, fix: str) -> None:
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; {fix}")
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory, not a file; {fix}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes); {fix}")


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _refuse_unsafe(path: Path, fix: str) -> None:
    """Raise :class:`CheckpointError` unless every global in ``path`` is a legacy one."""
    try:
        unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception as exc:  # not a zip archive, truncated, ...
        raise _not_a_checkpoint(path, exc, fix) from exc
    allowed = {name for _, name in LEGACY_NUMPY_GLOBALS}
    refused = sorted(unsafe - allowed)
    if refused:
        raise CheckpointError(
            f"checkpoint {path} holds Python objects other than tensors and plain data "
            f"({', '.join(refused[:5])}); odenet does not load it, since unpickling them "
            f"could run arbitrary code. Use a checkpoint written by odenet; {fix}"
        )


def _not_a_checkpoint(path: Path, exc: BaseException, fix: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint {path} cannot be read (truncated, or not written by torch.save): "
        f"{_first_line(exc)}; {fix}"
    )


def load_checkpoint(path: str | Path, *, fix: str = "delete it to start over") -> Any:
    """Read a checkpoint written by :func:`save_checkpoint` (or any ``torch.save`` file of
    tensors and plain data) onto the CPU, without running code from the file.

    ``fix`` ends the message of every :class:`CheckpointError` (what the user should do).
    """
    path = Path(path)
    _check_file(path, fix)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        _refuse_unsafe(path, fix)  # raises unless only the legacy numpy globals are in it
        try:
            with torch.serialization.safe_globals(LEGACY_NUMPY_GLOBALS):
                return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as again:
            raise _not_a_checkpoint(path, again, fix) from exc
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise _not_a_checkpoint(path, exc, fix) from exc


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporary files left by a process killed while writing; returns them."""
    stale = sorted(Path(folder).glob(_TMP_PREFIX + "*"))
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
