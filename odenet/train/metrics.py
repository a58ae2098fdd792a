"""Per-epoch metrics: one JSON object per line in ``metrics.jsonl``, and TensorBoard with
``trainer.tensorboard=true`` (off by default; needs the ``tensorboard`` extra)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

METRICS_NAME = "metrics.jsonl"


def _tensorboard_writer(folder: Path) -> Any | None:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        log.warning(
            "trainer.tensorboard=true but tensorboard is not installed (pip install "
            "'odenet[tensorboard]'); metrics go to %s only",
            METRICS_NAME,
        )
        return None
    return SummaryWriter(log_dir=str(folder / "tensorboard"))


class MetricsLogger:
    """Appends epoch records to ``<run_dir>/metrics.jsonl`` (and TensorBoard scalars).

    ``history`` holds every record of the run so far; on resume, pass the history stored
    in the checkpoint and the file is rewritten from it, so records of an epoch that was
    interrupted before its checkpoint do not appear twice.
    """

    def __init__(
        self,
        run_dir: str | Path,
        history: list[dict[str, Any]] | None = None,
        tensorboard: bool = True,
    ) -> None:
        self.path = Path(run_dir) / METRICS_NAME
        self.history: list[dict[str, Any]] = list(history or [])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w") as f:
            for record in self.history:
                f.write(json.dumps(record) + "\n")
        self.writer = _tensorboard_writer(self.path.parent) if tensorboard else None

    def log(self, record: dict[str, Any]) -> None:
        """Append one record (a flat dict with an ``"epoch"`` key)."""
        self.history.append(record)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["epoch"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


BEST_METRICS = (("test_accuracy", max), ("test_loss", min))


def is_best(history: list[dict[str, Any]]) -> bool:
    """Whether the last record of ``history`` has the best test metric so far: the highest
    ``test_accuracy`` or, for tasks without accuracy, the lowest ``test_loss`` (ties keep the
    earlier epoch; records without a finite value never count)."""
    if not history:
        return False
    for key, better in BEST_METRICS:
        value = history[-1].get(key)
        if value is None:
            continue
        if not math.isfinite(value):
            return False
        earlier = [r[key] for r in history[:-1] if math.isfinite(r.get(key, math.nan))]
        return not earlier or (better(value, *earlier) == value and value not in earlier)
    return False


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file (or of ``<run_dir>/metrics.jsonl``)."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_NAME
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
