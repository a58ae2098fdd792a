"""Solve a converted model with other schemes and measure loss, accuracy and evaluations.

The test of Sander, Ablin, Peyré, "Do residual neural networks discretize neural ordinary
differential equations?" (NeurIPS 2022): a ResNet that discretises an ODE keeps its
accuracy when the ODE is solved with another scheme (a higher-order method at fewer
evaluations, or Euler at more steps); one that does not, loses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from odenet.convert.resnet_to_ode import ode_blocks
from odenet.solvers import get_method

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Scheme:
    """A way to solve every converted stage.

    Attributes:
        label: shown in tables and plots (e.g. ``"rk4 L/4"``).
        method: solver name (``odenet.odeint``).
        steps_per_block: fixed-step methods take ``max(1, round(L * steps_per_block))``
            steps on a stage of L blocks; ``None`` for adaptive methods.
        rtol, atol: tolerances of adaptive methods.
    """

    label: str
    method: str
    steps_per_block: float | None = 1.0
    rtol: float = 1e-3
    atol: float = 1e-4

    def steps(self, num_blocks: int) -> int | None:
        """Steps on a stage of ``num_blocks`` blocks (``None`` for adaptive methods)."""
        if self.steps_per_block is None:
            return None
        return max(1, round(num_blocks * self.steps_per_block))


DEFAULT_SCHEMES: tuple[Scheme, ...] = (
    Scheme("euler L", "euler", 1.0),
    Scheme("euler 2L", "euler", 2.0),
    Scheme("heun L/2", "heun", 0.5),
    Scheme("rk4 L/4", "rk4", 0.25),
    Scheme("rk4 L/8", "rk4", 0.125),
    Scheme("dopri5", "dopri5", None, rtol=1e-3, atol=1e-4),
)


@dataclass
class SchemeResult:
    """Loss, accuracy (classification only) and field evaluations per forward pass
    (summed over stages, averaged over batches) of one scheme; ``steps``: the actual number
    of steps on each converted stage (``None`` for adaptive methods), since a label such
    as ``"rk4 L/8"`` is nominal (at least one step is taken)."""

    label: str
    method: str
    nfe: float
    loss: float
    accuracy: float | None
    steps: list[int] | None = None


def stage_steps(model: nn.Module, scheme: Scheme) -> list[int] | None:
    """Actual steps of ``scheme`` on each converted stage of ``model`` (stage order), or
    ``None`` for an adaptive method."""
    if get_method(scheme.method).adaptive:
        return None
    return [scheme.steps(block.field.num_blocks) for _, block in ode_blocks(model)]


DATA_FORM = (
    "data must be a pair (x, y) of tensors or an iterable of such pairs (a list of batches, "
    "a DataLoader)"
)


def check_data(data: object) -> None:
    """Refuse data ``report`` cannot iterate once per scheme: a lone tensor, a non-iterable,
    a one-shot iterator (e.g. a generator, which the second scheme would find empty)."""
    if isinstance(data, torch.Tensor):
        raise TypeError(
            f"{DATA_FORM}; got a single tensor of shape {tuple(data.shape)}. Pass (x, y), "
            "e.g. report(model, (x, y))."
        )
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        _check_pair(data, "data")
        return
    if not isinstance(data, Iterable):
        raise TypeError(f"{DATA_FORM}; got {type(data).__name__}.")
    if iter(data) is data:  # type: ignore[arg-type]
        raise TypeError(
            f"{DATA_FORM}; got a one-shot iterator ({type(data).__name__}), which report "
            "would exhaust on the first scheme. Pass list(data) or a DataLoader."
        )


def _check_pair(item: object, where: str) -> Batch:
    """``item`` as ``(x, y)``: two tensors with as many inputs as targets."""
    if not (isinstance(item, (tuple, list)) and len(item) == 2):
        kind = type(item).__name__
        got = f"a tensor of shape {tuple(item.shape)}" if isinstance(item, torch.Tensor) else kind
        raise TypeError(f"{DATA_FORM}; {where} is {got}, not a pair (x, y).")
    x, y = item
    for name, v in (("x", x), ("y", y)):
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"{DATA_FORM}; {name} of {where} is a {type(v).__name__}.")
    if x.dim() == 0 or y.dim() == 0 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{where}=(x, y) must have as many inputs as targets along dimension 0; got x of "
            f"shape {tuple(x.shape)} and y of shape {tuple(y.shape)}."
        )
    return x, y


def batches(data: Batch | Iterable[Batch], batch_size: int) -> Iterator[Batch]:
    """``(x, y)`` split into batches of ``batch_size``, or the batches of an iterable."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        x, y = _check_pair(data, "data")
        for i in range(0, x.shape[0], batch_size):
            yield x[i : i + batch_size], y[i : i + batch_size]
        return
    for i, item in enumerate(data):  # type: ignore[union-attr]
        yield _check_pair(item, f"batch {i}")


def _check_targets(out: torch.Tensor, y: torch.Tensor) -> None:
    """Integer ``y``: class indices ``(batch,)`` in ``[0, classes)`` for logits
    ``(batch, classes)``; float ``y``: exactly the output's shape (no broadcasting)."""
    if y.dtype.is_floating_point:
        if y.shape != out.shape:
            raise ValueError(
                f"float targets y must have the model's output shape {tuple(out.shape)} (MSE, "
                f"no broadcasting); got {tuple(y.shape)}. For classification pass integer "
                "class indices of shape (batch,)."
            )
        return
    if y.dtype == torch.bool or y.is_complex():
        raise TypeError(f"y must hold integer class indices or float targets; got {y.dtype}.")
    if out.dim() != 2 or y.shape != out.shape[:1]:
        raise ValueError(
            f"integer targets y must be class indices of shape (batch,) = {tuple(out.shape[:1])} "
            f"for logits of shape (batch, classes); got y of shape {tuple(y.shape)} and "
            f"output {tuple(out.shape)}. One-hot targets: pass y.argmax(1)."
        )
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= out.shape[1]:
        raise ValueError(
            f"class indices y must lie in [0, {out.shape[1]}) for a model with "
            f"{out.shape[1]} outputs; got values in [{lo}, {hi}]."
        )


def _batch_metrics(out: torch.Tensor, y: torch.Tensor) -> tuple[float, float | None]:
    """Summed loss and number correct: cross-entropy for integer targets, else MSE."""
    _check_targets(out, y)
    if not y.dtype.is_floating_point:
        loss = F.cross_entropy(out, y, reduction="sum")
        return float(loss), float((out.argmax(dim=1) == y).sum())
    loss = F.mse_loss(out, y.to(out.dtype), reduction="sum") / max(1, out[0].numel())
    return float(loss), None


@torch.no_grad()
def evaluate(
    model: nn.Module, data: Batch | Iterable[Batch], batch_size: int = 512
) -> tuple[float, float | None, float]:
    """Mean loss, accuracy (or ``None``) and field evaluations per batch of ``model``."""
    total_loss, correct, count, nfe, n_batches = 0.0, 0.0, 0, 0, 0
    classify = True
    for x, y in batches(data, batch_size):
        out = model(x)
        loss, right = _batch_metrics(out, y)
        total_loss += loss
        classify = classify and right is not None
        correct += right or 0.0
        count += x.shape[0]
        nfe += sum(block.nfe_forward for _, block in ode_blocks(model))
        n_batches += 1
    if count == 0:
        raise ValueError("data holds no samples; pass (x, y) tensors or a non-empty loader.")
    return total_loss / count, (correct / count if classify else None), nfe / n_batches


def set_scheme(model: nn.Module, scheme: Scheme) -> None:
    """Set every converted ODE block of ``model`` to solve with ``scheme``."""
    adaptive = get_method(scheme.method).adaptive
    for _, block in ode_blocks(model):
        steps = scheme.steps(block.field.num_blocks)
        block.method = scheme.method
        block.rtol, block.atol = scheme.rtol, scheme.atol
        if adaptive:
            block.step_size = None
        else:
            if steps is None:
                raise ValueError(
                    f"scheme {scheme.label!r}: method={scheme.method!r} is fixed-step and "
                    "needs steps_per_block (e.g. 0.25); got None."
                )
            t0, t1 = block.t_span
            block.step_size = abs(t1 - t0) / steps


def run_scheme(
    model: nn.Module, scheme: Scheme, data: Batch | Iterable[Batch], batch_size: int = 512
) -> SchemeResult:
    """Evaluate the converted ``model`` solved with ``scheme`` (changes its solver settings)."""
    set_scheme(model, scheme)
    loss, acc, nfe = evaluate(model, data, batch_size)
    return SchemeResult(scheme.label, scheme.method, nfe, loss, acc, stage_steps(model, scheme))
