"""``refine`` and ``coarsen``: change the number of blocks of every stage of a ResNet.

A stage of ``L`` blocks is read as the weight function ``theta(s)`` of depth (nodes
``k / L``, ``"linear"`` or ``"cubic"`` interpolation; ``odenet.convert.interpolation``) and
resampled at ``L'`` nodes ``j / L'``; each new block takes the step ``1/L'``, i.e. computes
``x + (L / L') r_{theta(j/L')}(x)``. For a ResNet with scale ``1/L`` and weights smooth in
depth, the refined network approaches the neural ODE as ``L'`` grows (Euler's first order;
Sander et al. 2022; Marion et al. 2024).

Resampling is not exact: a ResNet whose weights are not smooth in depth (or whose scale is
not ``1/L``) computes something else after it. So the result says how much it changed
(``model.resample_report``, a :class:`ResampleReport`: the relative change of every
stage's output on a probe input, and of the model's output on ``check_input``), and a
:class:`ResampleWarning` is issued when a change exceeds ``tolerance``. The size of the
result is bounded (``max_blocks``, ``max_bytes``): a huge factor is refused at once with
the memory it would need, instead of building blocks for minutes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from odenet.convert.block_check import probe_input
from odenet.convert.interpolation import check_interpolation
from odenet.convert.resnet_to_ode import ode_blocks, resnet_to_ode
from odenet.convert.unroll import ode_to_resnet
from odenet.nn.ode_block import ODEBlock

__all__ = ["MAX_BLOCKS", "ResampleReport", "ResampleWarning", "coarsen", "refine", "resample"]

MAX_BLOCKS = 4096
"""Default bound on the blocks of a resampled model (each takes milliseconds to build)."""

DEFAULT_TOLERANCE = 0.05
"""Relative output change above which ``refine``/``coarsen`` warn."""


class ResampleWarning(UserWarning):
    """``refine``/``coarsen`` changed the model's output by more than ``tolerance``."""


@dataclass
class ResampleReport:
    """How much ``refine``/``coarsen`` changed the model (``model.resample_report``).

    Attributes:
        depths: ``{stage: (L, L')}``, blocks before and after, per converted stage.
        stage_deviation: ``{stage: max |new - old| / max |old|}`` of the stage's output on a
            random probe input shaped from its first layer (batch 2, 8x8 for convolutions;
            ``None`` when no input shape can be read off the block).
        output_deviation: the same for the whole model on ``check_input`` (``None`` without).
        tolerance: the threshold of the warning.
        bytes: parameters and buffers of the resampled blocks, in bytes.
    """

    depths: dict[str, tuple[int, int]]
    stage_deviation: dict[str, float | None]
    output_deviation: float | None = None
    tolerance: float = DEFAULT_TOLERANCE
    bytes: int = 0

    @property
    def max_deviation(self) -> float | None:
        """The largest deviation measured (``None`` if none could be measured)."""
        values = [v for v in self.stage_deviation.values() if v is not None]
        if self.output_deviation is not None:
            values.append(self.output_deviation)
        return max(values) if values else None


def _check_factor(factor: object) -> int:
    if not isinstance(factor, int) or isinstance(factor, bool) or factor < 1:
        raise ValueError(f"factor must be a positive int; got {factor!r}. Pass e.g. factor=4.")
    return factor


def _block_bytes(block: ODEBlock) -> tuple[int, int]:
    """``(values, bytes)`` of the parameters and buffers of one block of the stage."""
    stack = block.field.stack
    tensors = [*stack.parameters(), *stack.buffers()]
    n = block.field.num_blocks
    return (
        sum(t.numel() for t in tensors) // n,
        sum(t.numel() * t.element_size() for t in tensors) // n,
    )


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"


def check_budget(
    ode: nn.Module, steps: dict[str, int], caller: str, max_blocks: int, max_bytes: int | None
) -> int:
    """Refuse a resampled model with more than ``max_blocks`` blocks or ``max_bytes`` bytes
    of parameters and buffers (default: half the physical memory); return its bytes."""
    total_blocks = sum(steps.values())
    parts, total_bytes = [], 0
    for name, block in ode_blocks(ode):
        values, size = _block_bytes(block)
        total_bytes += size * steps[name]
        parts.append(f"{name or 'model'}: {steps[name]} blocks x {values} values")
    if max_bytes is not None:
        limit: int | None = max_bytes
    else:
        physical = _physical_memory()
        limit = physical // 2 if physical else None
    too_many = total_blocks > max_blocks
    too_big = limit is not None and total_bytes > limit
    if not (too_many or too_big):
        return total_bytes
    why = (
        f"more than max_blocks={max_blocks} (each block takes milliseconds to build)"
        if too_many
        else f"more than max_bytes={limit} ({_gib(limit)})"  # type: ignore[arg-type]
    )
    raise ValueError(
        f"{caller} would build {total_blocks} blocks ({'; '.join(parts)}) holding "
        f"{total_bytes} bytes ({_gib(total_bytes)}) of parameters and buffers: {why}. Use a "
        f"smaller factor, or raise max_blocks/max_bytes if you have the time and memory. To "
        "evaluate at finer steps without building blocks, solve the ODE instead: "
        "ode = resnet_to_ode(model); block.step_size = 1 / (L * factor) for each "
        "ode_blocks(ode)."
    )


@torch.no_grad()
def _stage_deviation(block: ODEBlock, new_steps: int) -> float | None:
    """Relative change of the stage's output, Euler at L steps (the original blocks, up to
    rounding) against Euler at ``new_steps`` (the resampled blocks), on a probe input."""
    fld = block.field
    x = probe_input(fld.block_at(0.0))
    if x is None:
        return None
    saved = (block.method, block.step_size)
    try:
        block.method = "euler"
        block.step_size = 1.0 / fld.num_blocks
        old = block(x)
        block.step_size = 1.0 / new_steps
        new = block(x)
    except (RuntimeError, ValueError, TypeError):
        return None
    finally:
        block.method, block.step_size = saved
    return float((new - old).abs().max() / old.abs().max().clamp_min(1e-30))


@torch.no_grad()
def _output_deviation(original: nn.Module, new: nn.Module, x: torch.Tensor) -> float:
    want, got = original(x), new(x)
    return float((got - want).abs().max() / want.abs().max().clamp_min(1e-30))


def _worst_place(report: ResampleReport, worst: float) -> str:
    if report.output_deviation is not None and report.output_deviation >= worst:
        return "the model's output on check_input"
    measured = {k: v for k, v in report.stage_deviation.items() if v is not None}
    stage = max(measured, key=measured.__getitem__)
    return f"the output of stage {stage!r} on a random probe input"


def _warn(report: ResampleReport, caller: str) -> None:
    worst = report.max_deviation
    if worst is None or worst <= report.tolerance:
        return
    warnings.warn(
        f"{caller} changed {_worst_place(report, worst)} by {worst:.3g} (relative max, > "
        f"tolerance={report.tolerance}): these blocks do not discretise a smooth ODE "
        "closely, so the resampled model may be markedly less accurate. Check it on your "
        "data, try interpolation='cubic' or a smaller factor; model.resample_report has "
        "every stage.",
        ResampleWarning,
        stacklevel=4,  # _warn, resample, refine/coarsen, the caller
    )


def resample(
    model: nn.Module,
    new_depth: Callable[[int], int],
    interpolation: str,
    *,
    caller: str = "resample",
    check_input: torch.Tensor | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    max_blocks: int = MAX_BLOCKS,
    max_bytes: int | None = None,
) -> nn.Module:
    """Each stage of ``L`` blocks becomes ``new_depth(L)`` blocks (see module docstring);
    the result carries ``resample_report`` and a warning is issued above ``tolerance``."""
    check_interpolation(interpolation)
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0):
        raise ValueError(f"tolerance must be a number >= 0; got {tolerance!r}.")
    ode = resnet_to_ode(model, interpolation=interpolation)
    blocks = ode_blocks(ode)
    steps = {name: new_depth(block.field.num_blocks) for name, block in blocks}
    size = check_budget(ode, steps, caller, max_blocks, max_bytes)
    report = ResampleReport(
        depths={name: (b.field.num_blocks, steps[name]) for name, b in blocks},
        stage_deviation={name: _stage_deviation(b, steps[name]) for name, b in blocks},
        tolerance=float(tolerance),
        bytes=size,
    )
    new = ode_to_resnet(ode, steps, method="euler")
    if check_input is not None:
        report.output_deviation = _output_deviation(model, new, check_input)
    new.resample_report = report
    _warn(report, caller)
    return new


def refine(
    model: nn.Module,
    factor: int,
    *,
    interpolation: str = "linear",
    check_input: torch.Tensor | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    max_blocks: int = MAX_BLOCKS,
    max_bytes: int | None = None,
) -> nn.Module:
    """A copy of the ResNet ``model`` with ``factor`` times more blocks in every stage
    (e.g. 16 -> 64 with ``factor=4``), each with the step divided by ``factor``.

    Args:
        check_input: optional batch of real inputs: the relative change of the model's
            output on it is reported (``output_deviation``) and checked against
            ``tolerance``; without it only each stage's change on a random probe is.
        tolerance: relative change above which a ``ResampleWarning`` is issued.
        max_blocks, max_bytes: bounds on the result (default 4096 blocks, half the
            physical memory); beyond them ``ValueError`` names the memory it would need.

    Returns:
        The refined model; ``model.resample_report`` (a ``ResampleReport``) says how much
        each stage's output changed.
    """
    f = _check_factor(factor)
    return resample(
        model,
        lambda n: n * f,
        interpolation,
        caller=f"refine(factor={f})",
        check_input=check_input,
        tolerance=tolerance,
        max_blocks=max_blocks,
        max_bytes=max_bytes,
    )


def coarsen(
    model: nn.Module,
    factor: int,
    *,
    interpolation: str = "linear",
    check_input: torch.Tensor | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> nn.Module:
    """A copy of the ResNet ``model`` with ``factor`` times fewer blocks in every stage
    (e.g. 16 -> 4 with ``factor=4``), each with the step multiplied by ``factor``; every
    stage's depth must be divisible by ``factor`` (new block j is old block ``j * factor``
    with its step rescaled). Reports and warns like :func:`refine`."""
    f = _check_factor(factor)

    def new_depth(n: int) -> int:
        if n % f:
            raise ValueError(
                f"coarsen: a stage of {n} blocks is not divisible by factor={f}; choose a "
                f"factor dividing every stage's depth (e.g. one of "
                f"{[d for d in range(1, n + 1) if n % d == 0]})."
            )
        return n // f

    return resample(
        model,
        new_depth,
        interpolation,
        caller=f"coarsen(factor={f})",
        check_input=check_input,
        tolerance=tolerance,
    )
