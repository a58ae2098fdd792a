"""The container every data loader returns: train and test sets plus what a model needs."""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import Dataset

TASKS = ("classification", "density", "time_series")


@dataclass(frozen=True)
class DataSplits:
    """Train/test datasets and their metadata.

    Attributes:
        train: training set; items are tuples of tensors (see ``task``).
        test: held-out set with the same item layout.
        input_shape: shape of one input sample, e.g. ``(1, 8, 8)`` for digits or ``(2,)``.
        num_classes: number of labels for classification, ``None`` otherwise.
        task: ``"classification"`` (items ``(x, y)``), ``"density"`` (items ``(x,)``) or
            ``"time_series"`` (items ``(times, values, mask)``, shapes ``(T,)``, ``(T, d)``,
            ``(T,)``).
    """

    train: Dataset
    test: Dataset
    input_shape: tuple[int, ...]
    num_classes: int | None
    task: str

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}; got task={self.task!r}")
        if self.task == "classification" and (self.num_classes is None or self.num_classes < 2):
            raise ValueError(
                "num_classes must be an int >= 2 for a classification task; "
                f"got num_classes={self.num_classes!r}"
            )
