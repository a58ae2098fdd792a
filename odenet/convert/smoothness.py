"""Smoothness of a stage's parameters along depth.

For a stage of ``L`` blocks with flattened parameters ``theta_k`` (all trainable tensors
of block k concatenated), the relative increments are

    delta_k = ||theta_{k+1} - theta_k|| / ||theta_k||,   k = 0..L-2.

For weights that are samples of a smooth function of depth ``t = k / L`` (smooth
initialisation, and after training from it) ``delta_k = O(1/L)``; for iid weights it stays
``O(1)`` whatever ``L`` (Marion, Wu, Sander, Biau, "Implicit regularization of deep
residual networks towards neural ODEs", ICLR 2024; Sander et al. 2022).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from odenet.convert.field import InterpolatedResidualField


@dataclass
class StageSmoothness:
    """Smoothness of one converted stage.

    Attributes:
        name: the stage's name in the converted model.
        rule: the block kind.
        num_blocks: L.
        max_relative_change, mean_relative_change: max and mean of ``delta_k`` (``None``
            for a single block).
        relative_changes: ``delta_k``, length ``L - 1``.
        parameter_norms: ``||theta_k||``, length ``L``.
    """

    name: str
    rule: str
    num_blocks: int
    max_relative_change: float | None
    mean_relative_change: float | None
    relative_changes: list[float]
    parameter_norms: list[float]


def relative_changes(rows: torch.Tensor) -> torch.Tensor:
    """``delta_k`` of ``rows: (L, P)`` as a float64 tensor ``(L - 1,)``."""
    rows = rows.detach().to(torch.float64)
    diffs = (rows[1:] - rows[:-1]).norm(dim=1)
    return diffs / rows[:-1].norm(dim=1).clamp_min(torch.finfo(torch.float64).tiny)


def stage_smoothness(name: str, field: InterpolatedResidualField) -> StageSmoothness:
    """``StageSmoothness`` of the parameters stacked in ``field``."""
    rows = field.stack.parameter_rows()
    deltas = relative_changes(rows)
    has = deltas.numel() > 0
    return StageSmoothness(
        name=name,
        rule=field.rule.name,
        num_blocks=field.num_blocks,
        max_relative_change=float(deltas.max()) if has else None,
        mean_relative_change=float(deltas.mean()) if has else None,
        relative_changes=[float(d) for d in deltas],
        parameter_norms=[float(n) for n in rows.to(torch.float64).norm(dim=1)],
    )
