"""Reading pickled data files without running code from them.

``pickle.load`` calls whatever callables a file names, so a crafted file can run arbitrary
code. :class:`DataUnpickler` resolves only the globals that pickled numpy arrays need
(:data:`ALLOWED_GLOBALS`: numpy's array-rebuilding functions, ``ndarray``, ``dtype``, and
the latin-1 ``_codecs.encode`` that Python 3 writes for bytes under pickle protocols 0-2) and
refuses every other one with a :class:`~odenet.errors.DataFileError` naming the file.
Containers, numbers, strings and bytes need no globals.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import IO, Any

import numpy as np

from odenet.errors import DataFileError

__all__ = ["ALLOWED_GLOBALS", "DataUnpickler", "load_data_pickle"]

_reconstruct = np.zeros(1).__reduce__()[0]
_core = _reconstruct.__module__.rpartition(".")[0]  # numpy._core (numpy 2) or numpy.core
_frombuffer = getattr(importlib.import_module(f"{_core}.numeric"), "_frombuffer", None)


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 pickles bytes under protocols 0-2 (latin-1 only)."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding={encoding!r}")
    return text.encode("latin1")


# (module, name) as written in the file -> the object it stands for. Files pickled under
# numpy 1 (e.g. the real CIFAR-10 batches) name numpy.core, under numpy 2 numpy._core.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}
for _module in ("numpy.core", "numpy._core"):
    ALLOWED_GLOBALS[(f"{_module}.multiarray", "_reconstruct")] = _reconstruct
    if _frombuffer is not None:
        ALLOWED_GLOBALS[(f"{_module}.numeric", "_frombuffer")] = _frombuffer


class DataUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds containers, numbers, strings, bytes and numpy arrays, and
    refuses every other global with :class:`DataFileError` naming ``path``."""

    def __init__(self, file: IO[bytes], path: str | Path, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataFileError(
                f"{self.path}: the pickle refers to {module}.{name}, which a data file does "
                "not need; odenet refuses to load it, since unpickling it could run code. "
                "Replace the file with the original download"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataFileError(f"{self.path}: unexpected persistent id in the pickle; not a data file")


def load_data_pickle(file: IO[bytes], path: str | Path) -> Any:
    """Unpickle ``file`` (opened from ``path``, named in errors) with :class:`DataUnpickler`
    and ``encoding="bytes"`` (Python 2 strings stay bytes, as in the CIFAR-10 batches).
    A truncated or malformed file raises :class:`DataFileError`."""
    try:
        return DataUnpickler(file, path, encoding="bytes").load()
    except DataFileError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DataFileError(f"{path}: not a readable pickle ({exc})") from None
