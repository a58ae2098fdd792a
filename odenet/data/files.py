"""Finding the standard data files under a local root (nothing is ever downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from odenet.errors import DataFileError, DataFilesMissing


def find_files(
    root: str | Path, names: list[str], subdirs: list[str], dataset: str, source: str
) -> dict[str, Path]:
    """Locate every file of ``names`` in ``root`` or one of ``root/<subdir>``.

    A name is also matched with a ``.gz`` suffix. Returns name -> path. Raises
    :class:`~odenet.errors.DataFilesMissing` (a ``FileNotFoundError``) naming the files
    expected, the folders searched, and where the files come from (``source``), if any is
    missing.
    """
    root = Path(root).expanduser()
    folders = [root] + [root / s for s in subdirs]
    found: dict[str, Path] = {}
    for name in names:
        for folder in folders:
            for candidate in (folder / name, folder / f"{name}.gz"):
                if candidate.is_file():
                    found[name] = candidate
                    break
            if name in found:
                break
    missing = [n for n in names if n not in found]
    if missing:
        raise DataFilesMissing(
            f"{dataset}: data.root={str(root)!r} is missing {missing} (expected: {names}, "
            f"optionally .gz). odenet never downloads data: put the standard files from "
            f"{source} in one of {[str(f) for f in folders]}."
        )
    return found


def check_labels(labels: np.ndarray, num_classes: int, path: str | Path) -> None:
    """Class labels must lie in ``0 .. num_classes - 1``; else :class:`DataFileError`
    naming the file, the first bad label and its index."""
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise DataFileError(
            f"{path}: labels must lie in 0..{num_classes - 1}; got {int(labels[i])} at index "
            f"{i} ({bad.size} bad labels). The file is corrupted or not the standard one: "
            "replace it with the original"
        )
